/**
 * mmcv's NonLocal2d ("Non-local Neural Networks", mmdet-reference §2.4): every position gathers
 * g(x) from all positions, weighted by a pairwise function of theta(x) and phi(x), and the result
 * goes through conv_out and back onto x.
 *
 * Child names and state-dict keys are mmcv's: `g`, `conv_out`, `theta`, `phi` (ConvModules, so
 * `g.conv.weight`), `concat_project` in concatenation mode, and with sub_sample the
 * nn.Sequential(conv, MaxPool2d(2)) wrappers `g.0.conv.*` / `phi.0.conv.*`.
 *
 * NHWC reshaped to [N, H*W, C] orders positions as y * W + x, exactly as PyTorch's
 * x.view(N, C, H*W) does, so every pairwise matrix here is mmcv's, transposed where mmcv keeps
 * channels first.
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineComponent, Module } from '@tsdet/core';
import { ConvModule } from '../layers/conv-module.js';
import { normalInit } from '../layers/init.js';
import { normConfigSchema, type NormConfig } from '../layers/norm.js';
import { pluginSchema, type PluginModule } from './plugin.js';

export const NON_LOCAL_MODES = ['embedded_gaussian', 'gaussian', 'dot_product', 'concatenation'] as const;
export type NonLocalMode = (typeof NON_LOCAL_MODES)[number];

export interface NonLocal2dOptions {
  inChannels: number;
  /** inter_channels = max(floor(inChannels / reduction), 1); default 2. */
  reduction?: number;
  /** Divide embedded_gaussian logits by sqrt(inter_channels); default true. */
  useScale?: boolean;
  /** Norm of conv_out only; default none. */
  normCfg?: NormConfig | null;
  /** Default 'embedded_gaussian'. */
  mode?: NonLocalMode;
  /** Max-pool (2x2) the g and phi branches; default false. */
  subSample?: boolean;
  /** Std of the normal init of g/theta/phi (and of conv_out without zeros_init); default 0.01. */
  std?: number;
  /** conv_out (or its norm) starts at 0, so a fresh block is an identity; default true. */
  zerosInit?: boolean;
}

export interface NonLocal2dConfig {
  in_channels: number;
  sub_sample: boolean;
  conv_cfg: { type: 'Conv2d' | 'Conv' } | null;
  reduction: number;
  use_scale: boolean;
  norm_cfg: NormConfig | null;
  mode: NonLocalMode;
  std: number;
  zeros_init: boolean;
  postfix?: string | number;
}

/** nn.MaxPool2d(kernel_size=(2, 2)): stride 2, no padding, floor((n - 2) / 2) + 1 outputs. */
export class MaxPool2d extends Module {
  readonly kernelSize: [number, number] = [2, 2];

  forward(x: tf.Tensor4D): tf.Tensor4D {
    // PyTorch's stride defaults to the kernel size.
    return tf.maxPool(x, this.kernelSize, this.kernelSize, 'valid');
  }
}

/** nn.Sequential(ConvModule, MaxPool2d(2)): the sub-sampled g / phi branch, children `0` and `1`. */
export class PooledConv extends Module {
  readonly conv: ConvModule;
  readonly pool: MaxPool2d;

  constructor(conv: ConvModule) {
    super();
    this.conv = this.registerModule('0', conv);
    this.pool = this.registerModule('1', new MaxPool2d());
  }

  override get typeName(): string {
    return 'Sequential';
  }

  /** The layers in order, as indexing an nn.Sequential gives them. */
  get layers(): [ConvModule, MaxPool2d] {
    return [this.conv, this.pool];
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.pool.forward(this.conv.forward(x)));
  }
}

type Branch = ConvModule | PooledConv;

