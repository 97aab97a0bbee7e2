/**
 * mmdet's RPNHead (mmdet-reference §4.4): one head shared by every FPN level, 3x3 conv + ReLU,
 * then a 1x1 objectness conv (A channels with sigmoid scores, 2A with softmax) and a 1x1 delta
 * conv (4A channels, channel a * 4 + k). State-dict keys are mmdet's: `rpn_conv.*` (or
 * `rpn_conv.{i}.conv.*` with num_convs > 1), `rpn_cls.*`, `rpn_reg.*`.
 *
 * NHWC helps here: an output [N, H, W, A * c] reshaped to [-1, c] has its rows in (y, x, a)
 * order, which is the order of mmdet's permute(1, 2, 0).reshape(-1, c) and of the anchors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { globalRandom, Module } from '@tsdet/core';
import { hostScoped, type BBoxCoder } from '../../detectors/parts.js';
import { requireScaleFactor, unscaleBoxes, type BoxInstances, type ImageMeta, type InstanceResults, type Shape2 } from '../../detectors/structures.js';
import type { ProposalConfig, RpnTrainConfig } from '../../detectors/train-test-cfg.schema.js';
import { ConvModule } from '../../layers/conv-module.js';
import { Conv2d } from '../../layers/conv2d.js';
import { prefoldConvNormChildren } from '../../layers/fused-conv-bn.js';
import { normalInit } from '../../layers/init.js';
import type { ClassificationLoss, RegressionLoss } from '../../losses/index.js';
import type { AnchorGenerator, Size2 } from '../../task-modules/anchor-generator/anchor-generator.js';
import type { PriorAssigner } from '../../task-modules/assigners/assigner.js';
import { PseudoSampler } from '../../task-modules/samplers/pseudo-sampler.js';
import type { PriorSampler } from '../../task-modules/samplers/sampler.js';
import { anchorSetOf, batchAnchorTargets, imageAnchorTargets, type AnchorSet, type BatchAnchorTargets } from './anchor-targets.js';
import { filterAndSuppress, selectTopPerLevel, type LevelCandidates } from './proposals.js';
import type { NormalInitConfig } from './rpn-head.schema.js';

export interface RPNHeadOptions {
  inChannels: number;
  featChannels: number;
  numConvs: number;
  anchorGenerator: AnchorGenerator;
  bboxCoder: BBoxCoder;
  lossCls: ClassificationLoss;
  lossBbox: RegressionLoss;
  regDecodedBbox?: boolean;
  trainCfg?: RpnTrainConfig | null;
  /** Built from train_cfg.assigner; training needs it. */
  assigner?: PriorAssigner | null;
  /** Built from train_cfg.sampler; without one, a PseudoSampler (as mmdet). */
  sampler?: PriorSampler | null;
  testCfg?: ProposalConfig | null;
  initCfg?: NormalInitConfig | null;
  /** Config path named in errors. */
  path?: string;
}

/** Per level, NHWC: objectness [N, H, W, A * c] and deltas [N, H, W, A * 4]. */
export interface RPNOutputs {
  clsScores: tf.Tensor4D[];
  bboxPreds: tf.Tensor4D[];
}

/** mmdet's RPN loss dict: one scalar per FPN level for each term (parseLosses sums them). */
// A type, not an interface, so that tf.tidy accepts it as a TensorContainer.
export type RPNLosses = {
  loss_rpn_cls: tf.Scalar[];
  loss_rpn_bbox: tf.Scalar[];
};

export interface RPNLossOptions {
  /** PRNG of the sampler; default the training stream globalRandom(). */
  random?: () => number;
}

export interface RPNPredictOptions {
  /** Proposal settings; default the head's test_cfg. */
  cfg?: ProposalConfig;
  /** Divide the proposals by each image's scale_factor (a two-stage detector passes false). */
  rescale?: boolean;
}

/** nn.Sequential of ConvModules (num_convs > 1): children 0, 1, ... as in the state dict. */
class ConvStack extends Module {
  readonly layers: ConvModule[];

