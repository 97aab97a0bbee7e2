/**
 * mmcv's ContextBlock (GCNet, mmdet-reference §2.2): a global context vector, pooled with a
 * learned spatial softmax ('att') or a plain mean ('avg'), is transformed by a bottleneck
 * (conv, LayerNorm, ReLU, conv) and added to and/or multiplied into every position.
 *
 * Child names and state-dict keys are mmcv's: `conv_mask`, `channel_add_conv.{0,1,3}`,
 * `channel_mul_conv.{0,1,3}` (index 2 is the parameter-free ReLU of the nn.Sequential).
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineComponent, Module } from '@tsdet/core';
import { Conv2d } from '../layers/conv2d.js';
import { LayerNorm } from '../layers/norm.js';
import { pluginSchema, type PluginModule } from './plugin.js';

export const CONTEXT_POOLING_TYPES = ['att', 'avg'] as const;
export type ContextPoolingType = (typeof CONTEXT_POOLING_TYPES)[number];
export const CONTEXT_FUSION_TYPES = ['channel_add', 'channel_mul'] as const;
export type ContextFusionType = (typeof CONTEXT_FUSION_TYPES)[number];

export interface ContextBlockOptions {
  inChannels: number;
  /** Bottleneck width is floor(inChannels * ratio), as Python's int(). */
  ratio: number;
  /** Default 'att'. */
  poolingType?: ContextPoolingType;
  /** Default ['channel_add']. */
  fusionTypes?: readonly ContextFusionType[];
}

/** The config dict, as written in an mmdet config. */
export interface ContextBlockConfig {
  in_channels: number;
  ratio: number;
  pooling_type: ContextPoolingType;
  fusion_types: ContextFusionType[];
  postfix?: string | number;
}

/**
 * nn.Sequential(Conv2d(C, planes, 1), LayerNorm([planes, 1, 1]), ReLU, Conv2d(planes, C, 1)),
 * applied to the [N, 1, 1, C] context vector.
 */
export class ContextTransform extends Module {
  readonly squeeze: Conv2d;
  readonly norm: LayerNorm;
  readonly expand: Conv2d;

  constructor(inChannels: number, planes: number) {
    super();
    // The first conv keeps PyTorch's default init, as in mmcv (only the last one is reset).
    this.squeeze = this.registerModule('0', new Conv2d({ inChannels, outChannels: planes, kernelSize: 1, bias: true, init: 'torch' }));
    this.norm = this.registerModule('1', new LayerNorm(planes));
    this.expand = this.registerModule('3', new Conv2d({ inChannels: planes, outChannels: inChannels, kernelSize: 1, bias: true, init: 'torch' }));
    // mmcv's last_zero_init: a fresh branch outputs 0, so a fresh channel_add block is an identity.
    zeroFill(this.expand.weight);
    zeroFill(this.expand.bias!);
  }

  override get typeName(): string {
    return 'Sequential';
  }

  forward(context: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.expand.forward(tf.relu(this.norm.forward(this.squeeze.forward(context))) as tf.Tensor4D));
  }
}

export class ContextBlock extends Module implements PluginModule {
  readonly inChannels: number;
  readonly ratio: number;
  readonly planes: number;
  readonly poolingType: ContextPoolingType;
  readonly fusionTypes: readonly ContextFusionType[];
  /** Present only with 'att' pooling: 1x1 conv to one attention logit per position. */
  readonly convMask: Conv2d | undefined;
  readonly channelAddConv: ContextTransform | undefined;
  readonly channelMulConv: ContextTransform | undefined;

  constructor(options: ContextBlockOptions) {
    super();
    this.inChannels = options.inChannels;
    this.ratio = options.ratio;
    this.planes = Math.floor(options.inChannels * options.ratio);
    this.poolingType = options.poolingType ?? 'att';
    this.fusionTypes = options.fusionTypes ?? ['channel_add'];
    if (this.planes < 1) throw new Error(`ContextBlock: in_channels * ratio = ${options.inChannels} * ${options.ratio} leaves no bottleneck channel (needs >= 1)`);
    if (this.fusionTypes.length === 0) throw new Error('ContextBlock: at least one fusion type is needed');
    if (this.poolingType === 'att') {
      this.convMask = this.registerModule('conv_mask', new Conv2d({ inChannels: this.inChannels, outChannels: 1, kernelSize: 1, bias: true, init: 'torch' }));
      // mmengine kaiming_init(mode='fan_in'): normal, ReLU gain, bias 0.
      tf.tidy(() => this.convMask!.weight.assign(tf.randomNormal(this.convMask!.weight.shape, 0, Math.SQRT2 / Math.sqrt(this.inChannels))));
      zeroFill(this.convMask.bias!);
    }
    if (this.fusionTypes.includes('channel_add')) this.channelAddConv = this.registerModule('channel_add_conv', new ContextTransform(this.inChannels, this.planes));
    if (this.fusionTypes.includes('channel_mul')) this.channelMulConv = this.registerModule('channel_mul_conv', new ContextTransform(this.inChannels, this.planes));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const context = this.spatialPool(x);
      let out: tf.Tensor = x;
      // mmcv applies the multiplication first, then the addition.
      if (this.channelMulConv) out = tf.mul(out, tf.sigmoid(this.channelMulConv.forward(context)));
      if (this.channelAddConv) out = tf.add(out, this.channelAddConv.forward(context));
      return out as tf.Tensor4D;
    });
  }

  /** The [N, 1, 1, C] context vector of each image. */
  spatialPool(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, h, w, c] = x.shape;
      if (!this.convMask) return tf.mean(x, [1, 2], true) as tf.Tensor4D;
      // NHWC flattened to [N, H*W, C] has position index h*W + w, the order of PyTorch's
      // x.view(N, C, H*W); the weighted sum over positions is one batched matmul.
      const weights = tf.softmax(tf.reshape(this.convMask.forward(x), [n, 1, h * w]));
      const context = tf.matMul(weights, tf.reshape(x, [n, h * w, c]));
      return tf.reshape(context, [n, 1, 1, c]);
    });
  }
}

function zeroFill(variable: tf.Variable): void {
  tf.tidy(() => variable.assign(tf.zerosLike(variable)));
}

export const contextBlockDescriptor = defineComponent<ContextBlockConfig, ContextBlock>({
  type: 'ContextBlock',
  abbreviation: 'context_block',
  description: 'GCNet global context block (mmcv ContextBlock)',
  schema: pluginSchema(
    {
      ratio: { type: 'number', exclusiveMinimum: 0, description: 'bottleneck width = floor(in_channels * ratio)' },
      pooling_type: { enum: [...CONTEXT_POOLING_TYPES], default: 'att' },
      // A list, never a bare string: mmcv asserts isinstance(fusion_types, (list, tuple)).
      fusion_types: { type: 'array', items: { enum: [...CONTEXT_FUSION_TYPES] }, minItems: 1, default: ['channel_add'] },
    },
    ['ratio'],
  ),
  build: (cfg) =>
    new ContextBlock({
      inChannels: cfg.in_channels,
      ratio: cfg.ratio,
      poolingType: cfg.pooling_type,
      fusionTypes: cfg.fusion_types,
    }),
});