export class NonLocal2d extends Module implements PluginModule {
  readonly inChannels: number;
  readonly interChannels: number;
  readonly reduction: number;
  readonly useScale: boolean;
  readonly mode: NonLocalMode;
  readonly subSample: boolean;
  readonly g: Branch;
  readonly convOut: ConvModule;
  /** Absent in gaussian mode, which compares x with itself. */
  readonly theta: ConvModule | undefined;
  /** In gaussian mode: a MaxPool2d with sub_sample, else absent. */
  readonly phi: Branch | MaxPool2d | undefined;
  readonly concatProject: ConvModule | undefined;

  constructor(options: NonLocal2dOptions) {
    super();
    this.inChannels = options.inChannels;
    this.reduction = options.reduction ?? 2;
    this.interChannels = Math.max(Math.floor(this.inChannels / this.reduction), 1);
    this.useScale = options.useScale ?? true;
    this.mode = options.mode ?? 'embedded_gaussian';
    this.subSample = options.subSample ?? false;
    if (!NON_LOCAL_MODES.includes(this.mode)) throw new Error(`NonLocal2d: mode must be one of ${NON_LOCAL_MODES.join(', ')}, got '${this.mode}'`);
    const normCfg = options.normCfg ?? null;
    const std = options.std ?? 0.01;
    const pointwise = (inChannels: number, outChannels: number, norm: NormConfig | null = null) =>
      new ConvModule({ inChannels, outChannels, kernelSize: 1, normCfg: norm, actCfg: null });

    // mmcv's order: g, conv_out, theta, phi, concat_project; sub_sample wraps g and phi afterwards.
    const g = pointwise(this.inChannels, this.interChannels);
    const convOut = pointwise(this.interChannels, this.inChannels, normCfg);
    const theta = this.mode === 'gaussian' ? undefined : pointwise(this.inChannels, this.interChannels);
    const phi = this.mode === 'gaussian' ? undefined : pointwise(this.inChannels, this.interChannels);
    for (const branch of [g, theta, phi]) if (branch) initNormal(branch.conv.weight, branch.conv.bias, std);
    initConvOut(convOut, options.zerosInit ?? true, std);

    this.g = this.registerModule('g', this.subSample ? new PooledConv(g) : g);
    this.convOut = this.registerModule('conv_out', convOut);
    if (theta) this.theta = this.registerModule('theta', theta);
    if (phi) this.phi = this.registerModule('phi', this.subSample ? new PooledConv(phi) : phi);
    else if (this.subSample) this.phi = this.registerModule('phi', new MaxPool2d());
    if (this.mode === 'concatenation') {
      // mmcv builds it with bias=False and a ReLU, and leaves ConvModule's Kaiming init.
      this.concatProject = this.registerModule(
        'concat_project',
        new ConvModule({ inChannels: this.interChannels * 2, outChannels: 1, kernelSize: 1, bias: false, actCfg: { type: 'ReLU' } }),
      );
    }
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, h, w] = x.shape;
      const gX = flattenPositions(this.g.forward(x)); // [N, P', inter]
      const pairwise = this.#pairwiseWeight(x); // [N, P, P']
      const y = tf.reshape(tf.matMul(pairwise, gX), [n, h, w, this.interChannels]) as tf.Tensor4D;
      return tf.add(x, this.convOut.forward(y)) as tf.Tensor4D;
    });
  }

  /** mmcv's pairwise_weight [N, P, P'] for the configured mode. */
  #pairwiseWeight(x: tf.Tensor4D): tf.Tensor3D {
    if (this.mode === 'gaussian') {
      const thetaX = flattenPositions(x);
      const phiX = flattenPositions(this.phi ? this.phi.forward(x) : x);
      return tf.softmax(tf.matMul(thetaX, phiX, false, true));
    }
    const thetaX = flattenPositions(this.theta!.forward(x)); // [N, P, inter]
    const phiX = flattenPositions(this.phi!.forward(x)); // [N, P', inter]
    switch (this.mode) {
      case 'embedded_gaussian': {
        const logits = tf.matMul(thetaX, phiX, false, true);
        return tf.softmax(this.useScale ? tf.div<tf.Tensor3D>(logits, Math.sqrt(this.interChannels)) : logits) as tf.Tensor3D;
      }
      case 'dot_product': {
        const product = tf.matMul(thetaX, phiX, false, true);
        return tf.div(product, phiX.shape[1]);
      }
      case 'concatenation':
        return this.#concatenation(thetaX, phiX);
    }
  }

  /**
   * concat_project([theta_i, phi_j]) for every pair (i, j), divided by P'. The pair grid is a
   * [N, P, P', 2 * inter] image, channel-last, with theta's channels first as in mmcv's torch.cat.
   */
  #concatenation(thetaX: tf.Tensor3D, phiX: tf.Tensor3D): tf.Tensor3D {
    const [n, p, inter] = thetaX.shape;
    const pKv = phiX.shape[1];
    const thetaGrid = tf.tile(tf.reshape(thetaX, [n, p, 1, inter]), [1, 1, pKv, 1]);
    const phiGrid = tf.tile(tf.reshape(phiX, [n, 1, pKv, inter]), [1, p, 1, 1]);
    const projected = this.concatProject!.forward(tf.concat([thetaGrid, phiGrid], 3) as tf.Tensor4D);
    return tf.div(tf.reshape(projected, [n, p, pKv]), pKv);
  }
}

