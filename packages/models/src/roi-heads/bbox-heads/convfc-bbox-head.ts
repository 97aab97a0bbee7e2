/**
 * mmdet's ConvFCBBoxHead (Shared2FCBBoxHead is its num_shared_fcs = 2 case; mmdet-reference
 * §4.7): shared convs and fcs, then separate cls / reg convs and fcs, then `fc_cls`
 * (num_classes + 1 logits, background last) and `fc_reg` (4 deltas per class, class c in
 * columns 4c..4c+3, or 4 with reg_class_agnostic). State-dict keys are mmdet's: `shared_convs.{i}.*`,
 * `shared_fcs.{i}.*`, `cls_convs` / `cls_fcs` / `reg_convs` / `reg_fcs`, `fc_cls.*`, `fc_reg.*`.
 *
 * RoI features arrive NHWC [R, h, w, C]. PyTorch flattens [C, h, w] (input index c * h * w +
 * y * w + x), so the features are transposed to [R, C, h, w] before flattening: the fc weights
 * then load from mmdet checkpoints unchanged.
 */
import * as tf from '@tensorflow/tfjs-core';
import { gatherRows, Module } from '@tsdet/core';
import { hostScoped, type BBoxCoder } from '../../detectors/parts.js';
import { emptyInstances, requireScaleFactor, unscaleBoxes, type ImageMeta, type InstanceResults } from '../../detectors/structures.js';
import type { RcnnTestConfig } from '../../detectors/train-test-cfg.schema.js';
import { ConvModule } from '../../layers/conv-module.js';
import { normalInit } from '../../layers/init.js';
import { Linear } from '../../layers/linear.js';
import type { NormConfig } from '../../layers/norm.js';
import type { ClassificationLoss, RegressionLoss } from '../../losses/index.js';
import { multiclassNmsArrays } from '../../task-modules/nms/nms-core.js';
import { pairOf } from '../../task-modules/roi-align/sampling-plan.js';
import type { RoiTargets } from './bbox-targets.js';

/** The branch layout: how many convs and fcs are shared, and how many each branch adds. */
export interface BranchCounts {
  numSharedConvs: number;
  numSharedFcs: number;
  numClsConvs: number;
  numClsFcs: number;
  numRegConvs: number;
  numRegFcs: number;
}

export interface ConvFCBBoxHeadOptions extends BranchCounts {
  inChannels: number;
  numClasses: number;
  roiFeatSize: number | readonly [number, number];
  withAvgPool?: boolean;
  withCls?: boolean;
  withReg?: boolean;
  regClassAgnostic?: boolean;
  regDecodedBbox?: boolean;
  convOutChannels?: number;
  fcOutChannels?: number;
  normCfg?: NormConfig | null;
  bboxCoder: BBoxCoder;
  lossCls: ClassificationLoss;
  lossBbox: RegressionLoss;
  path?: string;
}

/** Per RoI: class logits [R, num_classes + 1] and deltas [R, 4 * num_classes] (or [R, 4]); undefined without that branch. */
export interface BBoxHeadOutputs {
  clsScore: tf.Tensor2D | undefined;
  bboxPred: tf.Tensor2D | undefined;
}

/**
 * mmdet's BBoxHead.loss dict: softmax classification loss, top-1 accuracy in percent (logged,
 * not optimised) and the regression loss; loss_cls and acc are absent when there is no roi.
 */
// A type, not an interface, so that tf.tidy accepts it as a TensorContainer.
export type BBoxLosses = {
  loss_cls?: tf.Scalar;
  acc?: tf.Scalar;
  loss_bbox?: tf.Scalar;
};

/** mmdet's accuracy(pred, target) with topk 1: correct rows * (100 / rows), no gradient. */
export function topOneAccuracy(clsScore: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(clsScore, 1), labels), 'float32'));
    return tf.mul(correct, Math.fround(100 / clsScore.shape[0])) as tf.Scalar;
  });
}

/** nn.ModuleList: children 0, 1, ... as in the state dict. */
class ModuleList<M extends Module> extends Module {
  readonly items: M[] = [];

  override get typeName(): string {
    return 'ModuleList';
  }

  append(module: M): M {
    this.items.push(this.registerModule(String(this.items.length), module));
    return module;
  }
}

/** One branch (shared, cls or reg): its convs, then its fcs. */
interface Branch {
  convs: ModuleList<ConvModule>;
  fcs: ModuleList<Linear>;
}

