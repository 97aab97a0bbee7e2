/**
 * ResNet's BasicBlock and Bottleneck with mmdetection's child names, stride placement, plugin
 * positions and checkpointing (mmdet-reference §1.2-§1.4).
 */
import * as tf from '@tensorflow/tfjs-core';
import { addRelu, checkpoint, Module, type ComponentConfig } from '@tsdet/core';
import { Conv2d } from '../../layers/conv2d.js';
import { convNormAct, prefoldConvNormChildren } from '../../layers/fused-conv-bn.js';
import { buildNormLayer, type NormConfig, type NormLayer } from '../../layers/norm.js';
import { buildPlugin, runPlugin, type PluginModule } from '../../plugins/plugin.js';
import type { PluginPosition } from './resnet.schema.js';

export interface BlockOptions {
  inplanes: number;
  planes: number;
  stride: number;
  dilation: number;
  style: 'pytorch' | 'caffe';
  withCp: boolean;
  normCfg: NormConfig;
  /** Shortcut projection, when the shape changes. */
  downsample: Downsample | undefined;
  plugins: { cfg: ComponentConfig; position: PluginPosition }[];
  /** Dotted path of the block (`layer2.0`), used in errors. */
  path: string;
}

/** The projection shortcut: [AvgPool when avg_down,] 1x1 conv, norm; children numbered as nn.Sequential. */
export class Downsample extends Module {
  readonly conv: Conv2d;
  readonly norm: NormLayer;

  constructor(
    inChannels: number,
    outChannels: number,
    readonly stride: number,
    readonly avgDown: boolean,
    normCfg: NormConfig,
  ) {
    super();
    // With avg_down the pool sits at index 0 (no parameters), shifting the conv to '1' and the norm to '2'.
    const first = avgDown ? 1 : 0;
    this.conv = this.registerModule(String(first), new Conv2d({ inChannels, outChannels, kernelSize: 1, stride: avgDown ? 1 : stride }));
    this.norm = this.registerModule(String(first + 1), buildNormLayer(normCfg, outChannels)[1]);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      // AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False): 'same' padding at
      // the far edge, averaging only the real pixels of a partial window.
      const pooled = this.avgDown && this.stride > 1 ? tf.avgPool(x, this.stride, this.stride, 'same') : x;
      return convNormAct(pooled, this.conv, this.norm, false);
    });
  }

  /** Entering eval mode: fold each conv's BN now, so inference forwards allocate nothing lasting. */
  protected override onModeChanged(training: boolean): void {
    if (!training) prefoldConvNormChildren(this);
  }
}

/** What BasicBlock and Bottleneck share: shortcut, residual sum and ReLU, checkpointing, plugins. */
export abstract class ResBlock extends Module {
  readonly downsample: Downsample | undefined;
  readonly withCp: boolean;
  readonly path: string;
  protected readonly pluginsAt: Record<PluginPosition, [string, PluginModule][]> = { after_conv1: [], after_conv2: [], after_conv3: [] };

  constructor(options: BlockOptions) {
    super();
    this.withCp = options.withCp;
    this.path = options.path;
    this.downsample = options.downsample;
  }

  /** Plugin children in the order they run: after_conv1, after_conv2, after_conv3. */
  pluginChildren(): [string, PluginModule][] {
    return [...this.pluginsAt.after_conv1, ...this.pluginsAt.after_conv2, ...this.pluginsAt.after_conv3];
  }

  /** The residual branch, before the sum with the identity. */
  protected abstract branch(x: tf.Tensor4D): tf.Tensor4D;

  /** The last norm of the residual branch, zero-initialised by `zero_init_residual`. */
  abstract get lastNorm(): NormLayer;

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => (this.usesCheckpoint() ? this.checkpointedInner(x) : this.inner(x)));
  }

  /** Entering eval mode: fold each conv's BN now, so inference forwards allocate nothing lasting. */
  protected override onModeChanged(training: boolean): void {
    if (!training) prefoldConvNormChildren(this);
  }

  /** Checkpoint only when it saves memory: while training a block that has trainable weights. */
  usesCheckpoint(): boolean {
    return this.withCp && this.training && this.trainableVariables().length > 0;
  }

  /**
   * relu(branch + identity). mmdet checkpoints the sum and applies the ReLU outside; here the ReLU
   * is inside the checkpointed segment (same values and gradients) so that, checkpointed or not,
   * only the block's output is kept for the backward pass (core's addRelu).
   */
  protected inner(x: tf.Tensor4D): tf.Tensor4D {
    const identity = this.downsample ? this.downsample.forward(x) : x;
    return addRelu(this.branch(x), identity);
  }

  private checkpointedInner(x: tf.Tensor4D): tf.Tensor4D {
    return checkpoint((input) => this.inner(input as tf.Tensor4D), [x], this.trainableVariables());
  }

  /** Registers plugins after the convs and norms (their state-dict keys come last, grouped by position). */
  protected addPlugins(entries: BlockOptions['plugins'], channelsAt: Record<PluginPosition, number>): void {
    for (const position of ['after_conv1', 'after_conv2', 'after_conv3'] as const) {
      for (const [i, entry] of entries.entries()) {
        if (entry.position !== position) continue;
        const [name, plugin] = buildPlugin(entry.cfg, channelsAt[position], `${this.path}.plugins.${i}`);
        if (this.namedChildren().some(([n]) => n === name)) {
          throw new Error(`${this.path}: duplicate plugin '${name}': give plugins of the same type distinct 'postfix' values`);
        }
        this.registerModule(name, plugin);
        this.pluginsAt[position].push([name, plugin]);
      }
    }
  }

  protected applyPlugins(position: PluginPosition, x: tf.Tensor4D): tf.Tensor4D {
    return this.pluginsAt[position].reduce((out, [name, plugin]) => runPlugin(name, plugin, out, this.path), x);
  }
}

