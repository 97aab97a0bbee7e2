/**
 * Conv2D gradients built from ops that are fast on the wasm backend (XNNPACK conv2d and
 * non-transposed matMul, plus rank-4 pad/slice/reshape/transpose).
 *
 * Why not tfjs's own gradient (tfjs-notes §5a):
 *  - filter gradient: wasm has NO Conv2DBackpropFilter kernel at all, and the cpu backend's is a
 *    scalar JS loop (~5 MFLOP/s);
 *  - input gradient: wasm's Conv2DBackpropInput is a naive single-threaded loop, 8-12x slower than
 *    the forward conv;
 *  - tfjs's gradient refuses dilation > 1.
 *
 * NHWC, filters HWIO. Strides and dilations of any size (tfjs's forward allows only one of them
 * to exceed 1), 'same' / 'valid' / numeric / explicit padding, any kernel size.
 */
import * as tf from '@tensorflow/tfjs-core';
import { builtinGradient, isGradientInstalled, overrideGradient, restoreBuiltinGradient } from './gradient-registry.js';
import { channelMajorPhases, cropToWindow, range, windowOf, zeroInsert } from './spatial.js';

export type ConvPadding = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

export interface ConvOptions {
  strides?: number | [number, number];
  pad?: ConvPadding;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

type Shape4D = [number, number, number, number];

/** tfjs's own geometry for the forward conv, so padding and output size agree with it exactly. */
function convGeometry(xShape: Shape4D, filterShape: Shape4D, options: ConvOptions): tf.backend_util.Conv2DInfo {
  const { strides = 1, pad = 'valid', dilations = 1, dimRoundingMode } = options;
  return tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, dilations, pad, dimRoundingMode);
}

function assertDyShape(dy: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): void {
  const [n, h, w, c] = info.outShape;
  if (dy.shape[0] !== n || dy.shape[1] !== h || dy.shape[2] !== w || dy.shape[3] !== c) {
    throw new Error(`conv2d gradient: dy has shape [${dy.shape}], the forward output has [${info.outShape}]`);
  }
}

/**
 * dL/dfilter for y = conv2d(x, filter): per tap (i, j), x shifted by the tap and subsampled by the
 * stride, as a [Cin, N*Ho*Wo] matrix, times dy as [N*Ho*Wo, Cout]. The input is re-laid out once
 * into channel-major stride phases so every tap is a contiguous rank-4 slice (StridedSlice is slow
 * on wasm), and each product is a non-transposed matMul whose B operand, dy, XNNPACK packs once and
 * reuses for all taps. 1x1 kernels are a single matMul.
 */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: Shape4D, options: ConvOptions = {}, method: FilterGradMethod = 'auto'): tf.Tensor4D {
  const info = convGeometry(x.shape, filterShape, options);
  assertDyShape(dy, info);
  const [kh, kw] = filterShape;
  return tf.tidy(() => {
    if (kh === 1 && kw === 1) return pointwiseFilterGrad(x, dy, info);
    const correlation = method === 'auto' ? prefersCorrelation(info) : method === 'correlation';
    return correlation ? correlationFilterGrad(x, dy, info) : tapwiseFilterGrad(x, dy, info);
  });
}

/** How conv2dFilterGrad computes a k > 1 filter gradient: 'auto' picks the faster (tests force one). */
export type FilterGradMethod = 'auto' | 'tapwise' | 'correlation';

/**
 * Which dW formulation is faster on XNNPACK, from measurements on this project's shapes (wasm, 2
 * threads; dw benchmark in docs/performance.md): the correlation wins 1.4-6x for strided convs,
 * large kernels (the 7x7 stem) and narrow layers (Cin*Cout <= 64*64), the tapwise matMuls win
 * for wide layers (512x512 at 7x7: 14 ms against 21 ms). tfjs's conv2d cannot combine a stride
 * with a dilation, so a dilated strided conv always goes tapwise.
 */
function prefersCorrelation(info: tf.backend_util.Conv2DInfo): boolean {
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const strided = sh > 1 || sw > 1;
  const dilated = dh > 1 || dw > 1;
  if (strided && dilated) return false;
  return strided || info.filterHeight * info.filterWidth > 9 || info.inChannels * info.outChannels <= 64 * 64;
}

