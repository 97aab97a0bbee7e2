/**
 * mmdet's StandardRoIHead, box branch (mmdet-reference §4.7): rois from the proposals
 * (bbox2roi), RoI features from the first featmap_strides levels (SingleRoIExtractor), the box
 * head, then per image softmax, class-specific decode, rescale and multiclass NMS. Children
 * `bbox_roi_extractor` (no parameters) and `bbox_head`, so the box head's keys are mmdet's
 * `roi_head.bbox_head.*`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { globalRandom, Module } from '@tsdet/core';
import { hostScoped } from '../../detectors/parts.js';
import { bbox2roi, emptyInstances, type BoxInstances, type ImageMeta, type InstanceResults } from '../../detectors/structures.js';
import type { RcnnTestConfig, RcnnTrainConfig } from '../../detectors/train-test-cfg.schema.js';
import type { PriorAssigner } from '../../task-modules/assigners/assigner.js';
import type { SingleRoIExtractor } from '../../task-modules/roi-extractor/single-roi-extractor.js';
import type { PriorSampler } from '../../task-modules/samplers/sampler.js';
import type { SamplingResult } from '../../task-modules/samplers/sampling-result.js';
import { bboxTargets } from '../bbox-heads/bbox-targets.js';
import type { BBoxHeadOutputs, BBoxLosses, ConvFCBBoxHead } from '../bbox-heads/convfc-bbox-head.js';

export interface StandardRoIHeadOptions {
  bboxRoiExtractor: SingleRoIExtractor;
  bboxHead: ConvFCBBoxHead;
  trainCfg?: RcnnTrainConfig | null;
  /** Built from train_cfg.assigner / train_cfg.sampler; training needs both. */
  assigner?: PriorAssigner | null;
  sampler?: PriorSampler | null;
  testCfg?: RcnnTestConfig | null;
  path?: string;
}

/** What StandardRoIHead.loss can hand back besides the losses (host copies, for inspection and parity). */
export interface RoILossTrace {
  /** Per image, the sampled positives and negatives. */
  sampling?: SamplingResult[];
  /** bbox2roi of the sampled priors, flat [R * 5]. */
  rois?: Float32Array;
  /** The box head's outputs on those rois, [R * (C + 1)] and [R * 4C]. */
  clsScore?: Float32Array;
  bboxPred?: Float32Array;
}

export interface RoILossOptions {
  /** PRNG of the sampler; default the training stream globalRandom(). */
  random?: () => number;
  /** Filled with host copies of the sampling, rois and head outputs (costs a download). */
  trace?: RoILossTrace;
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
  readonly assigner: PriorAssigner | null;
  readonly sampler: PriorSampler | null;
  readonly path: string;

  constructor(options: StandardRoIHeadOptions) {
    super();
    this.path = options.path ?? 'roi_head';
    this.bboxRoiExtractor = this.registerModule('bbox_roi_extractor', options.bboxRoiExtractor);
    this.bboxHead = this.registerModule('bbox_head', options.bboxHead);
    this.trainCfg = options.trainCfg ?? null;
    this.testCfg = options.testCfg ?? null;
    this.assigner = options.assigner ?? null;
    this.sampler = options.sampler ?? null;
  }

  /**
   * mmdet's StandardRoIHead.loss (box branch): per image, assign the proposals to the gts (with
   * the ignored boxes) and sample them (gts prepended as proposals with add_gt_as_proposals),
   * then the box head on bbox2roi of the sampled priors and its losses. Gradients reach the
   * features through RoIAlign. The caller owns the returned scalars.
   */
  loss(feats: readonly tf.Tensor4D[], proposals: readonly { readonly bboxes: Float32Array }[], gts: readonly BoxInstances[], ignores: readonly (BoxInstances | undefined)[] = [], options: RoILossOptions = {}): BBoxLosses {
    if (proposals.length !== gts.length) throw new Error(`${this.path}: ${proposals.length} proposal lists for ${gts.length} images`);
    const samplings = this.sampleProposals(proposals, gts, ignores, options.random ?? globalRandom().uniform);
    const rois = bbox2roi(samplings.map((s) => ({ bboxes: s.priors })));
    const numRois = rois.length / 5;
    const targets = bboxTargets(samplings, this.bboxHead.numClasses, this.trainCfg!.pos_weight);
    if (options.trace) Object.assign(options.trace, { sampling: samplings, rois });
    // No roi at all (no gt and no proposal): mmdet's head then returns loss_bbox 0 only.
    if (numRois === 0) return { loss_bbox: tf.scalar(0) };
    return tf.tidy(() => {
      const { bboxFeats, clsScore, bboxPred } = this.bboxForward(feats, tf.tensor2d(rois, [numRois, 5]));
      bboxFeats.dispose();
      if (options.trace) Object.assign(options.trace, { clsScore: clsScore?.dataSync().slice(), bboxPred: bboxPred?.dataSync().slice() });
      return this.bboxHead.loss(clsScore, bboxPred, rois, targets);
    });
  }

  /** Assignment and sampling of each image's proposals, on the host. */
  private sampleProposals(proposals: readonly { readonly bboxes: Float32Array }[], gts: readonly BoxInstances[], ignores: readonly (BoxInstances | undefined)[], random: () => number): SamplingResult[] {
    if (!this.trainCfg || !this.assigner || !this.sampler) throw new Error(`${this.path}: computing losses needs train_cfg (the detector's train_cfg.rcnn with an assigner and a sampler)`);
    const { assigner, sampler } = this;
    return proposals.map((p, image) => {
      const gt = gts[image]!;
      const assigned = assigner.assign(p.bboxes, gt.bboxes, gt.labels, ignores[image]?.bboxes);
      return sampler.sample(assigned, p.bboxes, gt.bboxes, gt.labels, random);
    });
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
