import * as tf from '@tensorflow/tfjs-core';
import { biasAct, isRecordingGradients, Module } from '@tsdet/core';
import { releaseFolded } from './fused-conv-bn.js';
import { kaimingNormalFanOut, torchDefaultUniform } from './init.js';

export type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: Pair;
  stride?: Pair;
  /** PyTorch's symmetric zero padding per side (not tfjs's 'same'/'valid'). */
  padding?: Pair;
  dilation?: Pair;
  bias?: boolean;
  /** 'kaiming' (mmengine fan_out normal, bias 0) or 'torch' (PyTorch's own default). */
  init?: 'kaiming' | 'torch';
}

function pair(value: Pair): [number, number] {
  return typeof value === 'number' ? [value, value] : [value[0], value[1]];
}

/** nn.Conv2d on NHWC tensors; `weight` is HWIO and loads from PyTorch's OIHW. */
export class Conv2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | undefined;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];

  constructor(options: Conv2dOptions) {
    super();
    this.inChannels = options.inChannels;
    this.outChannels = options.outChannels;
    this.kernelSize = pair(options.kernelSize);
    this.stride = pair(options.stride ?? 1);
    this.padding = pair(options.padding ?? 0);
    this.dilation = pair(options.dilation ?? 1);
    const shape = [...this.kernelSize, options.inChannels, options.outChannels] as const;
    const fanIn = this.kernelSize[0] * this.kernelSize[1] * options.inChannels;
    const init = options.init ?? 'kaiming';
    this.weight = this.addParameter('weight', init === 'kaiming' ? kaimingNormalFanOut(shape) : torchDefaultUniform(shape, fanIn), { layout: 'conv2d' });
    this.bias = options.bias ? this.addParameter('bias', init === 'kaiming' ? tf.zeros([options.outChannels]) : torchDefaultUniform([options.outChannels], fanIn)) : undefined;
  }

  /**
   * `activation` 'relu' applies a ReLU after the bias. Outside a gradient tape the conv, bias and
   * ReLU run as one fused kernel; while recording gradients they stay separate ops, because
   * tfjs's fused-conv gradient bypasses the registered Conv2D gradient (and fails on wasm).
   */
  forward(x: tf.Tensor4D, activation: 'linear' | 'relu' = 'linear'): tf.Tensor4D {
    return tf.tidy((): tf.Tensor4D => {
      const [ph, pw] = this.padding;
      const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [ph, ph], [pw, pw], [0, 0]];
      const filter = this.weight as tf.Tensor4D;
      if (!isRecordingGradients()) {
        return tf.fused.conv2d({ x, filter, bias: this.bias, strides: this.stride, pad, dataFormat: 'NHWC', dilations: this.dilation, activation });
      }
      const y = tf.conv2d(x, filter, this.stride, pad, 'NHWC', this.dilation);
      if (this.bias) return biasAct(y, this.bias, activation === 'relu');
      return activation === 'relu' ? tf.relu(y) : y;
    });
  }

  /** Also frees the folded inference weights cached for this conv. */
  override dispose(): void {
    releaseFolded([this]);
    super.dispose();
  }

  /** Output spatial size for an input size, as PyTorch computes it. */
  outputSize(size: number, axis: 0 | 1 = 0): number {
    const k = this.dilation[axis] * (this.kernelSize[axis] - 1) + 1;
    return Math.floor((size + 2 * this.padding[axis] - k) / this.stride[axis]) + 1;
  }
}