  constructor(inChannels: number, channels: number, count: number) {
    super();
    this.layers = Array.from({ length: count }, (_, i) =>
      this.registerModule(String(i), new ConvModule({ inChannels: i === 0 ? inChannels : channels, outChannels: channels, kernelSize: 3, padding: 1 })),
    );
  }

  override get typeName(): string {
    return 'Sequential';
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.layers.reduce((h, layer) => layer.forward(h), x));
  }
}

/** An RPN has one class (objectness); background is label num_classes = 1. */
const RPN_BACKGROUND_LABEL = 1;

export class RPNHead extends Module {
  readonly inChannels: number;
  readonly featChannels: number;
  readonly anchorGenerator: AnchorGenerator;
  readonly bboxCoder: BBoxCoder;
  readonly lossCls: ClassificationLoss;
  readonly lossBbox: RegressionLoss;
  readonly regDecodedBbox: boolean;
  readonly trainCfg: RpnTrainConfig | null;
  readonly testCfg: ProposalConfig | null;
  /** 1 with sigmoid scores, 2 (object, background) with softmax. */
  readonly clsOutChannels: number;
  readonly rpnConv: Conv2d | ConvStack;
  readonly rpnCls: Conv2d;
  readonly rpnReg: Conv2d;
  readonly assigner: PriorAssigner | null;
  readonly sampler: PriorSampler;
  readonly path: string;
  /** Anchors per feature-map configuration: the same image sizes recur every step. */
  readonly #anchorCache = new Map<string, AnchorSet>();

  constructor(options: RPNHeadOptions) {
    super();
    this.path = options.path ?? 'rpn_head';
    this.inChannels = options.inChannels;
    this.featChannels = options.featChannels;
    this.anchorGenerator = options.anchorGenerator;
    this.bboxCoder = options.bboxCoder;
    if (this.bboxCoder.encodeSize !== 4) throw new Error(`${this.path}.bbox_coder: RPNHead regresses 4 values per anchor, the coder encodes ${this.bboxCoder.encodeSize}`);
    this.lossCls = options.lossCls;
    this.lossBbox = options.lossBbox;
    this.regDecodedBbox = options.regDecodedBbox ?? false;
    this.trainCfg = options.trainCfg ?? null;
    this.testCfg = options.testCfg ?? null;
    this.assigner = options.assigner ?? null;
    this.sampler = options.sampler ?? new PseudoSampler();
    this.clsOutChannels = this.lossCls.useSigmoid ? 1 : 2;
    const anchors = this.numBasePriors;
    this.rpnConv = this.registerModule(
      'rpn_conv',
      options.numConvs > 1 ? new ConvStack(options.inChannels, options.featChannels, options.numConvs) : new Conv2d({ inChannels: options.inChannels, outChannels: options.featChannels, kernelSize: 3, padding: 1, bias: true }),
    );
    this.rpnCls = this.registerModule('rpn_cls', new Conv2d({ inChannels: options.featChannels, outChannels: anchors * this.clsOutChannels, kernelSize: 1, bias: true }));
    this.rpnReg = this.registerModule('rpn_reg', new Conv2d({ inChannels: options.featChannels, outChannels: anchors * 4, kernelSize: 1, bias: true }));
    if (options.initCfg !== null) initConvsNormal(this, options.initCfg ?? { type: 'Normal', layer: 'Conv2d', mean: 0, std: 0.01, bias: 0 });
  }

  /** Entering eval mode: prepare rpn_conv's inference weights now (its Winograd transform). */
  protected override onModeChanged(training: boolean): void {
    if (!training) prefoldConvNormChildren(this);
  }

  /** Anchors per location, the same on every level (mmdet asserts it). */
  get numBasePriors(): number {
    const counts = new Set(this.anchorGenerator.numBasePriors);
    if (counts.size !== 1) throw new Error(`${this.path}.anchor_generator: every level must have the same number of anchors per location, got [${this.anchorGenerator.numBasePriors.join(', ')}]`);
    return this.anchorGenerator.numBasePriors[0]!;
  }

