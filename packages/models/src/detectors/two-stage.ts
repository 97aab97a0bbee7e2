/**
 * mmdet's TwoStageDetector and FasterRCNN (mmdet-reference §4.1), inference: backbone -> neck
 * -> RPN proposals -> RoI head detections, per image in the original image frame. Children are
 * named as mmdet's (`backbone`, `neck`, `rpn_head`, `roi_head`), so mmdet checkpoints load
 * with their keys unchanged.
 *
 * The data preprocessor is optional and lives outside the module tree (it has no state-dict
 * entries in mmdet either: mean/std are non-persistent buffers). `predict` takes an already
 * preprocessed NHWC batch, as mmdet's predict does; `testStep` runs the preprocessor first, as
 * mmengine's test_step does.
 *
 * Training: `loss` is mmdet's TwoStageDetector.loss on a preprocessed batch (RPN losses and
 * train-time proposals, then the RoI head's losses); `computeLosses` runs the preprocessor in
 * training mode first, which makes the detector a TrainableModel for @tsdet/engine.
 */
import * as tf from '@tensorflow/tfjs-core';
import { globalRandom, Module, type LossDict, type TrainableModel } from '@tsdet/core';
import type { FeatureShape } from '../backbones/resnet/resnet.js';
import type { RPNHead } from '../dense-heads/rpn-head/rpn-head.js';
import type { RoILossTrace, StandardRoIHead } from '../roi-heads/standard-roi-head/standard-roi-head.js';
import type { BoxInstances, ImageMeta, InstanceResults, Shape2 } from './structures.js';
import type { TwoStageTestConfig, TwoStageTrainConfig } from './train-test-cfg.schema.js';

/** A backbone: NHWC image batch -> NHWC levels, lowest first; optionally their channels and strides. */
export interface Backbone extends Module {
  forward(x: tf.Tensor4D): tf.Tensor4D[];
  outputShapes?(): FeatureShape[];
}

/** A neck: levels -> levels; optionally the output shapes for given input shapes. */
export interface Neck extends Module {
  forward(feats: readonly tf.Tensor4D[]): tf.Tensor4D[];
  outputShapes?(inputs: readonly FeatureShape[]): FeatureShape[];
}

/** One sample's metadata as a preprocessor hands it on (DetDataPreprocessor's data_samples fit). */
export interface PreprocessedSample {
  readonly metainfo: Readonly<Record<string, unknown>>;
}

/** What a data preprocessor returns: the padded NHWC batch (the caller owns it) and the samples. */
export interface PreprocessedBatch {
  readonly inputs: tf.Tensor4D;
  readonly data_samples: readonly PreprocessedSample[] | null;
}

/**
 * One training sample after preprocessing: metadata and annotations (@tsdet/data's
 * DetDataSample fits). `proposals` replaces the RPN when the detector has none.
 */
export interface TrainingSample extends PreprocessedSample {
  readonly gt_instances: BoxInstances;
  readonly ignored_instances?: BoxInstances;
  readonly proposals?: { readonly bboxes: Float32Array };
}

export interface DetectorLossOptions {
  /** PRNG of the RPN and RoI samplers; default the training stream globalRandom(). */
  random?: () => number;
  /** Filled with host copies of the intermediate results (proposals, RoI sampling, rois, head outputs). */
  trace?: DetectorLossTrace;
  /** Called as each stage ends (for profiling: wasm and cpu run ops synchronously). */
  onStage?: (stage: LossStage) => void;
}

/** The stages of TwoStageDetector.loss, in order. */
export type LossStage = 'features' | 'rpn_loss' | 'proposals' | 'roi_loss';

export interface DetectorLossTrace {
  /** Train-time proposals per image (train_cfg.rpn_proposal). */
  proposals?: InstanceResults[];
  roi?: RoILossTrace;
}

/**
 * What the detector needs of its data_preprocessor: @tsdet/data's DetDataPreprocessor fits
 * structurally, so @tsdet/models does not depend on @tsdet/data.
 */
export interface DataPreprocessor<Batch = unknown> {
  forward(data: Batch, training?: boolean): PreprocessedBatch;
}

export function isDataPreprocessor(value: unknown): value is DataPreprocessor {
  return typeof value === 'object' && value !== null && typeof (value as { forward?: unknown }).forward === 'function';
}

export interface TwoStageDetectorOptions {
  backbone: Backbone;
  neck?: Neck;
  rpnHead?: RPNHead;
  roiHead?: StandardRoIHead;
  dataPreprocessor?: DataPreprocessor | null;
  trainCfg?: TwoStageTrainConfig | null;
  testCfg?: TwoStageTestConfig | null;
  path?: string;
}

export interface DetectorPredictOptions {
  /** Detections in the original image frame (divided by each image's scale_factor). Default true, as mmdet. */
  rescale?: boolean;
  /** Pre-computed proposals per image (mmdet's data_sample.proposals); the RPN is skipped. */
  proposals?: readonly InstanceResults[];
}