export class BasicBlock extends ResBlock {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly norm1: NormLayer;
  readonly conv2: Conv2d;
  readonly norm2: NormLayer;

  constructor(options: BlockOptions) {
    super(options);
    if (options.plugins.length) {
      throw new Error(`${options.path}: BasicBlock (ResNet-18/34) does not take plugins, as in mmdetection; use depth 50, 101 or 152`);
    }
    const { inplanes, planes, stride, dilation, normCfg } = options;
    this.conv1 = this.registerModule('conv1', new Conv2d({ inChannels: inplanes, outChannels: planes, kernelSize: 3, stride, padding: dilation, dilation }));
    const [n1, norm1] = buildNormLayer(normCfg, planes, 1);
    this.norm1 = this.registerModule(n1, norm1);
    // mmdet's BasicBlock never dilates its second conv.
    this.conv2 = this.registerModule('conv2', new Conv2d({ inChannels: planes, outChannels: planes, kernelSize: 3, padding: 1 }));
    const [n2, norm2] = buildNormLayer(normCfg, planes, 2);
    this.norm2 = this.registerModule(n2, norm2);
    if (this.downsample) this.registerModule('downsample', this.downsample);
  }

  get lastNorm(): NormLayer {
    return this.norm2;
  }

  protected branch(x: tf.Tensor4D): tf.Tensor4D {
    const h = convNormAct(x, this.conv1, this.norm1, true);
    return convNormAct(h, this.conv2, this.norm2, false);
  }
}

export class Bottleneck extends ResBlock {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly norm1: NormLayer;
  readonly conv2: Conv2d;
  readonly norm2: NormLayer;
  readonly conv3: Conv2d;
  readonly norm3: NormLayer;

  constructor(options: BlockOptions) {
    super(options);
    const { inplanes, planes, stride, dilation, normCfg, style } = options;
    // pytorch style (torchvision v1.5) strides the 3x3 conv; caffe style (MSRA) the first 1x1.
    const [conv1Stride, conv2Stride] = style === 'pytorch' ? [1, stride] : [stride, 1];
    this.conv1 = this.registerModule('conv1', new Conv2d({ inChannels: inplanes, outChannels: planes, kernelSize: 1, stride: conv1Stride }));
    const [n1, norm1] = buildNormLayer(normCfg, planes, 1);
    this.norm1 = this.registerModule(n1, norm1);
    this.conv2 = this.registerModule('conv2', new Conv2d({ inChannels: planes, outChannels: planes, kernelSize: 3, stride: conv2Stride, padding: dilation, dilation }));
    const [n2, norm2] = buildNormLayer(normCfg, planes, 2);
    this.norm2 = this.registerModule(n2, norm2);
    this.conv3 = this.registerModule('conv3', new Conv2d({ inChannels: planes, outChannels: planes * Bottleneck.expansion, kernelSize: 1 }));
    const [n3, norm3] = buildNormLayer(normCfg, planes * Bottleneck.expansion, 3);
    this.norm3 = this.registerModule(n3, norm3);
    if (this.downsample) this.registerModule('downsample', this.downsample);
    this.addPlugins(options.plugins, { after_conv1: planes, after_conv2: planes, after_conv3: planes * Bottleneck.expansion });
  }

  get lastNorm(): NormLayer {
    return this.norm3;
  }

  protected branch(x: tf.Tensor4D): tf.Tensor4D {
    let h = this.applyPlugins('after_conv1', convNormAct(x, this.conv1, this.norm1, true));
    h = this.applyPlugins('after_conv2', convNormAct(h, this.conv2, this.norm2, true));
    return this.applyPlugins('after_conv3', convNormAct(h, this.conv3, this.norm3, false));
  }
}

export type BlockClass = (typeof BasicBlock | typeof Bottleneck) & { expansion: number };