/** [R, h, w, C] -> [R, C * h * w] in PyTorch's (C, h, w) order, or [R, C] after average pooling. */
export function flattenRoiFeatures(x: tf.Tensor4D, avgPool: boolean): tf.Tensor2D {
  return tf.tidy(() => {
    if (avgPool) return tf.mean(x, [1, 2]) as tf.Tensor2D;
    return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [x.shape[0], -1]) as tf.Tensor2D;
  });
}

export class ConvFCBBoxHead extends Module {
  readonly counts: BranchCounts;
  readonly inChannels: number;
  readonly numClasses: number;
  readonly roiFeatSize: [number, number];
  readonly withAvgPool: boolean;
  readonly withCls: boolean;
  readonly withReg: boolean;
  readonly regClassAgnostic: boolean;
  readonly regDecodedBbox: boolean;
  readonly convOutChannels: number;
  readonly fcOutChannels: number;
  readonly bboxCoder: BBoxCoder;
  readonly lossCls: ClassificationLoss;
  readonly lossBbox: RegressionLoss;
  readonly sharedConvs: readonly ConvModule[];
  readonly sharedFcs: readonly Linear[];
  readonly clsConvs: readonly ConvModule[];
  readonly clsFcs: readonly Linear[];
  readonly regConvs: readonly ConvModule[];
  readonly regFcs: readonly Linear[];
  readonly fcCls: Linear | undefined;
  readonly fcReg: Linear | undefined;
  readonly path: string;
  readonly #normCfg: NormConfig | null;

  constructor(options: ConvFCBBoxHeadOptions) {
    super();
    this.path = options.path ?? 'bbox_head';
    this.counts = { numSharedConvs: options.numSharedConvs, numSharedFcs: options.numSharedFcs, numClsConvs: options.numClsConvs, numClsFcs: options.numClsFcs, numRegConvs: options.numRegConvs, numRegFcs: options.numRegFcs };
    this.inChannels = options.inChannels;
    this.numClasses = options.numClasses;
    this.roiFeatSize = pairOf(options.roiFeatSize);
    this.withAvgPool = options.withAvgPool ?? false;
    this.withCls = options.withCls ?? true;
    this.withReg = options.withReg ?? true;
    this.regClassAgnostic = options.regClassAgnostic ?? false;
    this.regDecodedBbox = options.regDecodedBbox ?? false;
    this.convOutChannels = options.convOutChannels ?? 256;
    this.fcOutChannels = options.fcOutChannels ?? 1024;
    this.#normCfg = options.normCfg ?? null;
    this.bboxCoder = options.bboxCoder;
    this.lossCls = options.lossCls;
    this.lossBbox = options.lossBbox;
    checkBranchCounts(this.counts, this.withCls, this.withReg, this.path);

    // mmdet's BBoxHead registers fc_cls and fc_reg before ConvFCBBoxHead adds the branches (and
    // re-assigning them keeps that place), so the state dict lists them first.
    const dims = this.predictorInputDims();
    this.fcCls = this.withCls ? this.registerModule('fc_cls', new Linear({ inFeatures: dims.cls, outFeatures: this.numClasses + 1 })) : undefined;
    const regOut = this.bboxCoder.encodeSize * (this.regClassAgnostic ? 1 : this.numClasses);
    this.fcReg = this.withReg ? this.registerModule('fc_reg', new Linear({ inFeatures: dims.reg, outFeatures: regOut })) : undefined;
    const sharedDim = this.branchOutDim(this.counts.numSharedConvs, this.counts.numSharedFcs, this.inChannels);
    const shared = this.addBranch('shared', this.counts.numSharedConvs, this.counts.numSharedFcs, this.inChannels, true);
    const cls = this.addBranch('cls', this.counts.numClsConvs, this.counts.numClsFcs, sharedDim, false);
    const reg = this.addBranch('reg', this.counts.numRegConvs, this.counts.numRegFcs, sharedDim, false);
    [this.sharedConvs, this.sharedFcs] = [shared.convs.items, shared.fcs.items];
    [this.clsConvs, this.clsFcs] = [cls.convs.items, cls.fcs.items];
    [this.regConvs, this.regFcs] = [reg.convs.items, reg.fcs.items];
    this.initWeights();
  }

  /** Entering eval mode: the first shared fc's NHWC-ordered weights, so inference allocates nothing lasting. */
  protected override onModeChanged(training: boolean): void {
    const first = this.sharedFcs[0];
    if (training || !first || this.withAvgPool) return;
    const channels = this.sharedConvs.length > 0 ? this.sharedConvs[this.sharedConvs.length - 1]!.conv.outChannels : this.inChannels;
    first.prepareNchwFlattened([this.roiFeatSize[0], this.roiFeatSize[1], channels]);
  }