  /** One level: conv -> ReLU -> (objectness, deltas). */
  forwardSingle(x: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
    return tf.tidy(() => {
      // A single conv fuses its ReLU; a stack of ConvModules applies its own.
      const h = this.rpnConv instanceof Conv2d ? this.rpnConv.forward(x, 'relu') : tf.relu(this.rpnConv.forward(x));
      return [this.rpnCls.forward(h), this.rpnReg.forward(h)];
    });
  }

  /** Every level (NHWC); the caller owns the outputs. */
  forward(feats: readonly tf.Tensor4D[]): RPNOutputs {
    this.checkLevels(feats.length);
    feats.forEach((x, level) => {
      if (x.shape[3] !== this.inChannels) throw new Error(`${this.path}: level ${level} has ${x.shape[3]} channels, in_channels is ${this.inChannels}`);
    });
    return tf.tidy(() => {
      const outputs = feats.map((x) => this.forwardSingle(x));
      return { clsScores: outputs.map(([c]) => c), bboxPreds: outputs.map(([, b]) => b) };
    });
  }

  /** mmdet's predict: forward, then proposals per image (host arrays, detached as in mmdet). */
  predict(feats: readonly tf.Tensor4D[], metas: readonly ImageMeta[], options: RPNPredictOptions = {}): InstanceResults[] {
    const { clsScores, bboxPreds } = this.forward(feats);
    try {
      return this.predictByFeat(clsScores, bboxPreds, metas, options);
    } finally {
      tf.dispose([...clsScores, ...bboxPreds]);
    }
  }

  /** mmdet's predict_by_feat: proposals of every image from the per-level outputs. */
  predictByFeat(clsScores: readonly tf.Tensor4D[], bboxPreds: readonly tf.Tensor4D[], metas: readonly ImageMeta[], options: RPNPredictOptions = {}): InstanceResults[] {
    const cfg = options.cfg ?? this.testCfg;
    if (!cfg) throw new Error(`${this.path}: no proposal settings (test_cfg.rpn of the detector, or cfg in the call)`);
    this.checkLevels(clsScores.length);
    if (bboxPreds.length !== clsScores.length) throw new Error(`${this.path}: ${clsScores.length} score levels but ${bboxPreds.length} delta levels`);
    const batch = clsScores[0]!.shape[0];
    if (metas.length !== batch) throw new Error(`${this.path}: ${metas.length} image metas for a batch of ${batch}`);
    const sizes = clsScores.map((c): Size2 => [c.shape[1], c.shape[2]]);
    const anchors = this.anchorsFor(sizes).levels;
    const scores = clsScores.map((c) => this.objectness(c));
    const deltas = bboxPreds.map((b) => b.dataSync() as Float32Array);
    return metas.map((meta, image) => {
      const levels = sizes.map((_, level): LevelCandidates => {
        const count = anchors[level]!.length / 4;
        return { scores: scores[level]!.subarray(image * count, (image + 1) * count), deltas: deltas[level]!.subarray(image * count * 4, (image + 1) * count * 4), anchors: anchors[level]! };
      });
      return this.predictSingle(levels, meta, image, cfg, options.rescale ?? false);
    });
  }

  /**
   * mmdet's loss_and_predict: forward, the losses, and the proposals of `proposalCfg`
   * (train_cfg.rpn_proposal), which are host arrays and so detached. The caller owns the losses.
   */
  lossAndPredict(feats: readonly tf.Tensor4D[], gts: readonly BoxInstances[], metas: readonly ImageMeta[], ignores: readonly (BoxInstances | undefined)[], proposalCfg: ProposalConfig, options: RPNLossOptions = {}): { losses: RPNLosses; proposals: InstanceResults[] } {
    const { clsScores, bboxPreds } = this.forward(feats);
    try {
      const losses = this.lossByFeat(clsScores, bboxPreds, gts, metas, ignores, options);
      return { losses, proposals: this.predictByFeat(clsScores, bboxPreds, metas, { cfg: proposalCfg, rescale: false }) };
    } finally {
      tf.dispose([...clsScores, ...bboxPreds]);
    }
  }

