/**
 * RPNHead: the proposal steps on hand-made inputs (per-level top nms_pre with level ids, the
 * strict min_bbox_size filter, NMS within a level only, max_per_img), the module (mmdet's
 * layers and state-dict keys, NHWC channel layout = mmdet's (y, x, a) rows), predict on
 * hand-made maps (decode clipped to img_shape, rescale), init, config errors and leaks.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigValidationError, initBackend, MODELS, stateDictOf, withoutLeaks } from '@tsdet/core';
import { registerModels } from '../../register.js';
import { SmoothL1Loss } from '../../losses/l1-loss.js';
import type { ProposalConfig } from '../../detectors/train-test-cfg.schema.js';
import { boxesLargerThan, filterAndSuppress, selectTopPerLevel } from './proposals.js';
import type { RPNHead } from './rpn-head.js';

const NMS_07: ProposalConfig = { nms_pre: 1000, max_per_img: 1000, nms: { type: 'nms', iou_threshold: 0.7 }, min_bbox_size: 0 };

function rows(values: number[][]): Float32Array {
  return Float32Array.from(values.flat());
}

function toRows(flat: Float32Array, width = 4): number[][] {
  return Array.from({ length: flat.length / width }, (_, k) => Array.from(flat.subarray(k * width, k * width + width)));
}

function buildHead(cfg: Record<string, unknown> = {}): RPNHead {
  return MODELS.build<RPNHead>(
    {
      type: 'RPNHead',
      in_channels: 4,
      feat_channels: 4,
      anchor_generator: { type: 'AnchorGenerator', scales: [8], ratios: [0.5, 1.0, 2.0], strides: [4, 8] },
      test_cfg: NMS_07,
      ...cfg,
    },
    { path: 'model.rpn_head' },
  );
}

/** A one-anchor-per-location head at stride 16 (base anchor [-8, -8, 8, 8]) with zero deltas. */
function oneAnchorHead(testCfg: ProposalConfig): RPNHead {
  return buildHead({ anchor_generator: { type: 'AnchorGenerator', scales: [1], ratios: [1], strides: [16], base_sizes: [16] }, test_cfg: testCfg });
}