  get roiFeatArea(): number {
    return this.roiFeatSize[0] * this.roiFeatSize[1];
  }

  /** RoI features [R, h, w, in_channels] (NHWC) -> logits and deltas; the caller owns them. */
  forward(x: tf.Tensor4D): BBoxHeadOutputs {
    this.checkInput(x);
    return tf.tidy(() => {
      let shared: tf.Tensor = this.sharedConvs.reduce<tf.Tensor4D>((h, conv) => conv.forward(h), x);
      if (this.sharedFcs.length > 0) {
        const [first, ...rest] = this.sharedFcs as [Linear, ...Linear[]];
        // The first fc reads the NHWC map directly (forwardNchwFlattened), unless it is pooled first.
        const firstOut = this.withAvgPool ? first.forward(flattenRoiFeatures(shared as tf.Tensor4D, true)) : first.forwardNchwFlattened(shared as tf.Tensor4D);
        shared = rest.reduce<tf.Tensor2D>((h, fc) => tf.relu(fc.forward(h)), tf.relu(firstOut));
      }
      const clsFeat = this.runBranch(shared, this.clsConvs, this.clsFcs);
      const regFeat = this.runBranch(shared, this.regConvs, this.regFcs);
      return { clsScore: this.fcCls?.forward(clsFeat), bboxPred: this.fcReg?.forward(regFeat) };
    });
  }

  /**
   * mmdet's BBoxHead.loss on the sampled rois (flat [R * 5]) with their targets: loss_cls over
   * every row weighted by label_weights / max(#weighted rows, 1); acc; loss_bbox on the positive
   * rows only, using each row's deltas of its gt class (or the agnostic 4), divided by R, the
   * number of sampled rows (not the positives). The caller owns the returned scalars.
   */
  loss(clsScore: tf.Tensor2D | undefined, bboxPred: tf.Tensor2D | undefined, rois: Float32Array, targets: RoiTargets): BBoxLosses {
    const numRois = targets.labels.length;
    if (rois.length !== numRois * 5) throw new Error(`${this.path}: ${rois.length / 5} rois for ${numRois} target rows`);
    return tf.tidy(() => {
      const losses: BBoxLosses = {};
      if (clsScore && numRois > 0) {
        const labels = tf.tensor1d(targets.labels, 'int32');
        const weighted = targets.labelWeights.reduce((n, w) => n + (w > 0 ? 1 : 0), 0);
        losses.loss_cls = this.lossCls.forward(clsScore, labels, { weight: tf.tensor1d(targets.labelWeights), avgFactor: Math.max(weighted, 1) }) as tf.Scalar;
        losses.acc = topOneAccuracy(clsScore, labels);
      }
      if (bboxPred) losses.loss_bbox = this.regressionLoss(bboxPred, rois, targets);
      return losses;
    });
  }

  private regressionLoss(bboxPred: tf.Tensor2D, rois: Float32Array, targets: RoiTargets): tf.Scalar {
    const numPos = targets.posRows.length;
    const numRois = targets.labels.length;
    // mmdet: bbox_pred[pos_inds].sum() without positives: 0, still attached to the graph.
    if (numPos === 0) return tf.sum(tf.slice(bboxPred, [0, 0], [0, -1])) as tf.Scalar;
    const pred = this.regDecodedBbox ? this.bboxCoder.decode(roiBoxes(rois), bboxPred) : bboxPred;
    const perClass = this.regClassAgnostic ? 1 : this.numClasses;
    const width = pred.shape[1] / perClass;
    const rowIndex = this.regClassAgnostic ? targets.posRows : targets.posRows.map((r, k) => r * perClass + targets.posLabels[k]!);
    const posPred = gatherRows(tf.reshape(pred, [numRois * perClass, width]), tf.tensor1d(rowIndex, 'int32'));
    const gtBoxes = tf.tensor2d(targets.posGtBboxes, [numPos, 4]);
    const target = this.regDecodedBbox ? gtBoxes : this.bboxCoder.encode(tf.tensor2d(targets.posPriors, [numPos, 4]), gtBoxes);
    return this.lossBbox.forward(posPred, target, { weight: tf.onesLike(target), avgFactor: numRois }) as tf.Scalar;
  }