/**
 * dL/dfilter as one correlation of the input with dy, run by the forward conv kernel:
 * dW[i, j, ci, co] = sum over (n, p, q) of x[n, p*sh + i*dh, q*sw + j*dw, ci] * dy[n, p, q, co],
 * which is conv2d(input = x laid out [Cin, H, W, N], filter = dy laid out [Ho, Wo, N, Cout],
 * strides = the forward dilation, dilations = the forward stride) -> [Cin, kh, kw, Cout]. Three
 * transposes and one XNNPACK conv instead of kh*kw slices and matMuls.
 */
function correlationFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  if ((info.strideHeight > 1 || info.strideWidth > 1) && (info.dilationHeight > 1 || info.dilationWidth > 1)) {
    throw new Error('conv2dFilterGrad: the correlation method cannot take a stride and a dilation together (tfjs conv2d refuses both)');
  }
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, filterHeight: kh, filterWidth: kw } = info;
  const { outHeight: ho, outWidth: wo, padInfo } = info;
  // Exactly the rows (columns) the taps read, so the correlation's output is kh x kw.
  const rows = (ho - 1) * sh + (kh - 1) * dh + 1;
  const cols = (wo - 1) * sw + (kw - 1) * dw + 1;
  const window = windowOf(x, { before: padInfo.top, length: rows }, { before: padInfo.left, length: cols });
  const input = tf.transpose(window, [3, 1, 2, 0]) as tf.Tensor4D;
  window.dispose();
  const filter = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
  const correlated = tf.conv2d(input, filter, [dh, dw], 'valid', 'NHWC', [sh, sw]);
  tf.dispose([input, filter]);
  return tf.transpose(correlated, [1, 2, 0, 3]) as tf.Tensor4D;
}

function pointwiseFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { outHeight: ho, outWidth: wo, inChannels: cin, outChannels: cout } = info;
  const pixels = info.batchSize * ho * wo;
  // Only stride phase (0, 0) is read: take it in NHWC before transposing, so the transpose moves
  // 1/(sh*sw) of the input rather than all of it.
  const sampled = strideSample(x, info);
  const xT = tf.transpose(tf.reshape(sampled, [pixels, cin]));
  sampled.dispose();
  return tf.reshape(tf.matMul(xT, tf.reshape(dy, [pixels, cout])), [1, 1, cin, cout]);
}

/** x[:, p*sh - top, q*sw - left, :] for every output pixel (p, q), zero outside x: [N, Ho, Wo, C]. */
function strideSample(x: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo, padInfo } = info;
  const [n, , , c] = x.shape;
  return tf.tidy(() => {
    const covering = windowOf(x, { before: padInfo.top, length: ho * sh }, { before: padInfo.left, length: wo * sw });
    if (sh === 1 && sw === 1) return covering;
    const grouped = tf.reshape(covering, [n * ho, sh, wo, sw * c]);
    return tf.reshape(tf.slice(grouped, [0, 0, 0, 0], [n * ho, 1, wo, c]), [n, ho, wo, c]) as tf.Tensor4D;
  });
}

function tapwiseFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { filterHeight: kh, filterWidth: kw, outHeight: ho, outWidth: wo, inChannels: cin, outChannels: cout, padInfo } = info;
  const n = info.batchSize;
  const pixels = n * ho * wo;
  // Rows (columns) of the padded input that some tap reads, rounded up to whole stride phases.
  const hq = Math.ceil(((ho - 1) * sh + (kh - 1) * dh + 1) / sh);
  const wq = Math.ceil(((wo - 1) * sw + (kw - 1) * dw + 1) / sw);
  const phases = tf.tidy(() =>
    channelMajorPhases(windowOf(x, { before: padInfo.top, length: hq * sh }, { before: padInfo.left, length: wq * sw }), sh, sw));
  const dy2 = tf.reshape(dy, [pixels, cout]);
  const taps = range(kh * kw).map((t) => {
    const row = Math.floor(t / kw) * dh;
    const col = (t % kw) * dw;
    const phase = (row % sh) * sw + (col % sw);
    const begin = [phase * cin, 0, Math.floor(row / sh), Math.floor(col / sw)];
    // One tidy per tap: the [Cin, N, Ho, Wo] slice dies right after its matMul, keeping the
    // extra memory to one tap instead of kh*kw of them.
    return tf.tidy(() => tf.matMul(tf.reshape(tf.slice(phases, begin, [cin, n, ho, wo]), [cin, pixels]), dy2));
  });
  phases.dispose();
  return tf.reshape(tf.concat(taps, 0), [kh, kw, cin, cout]);
}

