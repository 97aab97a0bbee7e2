import * as tf from '@tensorflow/tfjs-core';
import { biasAct, isRecordingGradients, Module } from '@tsdet/core';
import { releaseFolded } from './fused-conv-bn.js';
import { convUsesWinograd, inferenceConv, refreshWinogradEntry, type WinogradCacheEntry } from './inference-conv.js';
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
  /** Winograd transform of `weight` for eval-mode forwards (inference-conv.ts). */
  #winograd: WinogradCacheEntry | undefined;

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
   * tfjs's fused-conv gradient bypasses the registered Conv2D gradient (and fails on wasm). In eval
   * mode a 3x3 stride-1 conv may run as Winograd F(2x2, 3x3) (inference-conv.ts).
   */
  forward(x: tf.Tensor4D, activation: 'linear' | 'relu' = 'linear'): tf.Tensor4D {
    return tf.tidy((): tf.Tensor4D => {
      const filter = this.weight as tf.Tensor4D;
      if (!isRecordingGradients()) {
        // Training-mode weights change every step: transforming them per forward would not pay.
        const transformed = this.training ? undefined : () => (this.#winograd = refreshWinogradEntry(this.#winograd, filter)).planes;
        return inferenceConv(x, this, filter, this.bias as tf.Tensor1D | undefined, activation, transformed);
      }
      const [ph, pw] = this.padding;
      const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [ph, ph], [pw, pw], [0, 0]];
      const y = tf.conv2d(x, filter, this.stride, pad, 'NHWC', this.dilation);
      if (this.bias) return biasAct(y, this.bias, activation === 'relu');
      return activation === 'relu' ? tf.relu(y) : y;
    });
  }

  /**
   * Prepares what an eval-mode forward on `weight` needs (its Winograd transform, where that path
   * applies), so that inference forwards allocate nothing lasting. A no-op in training mode.
   */
  prepareInference(): void {
    if (!this.training && convUsesWinograd(this)) this.#winograd = refreshWinogradEntry(this.#winograd, this.weight as tf.Tensor4D);
  }

  /** Also frees the folded and transformed inference weights cached for this conv. */
  override dispose(): void {
    releaseFolded([this]);
    if (this.#winograd) tf.dispose(this.#winograd.planes);
    this.#winograd = undefined;
    super.dispose();
  }

  /** Output spatial size for an input size, as PyTorch computes it. */
  outputSize(size: number, axis: 0 | 1 = 0): number {
    const k = this.dilation[axis] * (this.kernelSize[axis] - 1) + 1;
    return Math.floor((size + 2 * this.padding[axis] - k) / this.stride[axis]) + 1;
  }
}
