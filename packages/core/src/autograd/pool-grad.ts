/**
 * Max-pool and average-pool gradients that are correct on both backends.
 *
 * Measured against finite differences (pool-resize-grad.test.ts), tfjs 4.22 gets these wrong:
 *  - MaxPool on wasm: the MaxPoolGrad kernel starts its running max at
 *    std::numeric_limits<float>::min() (the smallest POSITIVE float, not the lowest), so a window
 *    whose values are all <= 0 - e.g. all zeros after a ReLU - sends its gradient to the wrong
 *    element; and it breaks ties towards the last maximum where cpu and PyTorch take the first.
 *  - AvgPool with padding, both backends: the forward divides each window by the number of real
 *    (unpadded) pixels, the AvgPoolGrad kernels by the full window size.
 */
import * as tf from '@tensorflow/tfjs-core';
import { builtinGradient, overrideGradient } from './gradient-registry.js';
import { mergeNhwcPhases, nhwcPhases, range, windowOf } from './spatial.js';

export interface PoolOptions {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function poolGeometry(xShape: [number, number, number, number], o: PoolOptions): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(xShape, o.filterSize, o.strides, 1, o.pad, o.dimRoundingMode);
}

/**
 * dL/dx of y = maxPool(x): each window's dy goes to the FIRST element (row-major) equal to the
 * window's max, as in tfjs's cpu kernel and PyTorch. Built per tap from equal/where on stride
 * phases of the -inf-padded input (rank-4 slices only), so it needs no MaxPoolGrad kernel.
 */
export function maxPoolGrad(dy: tf.Tensor4D, x: tf.Tensor4D, y: tf.Tensor4D, options: PoolOptions): tf.Tensor4D {
  const info = poolGeometry(x.shape, options);
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, outHeight: ho, outWidth: wo, padInfo } = info;
  const [n, h, w, c] = x.shape;
  // Rows (columns) the windows cover, rounded up to whole stride phases.
  const hq = Math.ceil(((ho - 1) * sh + kh) / sh);
  const wq = Math.ceil(((wo - 1) * sw + kw) / sw);
  const phases = tf.tidy(() =>
    nhwcPhases(windowOf(x, { before: padInfo.top, length: hq * sh }, { before: padInfo.left, length: wq * sw }, -Infinity), sh, sw));
  const zeros = tf.zerosLike(dy);
  // The part of dy not yet routed: once a window's max is found it becomes 0, so later equal
  // elements (ties) receive nothing.
  let unrouted: tf.Tensor4D = dy.clone();
  const sums: (tf.Tensor4D | undefined)[][] = range(sh).map(() => range(sw).map(() => undefined));
  for (const t of range(kh * kw)) {
    const i = Math.floor(t / kw);
    const j = t % kw;
    const [a, b, di, dj] = [i % sh, j % sw, Math.floor(i / sh), Math.floor(j / sw)];
    const isLast = t === kh * kw - 1;
    const [routed, rest] = tf.tidy(() => {
      const tap = tf.slice(phases[a]![b]!, [0, di, dj, 0], [n, ho, wo, c]);
      const hit = tf.where(tf.equal(tap, y), unrouted, zeros) as tf.Tensor4D;
      return [hit, isLast ? undefined : (tf.sub(unrouted, hit) as tf.Tensor4D)] as const;
    });
    unrouted.dispose();
    if (rest) unrouted = rest;
    // Tap (i, j) of output pixel (p, q) reads phase (a, b) at (p + di, q + dj).
    const placed = windowOf(routed, { before: di, length: hq }, { before: dj, length: wq });
    routed.dispose();
    const previous = sums[a]![b];
    sums[a]![b] = previous ? tf.tidy(() => tf.add(previous, placed)) : placed;
    if (previous) {
      previous.dispose();
      placed.dispose();
    }
  }
  tf.dispose([zeros, ...phases.flat()]);
  return tf.tidy(() => {
    // A kernel smaller than the stride never reads some phases: their gradient is zero.
    const filled = sums.map((row) => row.map((s) => s ?? (tf.zeros([n, hq, wq, c]) as tf.Tensor4D)));
    const merged = mergeNhwcPhases(filled);
    tf.dispose(filled.flat());
    return windowOf(merged, { before: -padInfo.top, length: h }, { before: -padInfo.left, length: w });
  });
}

/**
 * Per output pixel, (window size) / (real pixels in the window) as [1, Ho, Wo, 1]; undefined when
 * no window reaches into the padding. Multiplying dy by it turns the full-window divisor of the
 * AvgPoolGrad kernels into the real-pixel divisor of the forward.
 */
export function avgPoolDivisorCorrection(xShape: [number, number, number, number], options: PoolOptions): tf.Tensor4D | undefined {
  const info = poolGeometry(xShape, options);
  const rows = realPixelsPerWindow(info.inHeight, info.outHeight, info.strideHeight, info.filterHeight, info.padInfo.top);
  const cols = realPixelsPerWindow(info.inWidth, info.outWidth, info.strideWidth, info.filterWidth, info.padInfo.left);
  if (rows.every((r) => r === info.filterHeight) && cols.every((q) => q === info.filterWidth)) return undefined;
  const values = new Float32Array(info.outHeight * info.outWidth);
  const windowSize = info.filterHeight * info.filterWidth;
  rows.forEach((r, p) => cols.forEach((q, k) => (values[p * info.outWidth + k] = windowSize / (r * q))));
  return tf.tensor4d(values, [1, info.outHeight, info.outWidth, 1]);
}

function realPixelsPerWindow(inSize: number, outSize: number, stride: number, filter: number, padBefore: number): number[] {
  return range(outSize).map((p) => {
    const start = p * stride - padBefore;
    return Math.min(inSize, start + filter) - Math.max(0, start);
  });
}

const maxPoolGradient: tf.GradConfig = {
  kernelName: tf.MaxPool,
  inputsToSave: ['x'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, y] = saved as [tf.Tensor4D, tf.Tensor4D];
    const options = attrs as unknown as tf.MaxPoolAttrs;
    return { x: () => maxPoolGrad(dy as tf.Tensor4D, x, y, options) };
  },
};

const avgPoolGradient: tf.GradConfig = {
  kernelName: tf.AvgPool,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const builtin = builtinGradient(tf.AvgPool);
    if (!builtin) throw new Error('AvgPool gradient: tfjs\'s own gradient is not registered');
    const [x] = saved as [tf.Tensor4D];
    return {
      x: () => tf.tidy(() => {
        const correction = avgPoolDivisorCorrection(x.shape, attrs as unknown as tf.AvgPoolAttrs);
        const corrected = correction ? tf.mul(dy as tf.Tensor, correction) : (dy as tf.Tensor);
        return builtin.gradFunc(corrected, saved, attrs)['x']!();
      }),
    };
  },
};

/** Registers the MaxPool and AvgPool gradients above for every backend. Idempotent. */
export function installPoolGradients(): void {
  overrideGradient(maxPoolGradient);
  overrideGradient(avgPoolGradient);
}
