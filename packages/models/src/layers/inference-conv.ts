/**
 * The inference conv: conv + bias + activation off the gradient tape, as Winograd F(2x2, 3x3) where
 * it pays on this backend (@tsdet/core winogradApplies: wasm, 3x3 stride 1, >= 32 channels), else
 * tfjs's fused conv. The Winograd path needs the filter transformed once (16 [1,1,C,K] planes, 16/9
 * of the filter's size); that transform is cached per conv and filter data, like the folded BN
 * weights, and prepared when a model switches to eval mode so inference forwards allocate nothing
 * that outlives them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { winogradApplies, winogradConv2d, winogradFilter } from '@tsdet/core';
import type { Conv2d } from './conv2d.js';

/** Transformed filters keyed by the identity of the filter's data (a new value means a new key). */
export interface WinogradCacheEntry {
  key: object;
  planes: tf.Tensor4D[];
}

/** Whether this conv's forward runs as Winograd on the active backend. */
export function convUsesWinograd(conv: Conv2d): boolean {
  return winogradApplies({ filterShape: conv.weight.shape, strides: conv.stride, dilations: conv.dilation });
}

/**
 * The cached transform of `filter` in `entry`, recomputed (and the old planes freed) when the
 * filter's data changed. Returns the entry to store.
 */
export function refreshWinogradEntry(entry: WinogradCacheEntry | undefined, filter: tf.Tensor4D): WinogradCacheEntry {
  if (entry && entry.key === filter.dataId) return entry;
  if (entry) tf.dispose(entry.planes);
  // Kept: the cache outlives the forward's tidy scope; the owner's dispose() frees it.
  return { key: filter.dataId, planes: winogradFilter(filter).map((t) => tf.keep(t)) };
}

/**
 * conv (with the given filter and bias, PyTorch's symmetric padding of `conv`) then the activation.
 * `transformed` supplies the Winograd planes of `filter` when the conv may take that path; without
 * it the fused direct conv runs.
 */
export function inferenceConv(
  x: tf.Tensor4D,
  conv: Conv2d,
  filter: tf.Tensor4D,
  bias: tf.Tensor1D | undefined,
  activation: 'relu' | 'linear',
  transformed?: () => readonly tf.Tensor4D[],
): tf.Tensor4D {
  const [ph, pw] = conv.padding;
  if (transformed && convUsesWinograd(conv)) {
    const outHeight = conv.outputSize(x.shape[1], 0);
    const outWidth = conv.outputSize(x.shape[2], 1);
    return winogradConv2d({ x, transformedFilter: transformed(), bias, padTop: ph, padLeft: pw, outHeight, outWidth, activation });
  }
  return tf.fused.conv2d({
    x,
    filter,
    bias,
    strides: conv.stride,
    pad: [[0, 0], [ph, ph], [pw, pw], [0, 0]],
    dataFormat: 'NHWC',
    dilations: conv.dilation,
    activation,
  });
}