export class TwoStageDetector extends Module implements TrainableModel {
  readonly backbone: Backbone;
  readonly neck: Neck | undefined;
  readonly rpnHead: RPNHead | undefined;
  readonly roiHead: StandardRoIHead | undefined;
  readonly dataPreprocessor: DataPreprocessor | null;
  readonly trainCfg: TwoStageTrainConfig | null;
  readonly testCfg: TwoStageTestConfig | null;
  readonly path: string;

  constructor(options: TwoStageDetectorOptions) {
    super();
    this.path = options.path ?? 'model';
    this.backbone = this.registerModule('backbone', options.backbone);
    this.neck = options.neck ? this.registerModule('neck', options.neck) : undefined;
    this.rpnHead = options.rpnHead ? this.registerModule('rpn_head', options.rpnHead) : undefined;
    this.roiHead = options.roiHead ? this.registerModule('roi_head', options.roiHead) : undefined;
    this.dataPreprocessor = options.dataPreprocessor ?? null;
    this.trainCfg = options.trainCfg ?? null;
    this.testCfg = options.testCfg ?? null;
  }

  /** Backbone then neck; the caller owns the returned levels. */
  extractFeat(batchInputs: tf.Tensor4D): tf.Tensor4D[] {
    return tf.tidy(() => {
      const feats = this.backbone.forward(batchInputs);
      return this.neck ? this.neck.forward(feats) : feats;
    });
  }

  /**
   * mmdet's TwoStageDetector.predict on a preprocessed NHWC batch: proposals (RPN, never
   * rescaled), then detections per image. Returns host arrays; no tensor outlives the call.
   */
  predict(batchInputs: tf.Tensor4D, metas: readonly ImageMeta[], options: DetectorPredictOptions = {}): InstanceResults[] {
    this.checkBatch(batchInputs, metas);
    const roiHead = this.requirePart(this.roiHead, 'roi_head');
    const feats = this.extractFeat(batchInputs);
    try {
      const proposals = options.proposals ?? this.requirePart(this.rpnHead, 'rpn_head').predict(feats, metas, { rescale: false });
      return roiHead.predict(feats, proposals, metas, { rescale: options.rescale ?? true });
    } finally {
      tf.dispose(feats);
    }
  }

  /**
   * mmdet's TwoStageDetector.loss on a preprocessed NHWC batch: features, the RPN's losses on
   * gts relabelled 0 and its proposals (train_cfg.rpn_proposal, else test_cfg.rpn; detached),
   * then the RoI head's losses. Keys as mmdet's: loss_rpn_cls / loss_rpn_bbox (one scalar per
   * level), loss_cls, acc, loss_bbox. The caller owns the returned scalars; nothing else outlives
   * the call. Call `train()` first, as with mmdet.
   */
  loss(batchInputs: tf.Tensor4D, samples: readonly TrainingSample[], options: DetectorLossOptions = {}): LossDict {
    const metas = samples.map((s, i) => imageMetaOf(s, i));
    this.checkBatch(batchInputs, metas);
    const roiHead = this.requirePart(this.roiHead, 'roi_head', 'training');
    const gts = samples.map((s, i) => gtInstancesOf(s, i));
    const ignores = samples.map((s) => s.ignored_instances);
    const random = options.random ?? globalRandom().uniform;
    const stage = options.onStage ?? (() => {});
    const feats = this.extractFeat(batchInputs);
    stage('features');
    const losses: LossDict = {};
    try {
      const proposals = this.rpnHead ? this.rpnLossAndProposals(this.rpnHead, feats, gts, metas, ignores, losses, { ...options, random }) : samples.map((s, i) => s.proposals ?? missingProposals(this.path, i));
      const roiTrace: RoILossTrace | undefined = options.trace ? (options.trace.roi = {}) : undefined;
      Object.assign(losses, roiHead.loss(feats, proposals, gts, ignores, { random, trace: roiTrace }));
      stage('roi_loss');
      return losses;
    } catch (error) {
      tf.dispose(Object.values(losses).flat());
      throw error;
    } finally {
      tf.dispose(feats);
    }
  }

  /**
   * mmengine's train_step up to the losses: the data preprocessor (training mode), then `loss`.
   * Meant to run inside the optimiser's gradient scope.
   */
  computeLosses(batch: unknown): LossDict {
    if (!this.dataPreprocessor) throw new Error(`${this.path}.data_preprocessor: computeLosses needs a data preprocessor (the config sets none; call loss with a preprocessed batch)`);
    const { inputs, data_samples: samples } = this.dataPreprocessor.forward(batch, true);
    try {
      if (!samples) throw new Error(`${this.path}.data_preprocessor: returned no data samples, so there are no annotations to learn from`);
      return this.loss(inputs, samples as readonly TrainingSample[]);
    } finally {
      inputs.dispose();
    }
  }