  /**
   * mmdet's _predict_by_feat_single for one image: softmax scores, class-specific (or agnostic)
   * decode clipped to img_shape, rescale by 1 / scale_factor, multiclass NMS (score_thr, nms,
   * max_per_img). `rois` [r * 5]; `clsScore` [r * (C + 1)] and `bboxPred` [r * 4C] host values.
   */
  predictSingle(rois: Float32Array, clsScore: Float32Array, bboxPred: Float32Array | null, meta: ImageMeta, image: number, cfg: RcnnTestConfig, rescale: boolean): InstanceResults {
    const numRois = rois.length / 5;
    if (numRois === 0) return emptyInstances();
    const scores = hostScoped(() => tf.softmax(tf.tensor2d(clsScore, [numRois, this.numClasses + 1])).dataSync() as Float32Array);
    const decoded = this.decodeBoxes(rois, bboxPred, meta.img_shape);
    const boxes = rescale ? unscaleBoxes(decoded, requireScaleFactor(meta, image)) : decoded;
    const result = multiclassNmsArrays(boxes, scores, numRois, cfg.score_thr, cfg.nms, { maxNum: cfg.max_per_img });
    const count = result.labels.length;
    const bboxes = new Float32Array(count * 4);
    const detScores = new Float32Array(count);
    for (let k = 0; k < count; k++) {
      bboxes.set(result.dets.subarray(5 * k, 5 * k + 4), 4 * k);
      detScores[k] = result.dets[5 * k + 4]!;
    }
    return { bboxes, scores: detScores, labels: result.labels };
  }

  /** Boxes per roi and class [r * 4C] (or [r * 4] class-agnostic); without a reg branch, the rois clipped. */
  private decodeBoxes(rois: Float32Array, bboxPred: Float32Array | null, imgShape: readonly [number, number]): Float32Array {
    const numRois = rois.length / 5;
    const boxes = new Float32Array(numRois * 4);
    for (let k = 0; k < numRois; k++) boxes.set(rois.subarray(5 * k + 1, 5 * k + 5), 4 * k);
    if (!bboxPred) return clipBoxes(boxes, imgShape);
    return hostScoped(() => {
      const deltas = tf.tensor2d(bboxPred, [numRois, bboxPred.length / numRois]);
      return this.bboxCoder.decode(tf.tensor2d(boxes, [numRois, 4]), deltas, { maxShape: [imgShape[0], imgShape[1]] }).dataSync() as Float32Array;
    });
  }

  private runBranch(x: tf.Tensor, convs: readonly ConvModule[], fcs: readonly Linear[]): tf.Tensor2D {
    const mapped = convs.reduce<tf.Tensor>((h, conv) => conv.forward(h as tf.Tensor4D), x);
    const flat = mapped.rank > 2 ? flattenRoiFeatures(mapped as tf.Tensor4D, this.withAvgPool) : (mapped as tf.Tensor2D);
    return fcs.reduce<tf.Tensor2D>((h, fc) => tf.relu(fc.forward(h)), flat);
  }

  /** Input widths of fc_cls and fc_reg: a branch without any fc ends on a feature map that forward flattens. */
  private predictorInputDims(): { cls: number; reg: number } {
    const sharedDim = this.branchOutDim(this.counts.numSharedConvs, this.counts.numSharedFcs, this.inChannels);
    const flattens = this.counts.numSharedFcs === 0 && !this.withAvgPool;
    const lastDim = (numConvs: number, numFcs: number) => {
      const dim = this.branchOutDim(numConvs, numFcs, sharedDim);
      return flattens && numFcs === 0 ? dim * this.roiFeatArea : dim;
    };
    return { cls: lastDim(this.counts.numClsConvs, this.counts.numClsFcs), reg: lastDim(this.counts.numRegConvs, this.counts.numRegFcs) };
  }

  /**
   * What a branch hands on (mmdet's last_layer_dim before the flatten of a branch without fcs):
   * fc_out_channels after fcs, conv_out_channels after convs, else its input.
   */
  private branchOutDim(numConvs: number, numFcs: number, inDim: number): number {
    if (numFcs > 0) return this.fcOutChannels;
    return numConvs > 0 ? this.convOutChannels : inDim;
  }

  /** The first fc of the shared branch (or of any branch when nothing is shared) reads the flattened RoI. */
  private firstFcInDim(numConvs: number, inDim: number, isShared: boolean): number {
    const channels = numConvs > 0 ? this.convOutChannels : inDim;
    return (isShared || this.counts.numSharedFcs === 0) && !this.withAvgPool ? channels * this.roiFeatArea : channels;
  }