  /**
   * mmdet's AnchorHead.loss_by_feat: anchor targets of every image (host), then per level the
   * classification loss over anchors with label weights and the regression loss of the positives'
   * deltas, both divided by avg_factor = Σ SamplingResult.avg_factor. `gts` carry the RPN's labels
   * (all 0: the detector zeroes them, as mmdet does).
   */
  lossByFeat(clsScores: readonly tf.Tensor4D[], bboxPreds: readonly tf.Tensor4D[], gts: readonly BoxInstances[], metas: readonly ImageMeta[], ignores: readonly (BoxInstances | undefined)[], options: RPNLossOptions = {}): RPNLosses {
    this.checkLevels(clsScores.length);
    const anchors = this.anchorsFor(clsScores.map((c): Size2 => [c.shape[1], c.shape[2]]));
    const targets = this.batchTargets(anchors, gts, metas, ignores, options.random ?? globalRandom().uniform);
    return tf.tidy(() => {
      const regTargets = this.regressionTargets(targets, anchors.all.length / 4, metas.length);
      const losses: RPNLosses = { loss_rpn_cls: [], loss_rpn_bbox: [] };
      targets.levelRows.forEach(({ start, count }, level) => {
        const cls = tf.reshape(clsScores[level]!, [-1, this.clsOutChannels]);
        const labels = tf.tensor1d(targets.labels.subarray(start, start + count), 'int32');
        const labelWeights = tf.tensor1d(targets.labelWeights.subarray(start, start + count));
        losses.loss_rpn_cls.push(this.lossCls.forward(cls, labels, { weight: labelWeights, avgFactor: targets.avgFactor }) as tf.Scalar);
        const deltas = tf.reshape(bboxPreds[level]!, [-1, 4]) as tf.Tensor2D;
        const pred = this.regDecodedBbox ? this.bboxCoder.decode(tf.tile(tf.tensor2d(anchors.levels[level]!, [anchors.counts[level]!, 4]), [metas.length, 1]) as tf.Tensor2D, deltas) : deltas;
        const weights = tf.tensor2d(targets.bboxWeights.subarray(4 * start, 4 * (start + count)), [count, 4]);
        losses.loss_rpn_bbox.push(this.lossBbox.forward(pred, tf.slice(regTargets, [start, 0], [count, 4]), { weight: weights, avgFactor: targets.avgFactor }) as tf.Scalar);
      });
      return losses;
    });
  }

  /** Assignment and sampling per image on the host, laid out for the per-level losses. */
  private batchTargets(anchors: AnchorSet, gts: readonly BoxInstances[], metas: readonly ImageMeta[], ignores: readonly (BoxInstances | undefined)[], random: () => number): BatchAnchorTargets {
    const cfg = this.trainCfg;
    if (!cfg || !this.assigner) throw new Error(`${this.path}: computing losses needs train_cfg (the detector's train_cfg.rpn with an assigner)`);
    if (gts.length !== metas.length) throw new Error(`${this.path}: ${gts.length} gt instance lists for ${metas.length} images`);
    const options = { assigner: this.assigner, sampler: this.sampler, allowedBorder: cfg.allowed_border, posWeight: cfg.pos_weight, backgroundLabel: RPN_BACKGROUND_LABEL, random };
    const images = metas.map((meta, image) => imageAnchorTargets(anchors, this.validFlagsFor(anchors, meta), meta.img_shape, gts[image]!, ignores[image], options));
    return batchAnchorTargets(images, anchors);
  }