/**
 * dL/dx for y = conv2d(x, filter): a stride-1 conv2d (XNNPACK) of dy with zeros inserted for the
 * stride, against the spatially flipped filter with in/out channels swapped, dilated like the
 * forward. The flip is a matMul with an anti-diagonal permutation, because tf.reverse and
 * tf.gather are slow element-wise kernels on wasm (110-130 ms for a 3x3x512x512 filter against
 * ~17 ms). For 1x1 kernels dy is projected to Cin first and zeros are inserted afterwards, which
 * saves the sh*sw-fold multiplications by zero.
 */
export function conv2dInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, xShape: Shape4D, options: ConvOptions = {}): tf.Tensor4D {
  const info = convGeometry(xShape, filter.shape, options);
  assertDyShape(dy, info);
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, padInfo } = info;
  const [kh, kw] = filter.shape;
  const [, h, w] = xShape;
  return tf.tidy(() => {
    const flipped = flippedSwappedFilter(filter);
    if (kh === 1 && kw === 1) {
      const projected = tf.conv2d(dy, flipped, 1, 'valid');
      return windowOf(zeroInsert(projected, sh, sw), { before: -padInfo.top, length: h }, { before: -padInfo.left, length: w });
    }
    // dx[r] = sum_i z[r + top - i*dh] * filter[i]: a correlation of z, padded by
    // (kh-1)*dh - top in front, with the flipped filter; crop where that padding is negative.
    const rows = { before: (kh - 1) * dh - padInfo.top, length: h + (kh - 1) * dh };
    const cols = { before: (kw - 1) * dw - padInfo.left, length: w + (kw - 1) * dw };
    const { cropped, pads } = cropToWindow(zeroInsert(dy, sh, sw), rows, cols);
    if (cropped === undefined) return tf.zeros(xShape) as tf.Tensor4D;
    const [top, bottom, left, right] = pads;
    return tf.conv2d(cropped, flipped, 1, [[0, 0], [top, bottom], [left, right], [0, 0]], 'NHWC', [dh, dw]);
  });
}

/**
 * [kh, kw, Cin, Cout] -> [kh, kw, Cout, Cin] rotated by 180 degrees. Reversing both spatial axes
 * reverses the flattened tap index, so the flip is one matMul with an anti-diagonal 0/1 matrix
 * (exact for finite weights).
 */
function flippedSwappedFilter(filter: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, cin, cout] = filter.shape;
  const taps = kh * kw;
  return tf.tidy(() => {
    const flipped = taps === 1 ? filter : tf.reshape<tf.Rank.R4>(tf.matMul(antiDiagonal(taps), tf.reshape(filter, [taps, cin * cout])), filter.shape);
    return tf.transpose(flipped, [0, 1, 3, 2]);
  });
}

function antiDiagonal(n: number): tf.Tensor2D {
  const values = new Float32Array(n * n);
  for (let i = 0; i < n; i++) values[i * n + (n - 1 - i)] = 1;
  return tf.tensor2d(values, [n, n]);
}

const fastConv2DGradient: tf.GradConfig = {
  kernelName: tf.Conv2D,
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const { strides, pad, dilations, dimRoundingMode, dataFormat } = attrs as unknown as tf.Conv2DAttrs;
    if (dataFormat === 'NCHW') {
      // Not needed by tsdet (NHWC everywhere; wasm has no NCHW conv at all): keep tfjs's gradient.
      const builtin = builtinGradient(tf.Conv2D);
      if (!builtin) throw new Error('Conv2D gradient: NCHW is only supported through tfjs\'s own gradient, which is not registered');
      return builtin.gradFunc(dy, saved, attrs);
    }
    const options: ConvOptions = { strides, pad, dilations, dimRoundingMode };
    return {
      x: () => conv2dInputGrad(dy as tf.Tensor4D, filter, x.shape, options),
      filter: () => conv2dFilterGrad(x, dy as tf.Tensor4D, filter.shape, options),
    };
  },
};

/** Replaces tfjs's registered Conv2D gradient with the one above, for every backend. Idempotent. */
export function installFastConvGradients(): void {
  overrideGradient(fastConv2DGradient);
}

/** Puts tfjs's own Conv2D gradient back (for comparisons and benchmarks). */
export function uninstallFastConvGradients(): void {
  restoreBuiltinGradient(tf.Conv2D);
}

export function fastConvGradientsInstalled(): boolean {
  return isGradientInstalled(fastConv2DGradient);
}
