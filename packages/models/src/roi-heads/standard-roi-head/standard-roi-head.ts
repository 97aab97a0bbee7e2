/**
 * mmdet's StandardRoIHead, box branch (mmdet-reference §4.7): rois from the proposals
 * (bbox2roi), RoI features from the first featmap_strides levels (SingleRoIExtractor), the box
 * head, then per image softmax, class-specific decode, rescale and multiclass NMS. Children
 * `bbox_roi_extractor` (no parameters) and `bbox_head`, so the box head's keys are mmdet's
 * `roi_head.bbox_head.*`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '@tsdet/core';
import { hostScoped } from '../../detectors/parts.js';
import { bbox2roi, emptyInstances, type ImageMeta, type InstanceResults } from '../../detectors/structures.js';
import type { RcnnTestConfig, RcnnTrainConfig } from '../../detectors/train-test-cfg.schema.js';
import type { SingleRoIExtractor } from '../../task-modules/roi-extractor/single-roi-extractor.js';
import type { BBoxHeadOutputs, ConvFCBBoxHead } from '../bbox-heads/convfc-bbox-head.js';

export interface StandardRoIHeadOptions {
  bboxRoiExtractor: SingleRoIExtractor;
  bboxHead: ConvFCBBoxHead;
  trainCfg?: RcnnTrainConfig | null;
  testCfg?: RcnnTestConfig | null;
  path?: string;
}

export interface RoIPredictOptions {
  /** Boxes in the original image frame (divided by scale_factor); the detector's default is true. */
  rescale?: boolean;
  /** Post-processing settings; default the head's test_cfg. */
  cfg?: RcnnTestConfig;
}

/** mmdet's _bbox_forward: RoI features and the box head's outputs. */
export interface BBoxForward extends BBoxHeadOutputs {
  bboxFeats: tf.Tensor4D;
}

export class StandardRoIHead extends Module {
  readonly bboxRoiExtractor: SingleRoIExtractor;
  readonly bboxHead: ConvFCBBoxHead;
  readonly trainCfg: RcnnTrainConfig | null;
  readonly testCfg: RcnnTestConfig | null;
  readonly path: string;

  constructor(options: StandardRoIHeadOptions) {
    super();
    this.path = options.path ?? 'roi_head';
    this.bboxRoiExtractor = this.registerModule('bbox_roi_extractor', options.bboxRoiExtractor);
    this.bboxHead = this.registerModule('bbox_head', options.bboxHead);
    this.trainCfg = options.trainCfg ?? null;
    this.testCfg = options.testCfg ?? null;
  }

  /** RoI features from the first num_inputs levels, then the box head; the caller owns the tensors. */
  bboxForward(feats: readonly tf.Tensor4D[], rois: tf.Tensor2D): BBoxForward {
    const levels = feats.slice(0, this.bboxRoiExtractor.numInputs);
    return tf.tidy(() => {
      const bboxFeats = this.bboxRoiExtractor.forward(levels, rois);
      return { bboxFeats, ...this.bboxHead.forward(bboxFeats) };
    });
  }

  /** mmdet's predict / predict_bbox: detections per image from the proposals (host arrays). */
  predict(feats: readonly tf.Tensor4D[], proposals: readonly InstanceResults[], metas: readonly ImageMeta[], options: RoIPredictOptions = {}): InstanceResults[] {
    const cfg = options.cfg ?? this.testCfg;
    if (!cfg) throw new Error(`${this.path}: no detection settings (test_cfg.rcnn of the detector, or cfg in the call); the no-NMS (aug-test) output is not ported`);
    if (!this.bboxHead.withCls) throw new Error(`${this.path}.bbox_head: predicting needs the cls branch (with_cls is false)`);
    if (proposals.length !== metas.length) throw new Error(`${this.path}: ${proposals.length} proposal lists for ${metas.length} images`);
    const rois = bbox2roi(proposals);
    const numRois = rois.length / 5;
    if (numRois === 0) return metas.map(() => emptyInstances());
    const { clsScore, bboxPred } = this.headOutputs(feats, rois);
    const classes = this.bboxHead.numClasses + 1;
    const regWidth = bboxPred ? bboxPred.length / numRois : 0;
    let start = 0;
    return proposals.map((p, image) => {
      const count = p.bboxes.length / 4;
      const end = start + count;
      const result = this.bboxHead.predictSingle(
        rois.subarray(start * 5, end * 5),
        clsScore.subarray(start * classes, end * classes),
        bboxPred ? bboxPred.subarray(start * regWidth, end * regWidth) : null,
        metas[image]!,
        image,
        cfg,
        options.rescale ?? false,
      );
      start = end;
      return result;
    });
  }

  /** The box head's logits and deltas for every roi, read back to the host. */
  private headOutputs(feats: readonly tf.Tensor4D[], rois: Float32Array): { clsScore: Float32Array; bboxPred: Float32Array | null } {
    return hostScoped(() => {
      const { clsScore, bboxPred } = this.bboxForward(feats, tf.tensor2d(rois, [rois.length / 5, 5]));
      return { clsScore: clsScore!.dataSync() as Float32Array, bboxPred: bboxPred ? (bboxPred.dataSync() as Float32Array) : null };
    });
  }
}