  /**
   * [rows, 4] regression targets: the positives' encoded deltas (or their gt boxes with
   * reg_decoded_bbox) scattered into zeros, encoded in one call for the whole batch.
   */
  private regressionTargets(targets: BatchAnchorTargets, anchorsPerImage: number, batch: number): tf.Tensor2D {
    const rows = anchorsPerImage * batch;
    const numPos = targets.posRows.length;
    if (numPos === 0) return tf.zeros([rows, 4]);
    const gtBoxes = tf.tensor2d(targets.posGtBboxes, [numPos, 4]);
    const values = this.regDecodedBbox ? gtBoxes : this.bboxCoder.encode(tf.tensor2d(targets.posAnchors, [numPos, 4]), gtBoxes);
    return tf.scatterND(tf.tensor2d(targets.posRows, [numPos, 1], 'int32'), values, [rows, 4]) as tf.Tensor2D;
  }

  /** The anchors of these feature-map sizes (cached: they depend on nothing else). */
  private anchorsFor(sizes: readonly Size2[]): AnchorSet {
    const key = sizes.map((s) => s.join('x')).join(',');
    let set = this.#anchorCache.get(key);
    if (!set) {
      set = anchorSetOf(sizes.map((size, level) => this.anchorGenerator.levelPriors(size, level)), sizes);
      if (this.#anchorCache.size > 64) this.#anchorCache.clear();
      this.#anchorCache.set(key, set);
    }
    return set;
  }

  /** mmdet's valid_flags for one image, from its pad_shape (locations over the batch padding are invalid). */
  private validFlagsFor(anchors: AnchorSet, meta: ImageMeta): Uint8Array {
    const padShape: Shape2 = meta.pad_shape ?? meta.batch_input_shape ?? meta.img_shape;
    const flags = new Uint8Array(anchors.all.length / 4);
    anchors.sizes.forEach((size, level) => flags.set(this.anchorGenerator.levelValidFlags(size, padShape, level), anchors.starts[level]!));
    return flags;
  }

  /** _predict_by_feat_single: top nms_pre per level, decode clipped to img_shape, filter, level-wise NMS. */
  private predictSingle(levels: LevelCandidates[], meta: ImageMeta, image: number, cfg: ProposalConfig, rescale: boolean): InstanceResults {
    const selected = selectTopPerLevel(levels, cfg.nms_pre);
    const decoded = this.decode(selected.anchors, selected.deltas, meta.img_shape);
    const boxes = rescale ? unscaleBoxes(decoded, requireScaleFactor(meta, image)) : decoded;
    return filterAndSuppress(boxes, selected.scores, selected.levelIds, cfg);
  }

  private decode(anchors: Float32Array, deltas: Float32Array, imgShape: readonly [number, number]): Float32Array {
    const n = anchors.length / 4;
    if (n === 0) return new Float32Array(0);
    return hostScoped(() => this.bboxCoder.decode(tf.tensor2d(anchors, [n, 4]), tf.tensor2d(deltas, [n, 4]), { maxShape: [imgShape[0], imgShape[1]] }).dataSync() as Float32Array);
  }

  /** Objectness per anchor for the whole batch, rows (b, y, x, a): sigmoid, or softmax's first column. */
  private objectness(clsScore: tf.Tensor4D): Float32Array {
    return hostScoped(() => {
      if (this.clsOutChannels === 1) return tf.sigmoid(clsScore).dataSync() as Float32Array;
      const probabilities = tf.softmax(tf.reshape(clsScore, [-1, 2]));
      return tf.slice(probabilities, [0, 0], [-1, 1]).dataSync() as Float32Array;
    });
  }

  private checkLevels(count: number): void {
    if (count !== this.anchorGenerator.numLevels) {
      throw new Error(`${this.path}: got ${count} feature levels, the anchor generator has ${this.anchorGenerator.numLevels} strides`);
    }
  }
}

/** mmengine's NormalInit on every Conv2d of `module`: weight ~ N(mean, std), bias constant. */
function initConvsNormal(module: Module, cfg: NormalInitConfig): void {
  for (const [, m] of module.namedModules()) {
    if (!(m instanceof Conv2d)) continue;
    // assign shares the new tensor's data; the tidy frees the temporary handle.
    tf.tidy(() => {
      m.weight.assign(normalInit(m.weight.shape, cfg.std, cfg.mean));
      m.bias?.assign(tf.fill(m.bias.shape, cfg.bias));
    });
  }
}
