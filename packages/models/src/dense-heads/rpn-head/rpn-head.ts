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
import { Module } from '@tsdet/core';
import { hostScoped, type BBoxCoder } from '../../detectors/parts.js';
import { requireScaleFactor, unscaleBoxes, type ImageMeta, type InstanceResults } from '../../detectors/structures.js';
import type { ProposalConfig, RpnTrainConfig } from '../../detectors/train-test-cfg.schema.js';
import { ConvModule } from '../../layers/conv-module.js';
import { Conv2d } from '../../layers/conv2d.js';
import { normalInit } from '../../layers/init.js';
import type { ClassificationLoss, RegressionLoss } from '../../losses/index.js';
import type { AnchorGenerator, Size2 } from '../../task-modules/anchor-generator/anchor-generator.js';
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
  readonly path: string;

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
    const anchors = sizes.map((size, level) => this.anchorGenerator.levelPriors(size, level));
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