  /**
   * The RPN part of mmdet's loss (its loss_and_predict): losses on the gts relabelled 0 (added to
   * `losses`), then the train-time proposals, host arrays and therefore detached.
   */
  private rpnLossAndProposals(rpnHead: RPNHead, feats: readonly tf.Tensor4D[], gts: readonly BoxInstances[], metas: readonly ImageMeta[], ignores: readonly (BoxInstances | undefined)[], losses: LossDict, options: DetectorLossOptions & { random: () => number }): InstanceResults[] {
    const stage = options.onStage ?? (() => {});
    const rpnGts = gts.map((g) => ({ bboxes: g.bboxes, labels: new Int32Array(g.labels.length) }));
    const { clsScores, bboxPreds } = rpnHead.forward(feats);
    try {
      Object.assign(losses, rpnHead.lossByFeat(clsScores, bboxPreds, rpnGts, metas, ignores, { random: options.random }));
      stage('rpn_loss');
      const proposals = rpnHead.predictByFeat(clsScores, bboxPreds, metas, { cfg: this.proposalConfig(), rescale: false });
      stage('proposals');
      if (options.trace) options.trace.proposals = proposals;
      return proposals;
    } finally {
      tf.dispose([...clsScores, ...bboxPreds]);
    }
  }

  /** train_cfg.rpn_proposal, else test_cfg.rpn (mmdet's fallback). */
  private proposalConfig() {
    const cfg = this.trainCfg?.rpn_proposal ?? this.testCfg?.rpn;
    if (!cfg) throw new Error(`${this.path}.train_cfg.rpn_proposal: training with an RPN needs the train-time proposal settings (or test_cfg.rpn)`);
    return cfg;
  }

  /** mmengine's test_step: the data preprocessor (from the config), then predict with rescale. */
  testStep(batch: unknown): InstanceResults[] {
    if (!this.dataPreprocessor) throw new Error(`${this.path}.data_preprocessor: testStep needs a data preprocessor (the config sets none; call predict with a preprocessed batch)`);
    const { inputs, data_samples: samples } = this.dataPreprocessor.forward(batch, false);
    try {
      if (!samples) throw new Error(`${this.path}.data_preprocessor: returned no data samples, so there is no image metadata to predict with`);
      return this.predict(inputs, samples.map((s, i) => imageMetaOf(s, i)));
    } finally {
      inputs.dispose();
    }
  }

  private checkBatch(batchInputs: tf.Tensor4D, metas: readonly ImageMeta[]): void {
    if (batchInputs.rank !== 4) throw new Error(`${this.path}: predict takes an NHWC batch (rank 4), got shape [${batchInputs.shape.join(', ')}]`);
    if (metas.length !== batchInputs.shape[0]) throw new Error(`${this.path}: ${metas.length} image metas for a batch of ${batchInputs.shape[0]}`);
  }

  private requirePart<T>(part: T | undefined, key: string, what = 'predicting'): T {
    if (!part) throw new Error(`${this.path}.${key}: ${what} needs a ${key} (the config sets none)`);
    return part;
  }
}

/** mmdet's FasterRCNN: a TwoStageDetector whose backbone, RPN and RoI head are required. */
export class FasterRCNN extends TwoStageDetector {}

function missingProposals(path: string, image: number): never {
  throw new Error(`${path}: without an rpn_head, training needs precomputed proposals (data sample ${image} has no proposals)`);
}

/** A sample's gt_instances, checked: boxes flat [k * 4] with one label each. */
function gtInstancesOf(sample: TrainingSample, index: number): BoxInstances {
  const gt = sample.gt_instances as BoxInstances | undefined;
  if (!gt || !(gt.bboxes instanceof Float32Array) || !(gt.labels instanceof Int32Array)) {
    throw new Error(`data sample ${index}: gt_instances must have bboxes (Float32Array, x1 y1 x2 y2 rows) and labels (Int32Array); load annotations (LoadAnnotations, PackDetInputs)`);
  }
  if (gt.bboxes.length !== gt.labels.length * 4) throw new Error(`data sample ${index}: gt_instances has ${gt.bboxes.length / 4} boxes but ${gt.labels.length} labels`);
  return gt;
}

function isShape2(value: unknown): value is Shape2 {
  return Array.isArray(value) && value.length >= 2 && value.slice(0, 2).every((v) => typeof v === 'number');
}

/** A preprocessed sample's metainfo as ImageMeta; img_shape is required, the rest checked when present. */
export function imageMetaOf(sample: PreprocessedSample, index: number): ImageMeta {
  const info = sample.metainfo;
  const shape = (key: string): Shape2 | undefined => {
    const value = info[key];
    if (value === undefined || value === null) return undefined;
    if (!isShape2(value)) throw new Error(`data sample ${index}: metainfo.${key} must be a (h, w) pair, got ${JSON.stringify(value)}`);
    return [value[0], value[1]];
  };
  const imgShape = shape('img_shape');
  if (!imgShape) throw new Error(`data sample ${index}: metainfo has no img_shape (the Resize / LoadImageFromFile transforms set it)`);
  const scaleFactor = shape('scale_factor');
  return { img_shape: imgShape, ori_shape: shape('ori_shape'), scale_factor: scaleFactor, pad_shape: shape('pad_shape'), batch_input_shape: shape('batch_input_shape') };
}