describe('RPNHead', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', threads: 1, verbose: false });
    registerModels();
  });

  describe('proposal steps (hand-made inputs)', () => {
    // Level 0: 4 candidates, anchors [i, i, i + 1, i + 1] and deltas [i, 0, 0, 0] to follow the rows;
    // level 1: 2 candidates.
    const level = (scores: number[], offset: number) => ({
      scores: Float32Array.from(scores),
      deltas: rows(scores.map((_, i) => [offset + i, 0, 0, 0])),
      anchors: rows(scores.map((_, i) => [offset + i, offset + i, offset + i + 1, offset + i + 1])),
    });

    it('keeps each level\'s top nms_pre in descending order, and all of a level that has at most nms_pre', () => {
      const selected = selectTopPerLevel([level([0.1, 0.9, 0.5, 0.7], 0), level([0.3, 0.2], 10)], 2);
      expect(Array.from(selected.scores)).to.deep.equal(Array.from(Float32Array.from([0.9, 0.7, 0.3, 0.2])));
      expect(Array.from(selected.levelIds)).to.deep.equal([0, 0, 1, 1]);
      expect(toRows(selected.anchors).map((r) => r[0])).to.deep.equal([1, 3, 10, 11]);
      expect(toRows(selected.deltas).map((r) => r[0])).to.deep.equal([1, 3, 10, 11]);
    });

    it('keeps everything in the original order when nms_pre <= 0', () => {
      const selected = selectTopPerLevel([level([0.1, 0.9, 0.5], 0)], -1);
      expect(Array.from(selected.scores)).to.deep.equal(Array.from(Float32Array.from([0.1, 0.9, 0.5])));
    });

    it('filters boxes by width and height strictly greater than min_bbox_size', () => {
      const boxes = rows([[0, 0, 1, 1], [0, 0, 0, 5], [0, 0, 2, 0.5]]);
      expect(Array.from(boxesLargerThan(boxes, 0))).to.deep.equal([0, 2]);
      expect(Array.from(boxesLargerThan(boxes, 0.5))).to.deep.equal([0]);
      expect(Array.from(boxesLargerThan(boxes, 1))).to.deep.equal([]);
    });

    // A and B overlap with IoU 0.81 on level 0; C equals A but on level 1; D has zero width.
    const A = [0, 0, 10, 10];
    const B = [1, 1, 10, 10];
    const C = [0, 0, 10, 10];
    const D = [0, 0, 0, 10];
    const boxes = rows([A, B, C, D]);
    const scores = Float32Array.from([0.9, 0.8, 0.7, 0.95]);
    const levels = Int32Array.from([0, 0, 1, 0]);

    it('runs NMS within each level only, after the size filter; labels are 0', () => {
      const result = filterAndSuppress(boxes, scores, levels, NMS_07);
      expect(toRows(result.bboxes)).to.deep.equal([A, C]);
      expect(Array.from(result.scores)).to.deep.equal([Math.fround(0.9), Math.fround(0.7)]);
      expect(Array.from(result.labels)).to.deep.equal([0, 0]);
    });

    it('keeps degenerate boxes when min_bbox_size is -1, and cuts at max_per_img', () => {
      expect(toRows(filterAndSuppress(boxes, scores, levels, { ...NMS_07, min_bbox_size: -1 }).bboxes)).to.deep.equal([D, A, C]);
      expect(toRows(filterAndSuppress(boxes, scores, levels, { ...NMS_07, max_per_img: 1 }).bboxes)).to.deep.equal([A]);
    });

    it('returns an empty result when nothing survives the filter', () => {
      const result = filterAndSuppress(rows([D]), Float32Array.from([0.5]), Int32Array.from([0]), NMS_07);
      expect([result.bboxes.length, result.scores.length, result.labels.length]).to.deep.equal([0, 0, 0]);
    });
  });

  describe('module', () => {
    it('has mmdet\'s layers and state-dict keys (num_convs 1 and 2)', () => {
      const shapes = (head: RPNHead) => Object.fromEntries([...stateDictOf(head)].map(([k, v]) => [k, v.shape]));
      const single = buildHead();
      expect(shapes(single)).to.deep.equal({
        'rpn_conv.weight': [4, 4, 3, 3],
        'rpn_conv.bias': [4],
        'rpn_cls.weight': [3, 4, 1, 1],
        'rpn_cls.bias': [3],
        'rpn_reg.weight': [12, 4, 1, 1],
        'rpn_reg.bias': [12],
      });
      const stacked = buildHead({ num_convs: 2, feat_channels: 6 });
      expect(Object.keys(shapes(stacked))).to.deep.equal(['rpn_conv.0.conv.weight', 'rpn_conv.0.conv.bias', 'rpn_conv.1.conv.weight', 'rpn_conv.1.conv.bias', 'rpn_cls.weight', 'rpn_cls.bias', 'rpn_reg.weight', 'rpn_reg.bias']);
      expect(shapes(stacked)['rpn_conv.1.conv.weight']).to.deep.equal([6, 6, 3, 3]);
      const softmax = buildHead({ loss_cls: { type: 'CrossEntropyLoss', use_sigmoid: false } });
      expect(shapes(softmax)['rpn_cls.weight']).to.deep.equal([6, 4, 1, 1]);
      [single, stacked, softmax].forEach((h) => h.dispose());
    });

    it('initialises every conv N(0, 0.01) with zero biases (mmdet\'s init_cfg)', () => {
      const head = buildHead({ in_channels: 32, feat_channels: 64 });
      const weights = head.rpnConv.namedParameters().find(([k]) => k === 'weight')![1].variable;
      const std = tf.tidy(() => Math.sqrt(tf.moments(weights).variance.dataSync()[0]!));
      expect(std).to.be.closeTo(0.01, 0.001);
      expect(Array.from(head.rpnReg.bias!.dataSync()).every((b) => b === 0)).to.equal(true);
      head.dispose();
    });

    it('outputs NHWC maps whose [-1, 1] / [-1, 4] rows are mmdet\'s (y, x, a) rows (channel a, a * 4 + k)', async () => {
      const head = buildHead();
      // Zero weights: every output is its bias, so each row shows which channel it came from.
      tf.tidy(() => {
        for (const conv of [head.rpnCls, head.rpnReg]) {
          conv.weight.assign(tf.zerosLike(conv.weight));
          conv.bias!.assign(tf.range(0, conv.outChannels, 1, 'float32'));
        }
      });
      const feats = [tf.randomNormal([2, 3, 5, 4]) as tf.Tensor4D, tf.randomNormal([2, 2, 3, 4]) as tf.Tensor4D];
      await withoutLeaks(() => {
        const { clsScores, bboxPreds } = head.forward(feats);
        expect(clsScores.map((c) => c.shape)).to.deep.equal([[2, 3, 5, 3], [2, 2, 3, 3]]);
        const clsRows = tf.tidy(() => tf.reshape(clsScores[0]!, [-1, 1]).dataSync());
        const regRows = toRows(tf.tidy(() => tf.reshape(bboxPreds[0]!, [-1, 4]).dataSync()) as Float32Array);
        expect(Array.from(clsRows.slice(0, 6))).to.deep.equal([0, 1, 2, 0, 1, 2]);
        expect(regRows.slice(0, 4)).to.deep.equal([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [0, 1, 2, 3]]);
        tf.dispose([...clsScores, ...bboxPreds]);
      }, 'RPNHead.forward');
      tf.dispose(feats);
      head.dispose();
    });

    it('predicts proposals: sigmoid scores, top nms_pre, zero deltas decode to the anchors clipped to img_shape', async () => {
      const head = oneAnchorHead({ ...NMS_07, nms_pre: 3 });
      // 2 x 2 map at stride 16: anchors [-8,-8,8,8], [8,-8,24,8], [-8,8,8,24], [8,8,24,24].
      const cls = tf.tensor4d([2, 1, 0, -1], [1, 2, 2, 1]);
      const reg = tf.zeros([1, 2, 2, 4]) as tf.Tensor4D;
      const sigmoid = (x: number) => Math.fround(1 / (1 + Math.exp(-x)));
      const [proposals] = await withoutLeaks(() => head.predictByFeat([cls], [reg], [{ img_shape: [32, 20] }]), 'predictByFeat');
      expect(toRows(proposals!.bboxes)).to.deep.equal([[0, 0, 8, 8], [8, 0, 20, 8], [0, 8, 8, 24]]);
      Array.from(proposals!.scores).forEach((s, i) => expect(s).to.be.closeTo(sigmoid([2, 1, 0][i]!), 1e-6));
      const [rescaled] = head.predictByFeat([cls], [reg], [{ img_shape: [32, 20], scale_factor: [2, 4] }], { rescale: true });
      expect(toRows(rescaled!.bboxes)[1]).to.deep.equal([4, 0, 10, 2]);
      expect(() => head.predictByFeat([cls], [reg], [{ img_shape: [32, 20] }], { rescale: true })).to.throw(/no scale_factor/);
      tf.dispose([cls, reg]);
      head.dispose();
    });

    it('decodes deltas against their own anchor and image (batch of two with different img_shape)', () => {
      const head = oneAnchorHead(NMS_07);
      const cls = tf.tensor4d([3, -5, -5, -5, -5, -5, -5, 3], [2, 2, 2, 1]);
      // image 0, location (0, 0): dx = 0.5 shifts the anchor by half its width (16 px) -> [0, -8, 16, 8] clipped.
      const reg = tf.tensor4d([0.5, 0, 0, 0, ...new Array(24).fill(0), 0, 0, Math.log(2), 0], [2, 2, 2, 4]);
      const proposals = head.predictByFeat([cls], [reg], [{ img_shape: [32, 32] }, { img_shape: [20, 30] }], { cfg: { ...NMS_07, max_per_img: 1 } });
      expect(toRows(proposals[0]!.bboxes)).to.deep.equal([[0, 0, 16, 8]]);
      // image 1, location (1, 1): dw = ln 2 doubles the width about the centre 16 -> [0, 8, 32, 24], clipped to 30 x 20.
      expect(toRows(proposals[1]!.bboxes)).to.deep.equal([[0, 8, 30, 20]]);
      tf.dispose([cls, reg]);
      head.dispose();
    });

    it('uses softmax\'s first column as objectness when loss_cls is not sigmoid', () => {
      const head = buildHead({ anchor_generator: { type: 'AnchorGenerator', scales: [1], ratios: [1], strides: [16], base_sizes: [16] }, loss_cls: { type: 'CrossEntropyLoss', use_sigmoid: false } });
      const cls = tf.tensor4d([1, 0, 0, 0, 0, 1, 0, 0], [1, 2, 2, 2]);
      const reg = tf.zeros([1, 2, 2, 4]) as tf.Tensor4D;
      const [p] = head.predictByFeat([cls], [reg], [{ img_shape: [32, 32] }]);
      expect(p!.scores[0]).to.be.closeTo(Math.exp(1) / (Math.exp(1) + 1), 1e-6);
      expect(p!.scores[p!.scores.length - 1]).to.be.closeTo(1 / (1 + Math.exp(1)), 1e-6);
      tf.dispose([cls, reg]);
      head.dispose();
    });

    it('checks the level count against the anchor generator', () => {
      const head = buildHead();
      const x = tf.zeros([1, 4, 4, 4]) as tf.Tensor4D;
      expect(() => head.forward([x])).to.throw(/model\.rpn_head: got 1 feature levels, the anchor generator has 2 strides/);
      x.dispose();
      head.dispose();
    });
  });

  describe('config', () => {
    it('fills AnchorHead\'s defaults (scales 8/16/32, SmoothL1 beta 1/9) and min_bbox_size -1', () => {
      const head = MODELS.build<RPNHead>({ type: 'RPNHead', in_channels: 8, test_cfg: { max_per_img: 10, nms: { iou_threshold: 0.7 } } }, { path: 'rpn_head' });
      expect(head.anchorGenerator.numBasePriors).to.deep.equal([9, 9, 9, 9, 9]);
      expect(head.testCfg).to.deep.equal({ max_per_img: 10, nms: { type: 'nms', iou_threshold: 0.7 }, nms_pre: -1, min_bbox_size: -1 });
      expect(head.featChannels).to.equal(256);
      expect(head.lossBbox).to.be.instanceOf(SmoothL1Loss).with.property('beta').closeTo(1 / 9, 1e-12);
      head.dispose();
    });

    it('rejects num_classes other than 1, unknown keys and soft_nms, naming the path', () => {
      expect(() => buildHead({ num_classes: 2 })).to.throw(/model\.rpn_head \(RPNHead\): num_classes: an RPN has one class/);
      expect(() => buildHead({ feat_channel: 4 })).to.throw(ConfigValidationError, /model\.rpn_head\.feat_channel: unknown key for RPNHead \(did you mean 'feat_channels'\?\)/);
      expect(() => buildHead({ test_cfg: { ...NMS_07, nms: { type: 'soft_nms', iou_threshold: 0.5 } } })).to.throw(ConfigValidationError, /model\.rpn_head\.test_cfg\.nms\.type/);
      expect(() => buildHead({ test_cfg: { ...NMS_07, nms_thr: 0.7 } })).to.throw(ConfigValidationError, /model\.rpn_head\.test_cfg\.nms_thr: unknown key/);
      expect(() => buildHead({ bbox_coder: { type: 'AnchorGenerator', strides: [4], ratios: [1], scales: [1] } })).to.throw(/model\.rpn_head\.bbox_coder: expected a box coder/);
    });
  });
});