/** NHWC [N, H, W, C] -> [N, H*W, C] (position y * W + x). */
function flattenPositions(t: tf.Tensor4D): tf.Tensor3D {
  const [n, h, w, c] = t.shape;
  return tf.reshape(t, [n, h * w, c]);
}

/** mmengine normal_init: weight ~ N(0, std), bias 0. */
function initNormal(weight: tf.Variable, bias: tf.Variable | undefined, std: number): void {
  tf.tidy(() => {
    weight.assign(normalInit(weight.shape, std));
    bias?.assign(tf.zerosLike(bias));
  });
}

/** mmcv: zeros_init zeroes conv_out's conv, or its norm when it has one; else normal(std) on the same. */
function initConvOut(convOut: ConvModule, zerosInit: boolean, std: number): void {
  const target = convOut.norm ?? convOut.conv;
  const weight = target.namedParameters().find(([name]) => name === 'weight')![1].variable;
  const bias = target.namedParameters().find(([name]) => name === 'bias')?.[1].variable;
  if (!zerosInit) return initNormal(weight, bias, std);
  tf.tidy(() => {
    weight.assign(tf.zerosLike(weight));
    bias?.assign(tf.zerosLike(bias));
  });
}

export const nonLocal2dDescriptor = defineComponent<NonLocal2dConfig, NonLocal2d>({
  type: 'NonLocal2d',
  abbreviation: 'nonlocal_block',
  description: 'non-local block (mmcv NonLocal2d)',
  schema: pluginSchema({
    sub_sample: { type: 'boolean', default: false },
    conv_cfg: {
      type: ['object', 'null'],
      properties: { type: { enum: ['Conv2d', 'Conv'] } },
      required: ['type'],
      additionalProperties: false,
      default: { type: 'Conv2d' },
      description: 'only plain convolutions',
    },
    reduction: { type: 'integer', minimum: 1, default: 2 },
    use_scale: { type: 'boolean', default: true },
    norm_cfg: { ...normConfigSchema, type: ['object', 'null'], default: null, description: 'norm of conv_out only' },
    mode: { enum: [...NON_LOCAL_MODES], default: 'embedded_gaussian' },
    std: { type: 'number', minimum: 0, default: 0.01, description: 'std of the normal init (mmcv init_weights kwarg)' },
    zeros_init: { type: 'boolean', default: true },
  }),
  build: (cfg) =>
    new NonLocal2d({
      inChannels: cfg.in_channels,
      reduction: cfg.reduction,
      useScale: cfg.use_scale,
      normCfg: cfg.norm_cfg,
      mode: cfg.mode,
      subSample: cfg.sub_sample,
      std: cfg.std,
      zerosInit: cfg.zeros_init,
    }),
});
