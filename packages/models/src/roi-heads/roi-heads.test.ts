/**
 * The box heads and StandardRoIHead: Shared2FCBBoxHead against a plain-JS PyTorch reference
 * (state dict in PyTorch layout, RoI features flattened in C, H, W order), mmdet's state-dict
 * keys, order and init, the ConvFCBBoxHead branch rules, and post-processing on hand-made
 * inputs (class-specific decode, clipping, rescale, class-agnostic boxes, score_thr,
 * max_per_img); the RoI head's per-image split, empty proposals and config errors.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigValidationError, initBackend, loadStateDict, MODELS, stateDictOf, withoutLeaks, type RawTensor } from '@tsdet/core';
import { registerModels } from '../register.js';
import type { RcnnTestConfig } from '../detectors/train-test-cfg.schema.js';
import { flattenRoiFeatures, type ConvFCBBoxHead } from './bbox-heads/convfc-bbox-head.js';
import type { StandardRoIHead } from './standard-roi-head/standard-roi-head.js';

const RCNN_TEST: RcnnTestConfig = { score_thr: 0.05, nms: { type: 'nms', iou_threshold: 0.5 }, max_per_img: 100 };

function buildHead(cfg: Record<string, unknown> = {}): ConvFCBBoxHead {
  return MODELS.build<ConvFCBBoxHead>({ type: 'Shared2FCBBoxHead', in_channels: 3, fc_out_channels: 5, roi_feat_size: 2, num_classes: 2, ...cfg }, { path: 'model.roi_head.bbox_head' });
}

/** A seeded pseudo-random float32 array in [-1, 1). */
function seeded(length: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

function raw(shape: number[], seed: number): RawTensor {
  return { shape, data: seeded(shape.reduce((a, b) => a * b, 1), seed), dtype: 'float32' };
}

/** PyTorch's nn.Linear on one vector: y = W x + b with W [out, in] row-major. */
function torchLinear(w: RawTensor, b: RawTensor, x: Float32Array): Float32Array {
  const [out, inF] = w.shape as [number, number];
  const wData = w.data as Float32Array;
  return Float32Array.from({ length: out }, (_, o) => {
    let sum = (b.data as Float32Array)[o]!;
    for (let i = 0; i < inF; i++) sum += wData[o * inF + i]! * x[i]!;
    return sum;
  });
}

const relu = (v: Float32Array) => v.map((x) => Math.max(x, 0));

function toRows(flat: Float32Array, width = 4): number[][] {
  return Array.from({ length: flat.length / width }, (_, k) => Array.from(flat.subarray(k * width, k * width + width)));
}

describe('RoI heads', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', threads: 1, verbose: false });
    registerModels();
  });

  describe('Shared2FCBBoxHead', () => {
    it('flattens NHWC RoI features in PyTorch\'s C, H, W order', () => {
      // x[r, h, w, c] = 100 c + 10 h + w: flattened, index c * 4 + h * 2 + w holds that value.
      const values = tf.tidy(() => {
        const x = tf.tensor4d(Array.from({ length: 2 * 2 * 3 }, (_, i) => 100 * (i % 3) + 10 * Math.floor(i / 6) + (Math.floor(i / 3) % 2)), [1, 2, 2, 3]);
        return Array.from(flattenRoiFeatures(x, false).dataSync());
      });
      expect(values).to.deep.equal([0, 1, 10, 11, 100, 101, 110, 111, 200, 201, 210, 211]);
    });

    it('has mmdet\'s state-dict keys in mmdet\'s order (fc_cls and fc_reg first)', () => {
      const head = buildHead();
      expect([...stateDictOf(head)].map(([k, v]) => `${k} [${v.shape.join(',')}]`)).to.deep.equal([
        'fc_cls.weight [3,5]',
        'fc_cls.bias [3]',
        'fc_reg.weight [8,5]',
        'fc_reg.bias [8]',
        'shared_fcs.0.weight [5,12]',
        'shared_fcs.0.bias [5]',
        'shared_fcs.1.weight [5,5]',
        'shared_fcs.1.bias [5]',
      ]);
      head.dispose();
    });

    it('computes what PyTorch computes from the same state dict', async () => {
      const head = buildHead();
      const state: Record<string, RawTensor> = {};
      [...stateDictOf(head)].forEach(([key, t], i) => (state[key] = raw([...t.shape], 11 + i)));
      loadStateDict(head, state);
      // Two RoIs of NHWC features [2, 2, 2, 3]; the reference reads them as NCHW.
      const input = seeded(2 * 2 * 2 * 3, 5);
      const x = tf.tensor4d(input, [2, 2, 2, 3]);
      const { cls, reg } = await withoutLeaks(() => {
        const out = head.forward(x);
        const result = { cls: out.clsScore!.dataSync() as Float32Array, reg: out.bboxPred!.dataSync() as Float32Array };
        tf.dispose([out.clsScore!, out.bboxPred!]);
        return result;
      }, 'Shared2FCBBoxHead.forward');
      for (let r = 0; r < 2; r++) {
        const flat = Float32Array.from({ length: 12 }, (_, i) => {
          const [c, h, w] = [Math.floor(i / 4), Math.floor(i / 2) % 2, i % 2];
          return input[((r * 2 + h) * 2 + w) * 3 + c]!;
        });
        const hidden = relu(torchLinear(state['shared_fcs.1.weight']!, state['shared_fcs.1.bias']!, relu(torchLinear(state['shared_fcs.0.weight']!, state['shared_fcs.0.bias']!, flat))));
        const expectedCls = torchLinear(state['fc_cls.weight']!, state['fc_cls.bias']!, hidden);
        const expectedReg = torchLinear(state['fc_reg.weight']!, state['fc_reg.bias']!, hidden);
        Array.from(expectedCls).forEach((v, i) => expect(cls[r * 3 + i], `cls ${r},${i}`).to.be.closeTo(v, 1e-5));
        Array.from(expectedReg).forEach((v, i) => expect(reg[r * 8 + i], `reg ${r},${i}`).to.be.closeTo(v, 1e-5));
      }
      x.dispose();
      head.dispose();
    });

    it('initialises as mmdet: fc_cls N(0, 0.01), fc_reg N(0, 0.001), shared fcs Xavier uniform, biases 0', () => {
      const head = buildHead({ in_channels: 16, roi_feat_size: 7, fc_out_channels: 256, num_classes: 80 });
      const std = (v: tf.Variable) => tf.tidy(() => Math.sqrt(tf.moments(v).variance.dataSync()[0]!));
      expect(std(head.fcCls!.weight)).to.be.closeTo(0.01, 0.001);
      expect(std(head.fcReg!.weight)).to.be.closeTo(0.001, 0.0001);
      const bound = Math.sqrt(6 / (16 * 49 + 256));
      const fc0 = head.sharedFcs[0]!.weight.dataSync() as Float32Array;
      expect(fc0.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).to.be.within(0.95 * bound, bound);
      for (const fc of [head.fcCls!, head.fcReg!, ...head.sharedFcs]) expect(Array.from(fc.bias!.dataSync()).every((b) => b === 0)).to.equal(true);
      head.dispose();
    });

    it('fixes its branch counts: setting one is an unknown key', () => {
      expect(() => buildHead({ num_shared_fcs: 1 })).to.throw(ConfigValidationError, /model\.roi_head\.bbox_head\.num_shared_fcs: unknown key for Shared2FCBBoxHead/);
    });
  });

  describe('ConvFCBBoxHead branches', () => {
    const convfc = (cfg: Record<string, unknown>) => MODELS.build<ConvFCBBoxHead>({ type: 'ConvFCBBoxHead', in_channels: 4, roi_feat_size: 3, num_classes: 2, conv_out_channels: 6, fc_out_channels: 5, ...cfg }, { path: 'bbox_head' });

    it('Shared4Conv1FCBBoxHead: four 3x3 ConvModules (with norm), then one fc over conv_out * area', () => {
      const head = MODELS.build<ConvFCBBoxHead>({ type: 'Shared4Conv1FCBBoxHead', in_channels: 4, roi_feat_size: 3, num_classes: 2, conv_out_channels: 6, fc_out_channels: 5, norm_cfg: { type: 'GN', num_groups: 2 } }, { path: 'bbox_head' });
      const keys = [...stateDictOf(head).keys()];
      expect(keys.filter((k) => k.startsWith('shared_convs.3'))).to.deep.equal(['shared_convs.3.conv.weight', 'shared_convs.3.gn.weight', 'shared_convs.3.gn.bias']);
      expect(head.sharedFcs[0]!.inFeatures).to.equal(6 * 9);
      const x = tf.randomNormal([2, 3, 3, 4]) as tf.Tensor4D;
      const out = head.forward(x);
      expect([out.clsScore!.shape, out.bboxPred!.shape]).to.deep.equal([[2, 3], [2, 8]]);
      tf.dispose([x, out.clsScore!, out.bboxPred!]);
      head.dispose();
    });

    it('separate branches without shared fcs flatten themselves; agnostic regression has 4 outputs', () => {
      const head = convfc({ num_cls_convs: 1, num_reg_fcs: 2, reg_class_agnostic: true, with_avg_pool: false });
      expect(head.fcCls!.inFeatures).to.equal(6 * 9);
      expect(head.regFcs[0]!.inFeatures).to.equal(4 * 9);
      expect(head.fcReg!.outFeatures).to.equal(4);
      head.dispose();
      const pooled = convfc({ num_shared_fcs: 1, with_avg_pool: true });
      expect(pooled.sharedFcs[0]!.inFeatures).to.equal(4);
      pooled.dispose();
    });

    it('rejects layouts mmdet asserts against, naming the keys', () => {
      expect(() => convfc({})).to.throw(/bbox_head \(ConvFCBBoxHead\): bbox_head: a ConvFCBBoxHead needs at least one conv or fc/);
      expect(() => convfc({ num_shared_fcs: 1, num_cls_convs: 1 })).to.throw(/bbox_head\.num_shared_fcs: cls\/reg convs .* need num_shared_fcs 0/);
      expect(() => convfc({ num_shared_fcs: 1, with_cls: false, num_cls_fcs: 1 })).to.throw(/bbox_head\.with_cls: false, but num_cls_convs \/ num_cls_fcs add a cls branch/);
    });
  });

  describe('post-processing (hand-made inputs)', () => {
    // One roi [0, 0, 10, 10]; logits [2, 1, 0] -> softmax [0.665, 0.245, 0.090] over (class 0, class 1, background).
    // Deltas with stds [0.1, 0.1, 0.2, 0.2]: class 0 none, class 1 dx = 1 -> x shifted by 0.1 * 10 = 1 px.
    const rois = Float32Array.from([0, 0, 0, 10, 10]);
    const logits = Float32Array.from([2, 1, 0]);
    const deltas = Float32Array.from([0, 0, 0, 0, 1, 0, 0, 0]);
    const softmax = [Math.exp(2), Math.exp(1), 1].map((e, _, all) => e / all.reduce((a, b) => a + b, 0));

    it('decodes each class\'s own deltas, clips to img_shape and keeps both classes (per-class NMS)', () => {
      const head = buildHead();
      const result = head.predictSingle(rois, logits, deltas, { img_shape: [20, 10.5] }, 0, RCNN_TEST, false);
      expect(toRows(result.bboxes)).to.deep.equal([[0, 0, 10, 10], [1, 0, 10.5, 10]]);
      expect(Array.from(result.labels)).to.deep.equal([0, 1]);
      Array.from(result.scores).forEach((s, i) => expect(s).to.be.closeTo(softmax[i]!, 1e-6));
      head.dispose();
    });

    it('rescales by 1 / scale_factor (w, h), drops scores not above score_thr, cuts at max_per_img', () => {
      const head = buildHead();
      const rescaled = head.predictSingle(rois, logits, deltas, { img_shape: [20, 20], scale_factor: [2, 0.5] }, 0, RCNN_TEST, true);
      expect(toRows(rescaled.bboxes)).to.deep.equal([[0, 0, 5, 20], [0.5, 0, 5.5, 20]]);
      expect(head.predictSingle(rois, logits, deltas, { img_shape: [20, 20] }, 0, { ...RCNN_TEST, score_thr: 0.3 }, false).labels).to.deep.equal(Int32Array.from([0]));
      expect(head.predictSingle(rois, logits, deltas, { img_shape: [20, 20] }, 0, { ...RCNN_TEST, max_per_img: 1 }, false).scores.length).to.equal(1);
      head.dispose();
    });

    it('uses one box for every class with reg_class_agnostic', () => {
      const head = buildHead({ reg_class_agnostic: true });
      const result = head.predictSingle(rois, logits, Float32Array.from([1, 0, 0, 0]), { img_shape: [20, 20] }, 0, RCNN_TEST, false);
      expect(toRows(result.bboxes)).to.deep.equal([[1, 0, 11, 10], [1, 0, 11, 10]]);
      head.dispose();
    });

    it('returns an empty result for no rois', () => {
      const head = buildHead();
      const result = head.predictSingle(new Float32Array(0), new Float32Array(0), new Float32Array(0), { img_shape: [20, 20] }, 0, RCNN_TEST, true);
      expect([result.bboxes.length, result.scores.length, result.labels.length]).to.deep.equal([0, 0, 0]);
      head.dispose();
    });
  });

  describe('StandardRoIHead', () => {
    const roiHeadConfig = (bboxHead: Record<string, unknown> = {}, extractor: Record<string, unknown> = {}) => ({
      type: 'StandardRoIHead',
      bbox_roi_extractor: { type: 'SingleRoIExtractor', roi_layer: { type: 'RoIAlign', output_size: 2, sampling_ratio: 0 }, out_channels: 3, featmap_strides: [4, 8], ...extractor },
      bbox_head: { type: 'Shared2FCBBoxHead', in_channels: 3, fc_out_channels: 5, roi_feat_size: 2, num_classes: 2, ...bboxHead },
      test_cfg: { ...RCNN_TEST, score_thr: 0 },
    });
    const build = (cfg = roiHeadConfig()) => MODELS.build<StandardRoIHead>(cfg, { path: 'model.roi_head' });

    it('predicts each image from its own proposals, in the input frame or rescaled', async () => {
      const head = build();
      const feats = [tf.randomNormal([2, 16, 16, 3]) as tf.Tensor4D, tf.randomNormal([2, 8, 8, 3]) as tf.Tensor4D];
      const proposals = [
        { bboxes: Float32Array.from([4, 4, 30, 30, 10, 2, 20, 40]), scores: Float32Array.from([0.9, 0.8]), labels: new Int32Array(2) },
        { bboxes: Float32Array.from([0, 0, 12, 12]), scores: Float32Array.from([0.7]), labels: new Int32Array(1) },
      ];
      const metas = [{ img_shape: [64, 64] as const, scale_factor: [1, 1] as const }, { img_shape: [50, 60] as const, scale_factor: [2, 2] as const }];
      const both = await withoutLeaks(() => head.predict(feats, proposals, metas, { rescale: true }), 'StandardRoIHead.predict');
      // Without image 0's proposals, image 1's detections are the same: the rows were split per image.
      const alone = head.predict(feats, [{ ...proposals[0]!, bboxes: new Float32Array(0), scores: new Float32Array(0), labels: new Int32Array(0) }, proposals[1]!], metas, { rescale: true });
      expect(both[1]!.labels).to.deep.equal(alone[1]!.labels);
      Array.from(both[1]!.bboxes).forEach((v, i) => expect(v).to.be.closeTo(alone[1]!.bboxes[i]!, 1e-5));
      expect(alone[0]!.scores.length).to.equal(0);
      // Every class of every roi survives score_thr 0: 2 rois x 2 classes for image 0 (NMS aside, at most 4).
      expect(both[0]!.labels.length).to.be.within(2, 4);
      // Image 1 is rescaled by 1/2: its boxes lie within the original 25 x 30 frame.
      Array.from(both[1]!.bboxes).forEach((v, i) => expect(v).to.be.at.most(i % 2 === 0 ? 30 : 25));
      const none = head.predict(feats, [proposals[1]!, proposals[1]!].map((p) => ({ ...p, bboxes: new Float32Array(0), scores: new Float32Array(0), labels: new Int32Array(0) })), metas);
      expect(none.map((r) => r.scores.length)).to.deep.equal([0, 0]);
      tf.dispose(feats);
      head.dispose();
    });

    it('has only bbox_head keys under roi_head (the extractor has no parameters)', () => {
      const head = build();
      expect([...stateDictOf(head).keys()].every((k) => k.startsWith('bbox_head.'))).to.equal(true);
      head.dispose();
    });

    it('checks that the extractor feeds the box head, naming both paths', () => {
      expect(() => build(roiHeadConfig({ in_channels: 4 }))).to.throw(/model\.roi_head\.bbox_head\.in_channels is 4, but model\.roi_head\.bbox_roi_extractor\.out_channels is 3/);
      expect(() => build(roiHeadConfig({ roi_feat_size: 7 }))).to.throw(/model\.roi_head\.bbox_head\.roi_feat_size is 7x7, but model\.roi_head\.bbox_roi_extractor\.roi_layer\.output_size gives 2x2/);
    });

    it('rejects mask heads (not ported) and unknown test_cfg keys', () => {
      expect(() => build({ ...roiHeadConfig(), mask_head: { type: 'FCNMaskHead' } } as ReturnType<typeof roiHeadConfig>)).to.throw(ConfigValidationError, /model\.roi_head\.mask_head/);
      expect(() => build({ ...roiHeadConfig(), test_cfg: { ...RCNN_TEST, mask_thr_binary: 0.5 } as RcnnTestConfig })).to.throw(ConfigValidationError, /model\.roi_head\.test_cfg\.mask_thr_binary: unknown key/);
    });
  });
});