  /** mmdet's _add_conv_fc_branch: 3x3 ConvModules, then Linear layers with fc_out_channels. */
  private addBranch(name: 'shared' | 'cls' | 'reg', numConvs: number, numFcs: number, inDim: number, isShared: boolean): Branch {
    const convs = this.registerModule(`${name}_convs`, new ModuleList<ConvModule>());
    const fcs = this.registerModule(`${name}_fcs`, new ModuleList<Linear>());
    for (let i = 0; i < numConvs; i++) {
      convs.append(new ConvModule({ inChannels: i === 0 ? inDim : this.convOutChannels, outChannels: this.convOutChannels, kernelSize: 3, padding: 1, normCfg: this.#normCfg }));
    }
    for (let i = 0; i < numFcs; i++) fcs.append(new Linear({ inFeatures: i === 0 ? this.firstFcInDim(numConvs, inDim, isShared) : this.fcOutChannels, outFeatures: this.fcOutChannels }));
    return { convs, fcs };
  }

  /** mmdet's default init_cfg: fc_cls N(0, 0.01), fc_reg N(0, 0.001), branch fcs Xavier uniform; biases 0. ConvModules keep their Kaiming init. */
  private initWeights(): void {
    tf.tidy(() => {
      if (this.fcCls) setLinear(this.fcCls, normalInit(this.fcCls.weight.shape, 0.01));
      if (this.fcReg) setLinear(this.fcReg, normalInit(this.fcReg.weight.shape, 0.001));
      for (const fc of [...this.sharedFcs, ...this.clsFcs, ...this.regFcs]) setLinear(fc, xavierUniform(fc.weight.shape as [number, number]));
    });
  }

  private checkInput(x: tf.Tensor4D): void {
    const [, h, w, c] = x.shape;
    if (x.rank !== 4 || h !== this.roiFeatSize[0] || w !== this.roiFeatSize[1] || c !== this.inChannels) {
      throw new Error(`${this.path}: RoI features must be [R, ${this.roiFeatSize.join(', ')}, ${this.inChannels}] (NHWC; roi_feat_size, in_channels), got [${x.shape.join(', ')}]`);
    }
  }
}

/** The [x1, y1, x2, y2] columns of flat [R * 5] rois, as an [R, 4] tensor. */
function roiBoxes(rois: Float32Array): tf.Tensor2D {
  const count = rois.length / 5;
  const boxes = new Float32Array(count * 4);
  for (let k = 0; k < count; k++) boxes.set(rois.subarray(5 * k + 1, 5 * k + 5), 4 * k);
  return tf.tensor2d(boxes, [count, 4]);
}

/** Weight from `weight`, bias 0 (inside a tidy: assign shares the data). */
function setLinear(fc: Linear, weight: tf.Tensor): void {
  fc.weight.assign(weight);
  fc.bias?.assign(tf.zerosLike(fc.bias));
}

/** Xavier (Glorot) uniform with gain 1: U(-b, b), b = sqrt(6 / (fan_in + fan_out)). */
function xavierUniform(shape: [number, number]): tf.Tensor {
  const bound = Math.sqrt(6 / (shape[0] + shape[1]));
  return tf.randomUniform(shape, -bound, bound);
}

/** x into [0, w] and y into [0, h]. */
function clipBoxes(boxes: Float32Array, [h, w]: readonly [number, number]): Float32Array {
  return boxes.map((v, i) => Math.min(Math.max(v, 0), i % 2 === 0 ? w : h));
}

/** ConvFCBBoxHead's asserts, each naming the config keys involved. */
export function checkBranchCounts(counts: BranchCounts, withCls: boolean, withReg: boolean, path: string): void {
  const total = Object.values(counts).reduce((s, n) => s + n, 0);
  if (total === 0) throw new Error(`${path}: a ConvFCBBoxHead needs at least one conv or fc (every num_*_convs / num_*_fcs is 0)`);
  if ((counts.numClsConvs > 0 || counts.numRegConvs > 0) && counts.numSharedFcs > 0) {
    throw new Error(`${path}.num_shared_fcs: cls/reg convs (num_cls_convs ${counts.numClsConvs}, num_reg_convs ${counts.numRegConvs}) need num_shared_fcs 0, got ${counts.numSharedFcs}`);
  }
  if (!withCls && (counts.numClsConvs > 0 || counts.numClsFcs > 0)) throw new Error(`${path}.with_cls: false, but num_cls_convs / num_cls_fcs add a cls branch`);
  if (!withReg && (counts.numRegConvs > 0 || counts.numRegFcs > 0)) throw new Error(`${path}.with_reg: false, but num_reg_convs / num_reg_fcs add a reg branch`);
}
