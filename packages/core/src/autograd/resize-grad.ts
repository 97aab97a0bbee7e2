/**
 * resizeBilinear / resizeNearestNeighbor gradients that are correct on both backends.
 *
 * Measured against finite differences (pool-resize-grad.test.ts), tfjs 4.22 gets these wrong:
 *  - cpu ResizeBilinearGrad labels its result [N, W, H, C] (values laid out as [N, H, W, C]), so
 *    any H != W input fails with a shape error;
 *  - cpu ResizeNearestNeighborGrad searches a window of dy too small for some scale factors and
 *    returns wrong values (or NaN) even for square inputs;
 *  - both backends' grad kernels ignore `halfPixelCenters`, which is what PyTorch's
 *    align_corners=False bilinear (and 'nearest-exact') means, so those gradients are wrong too.
 *
 * Resizing is separable: y[n, :, :, c] = Ry x[n, :, :, c] Rx^T with interpolation matrices
 * Ry [Ho, H] and Rx [Wo, W] built from the same formulas as tfjs's forward kernels, so
 * dx = Ry^T dy Rx: two matMuls whose B operand is a small interpolation matrix. The wasm grad
 * kernels are correct and O(output) without halfPixelCenters, so that case keeps them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { builtinGradient, overrideGradient } from './gradient-registry.js';

type ResizeAttrs = tf.ResizeBilinearAttrs | tf.ResizeNearestNeighborAttrs;

/** tfjs's source-coordinate scale: (in - 1) / (out - 1) with alignCorners, else in / out. */
function sourceScale(inSize: number, outSize: number, alignCorners: boolean): number {
  const corners = alignCorners && outSize > 1;
  return (corners ? inSize - 1 : inSize) / (corners ? outSize - 1 : outSize);
}

/** Row r of the result holds the weights output pixel r gives each input pixel: [outSize, inSize]. */
export function bilinearWeights(inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): Float32Array {
  const scale = sourceScale(inSize, outSize, alignCorners);
  const weights = new Float32Array(outSize * inSize);
  for (let r = 0; r < outSize; r++) {
    const source = halfPixelCenters ? scale * (r + 0.5) - 0.5 : scale * r;
    const low = Math.max(0, Math.floor(source));
    const high = Math.min(inSize - 1, Math.ceil(source));
    const frac = source - low;
    weights[r * inSize + low] += 1 - frac;
    weights[r * inSize + high] += frac;
  }
  return weights;
}

export function nearestWeights(inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): Float32Array {
  const scale = sourceScale(inSize, outSize, alignCorners);
  const weights = new Float32Array(outSize * inSize);
  for (let r = 0; r < outSize; r++) {
    const source = halfPixelCenters ? scale * (r + 0.5) : scale * r;
    const nearest = Math.min(inSize - 1, alignCorners ? Math.round(source) : Math.floor(source));
    weights[r * inSize + Math.max(0, nearest)] = 1;
  }
  return weights;
}

/**
 * dx = Ry^T dy Rx for dy [N, Ho, Wo, C], rowWeights [Ho, H], colWeights [Wo, W]. The contractions
 * run over the last axis of non-transposed 2-D matMuls, with rank-<=4 transposes in between.
 */
export function separableResizeGrad(dy: tf.Tensor4D, rowWeights: tf.Tensor2D, colWeights: tf.Tensor2D): tf.Tensor4D {
  const [n, ho, wo, c] = dy.shape;
  const [, h] = rowWeights.shape;
  const [, w] = colWeights.shape;
  return tf.tidy(() => {
    const byCol = tf.reshape(tf.transpose(dy, [0, 3, 1, 2]), [n * c * ho, wo]);
    const cols = tf.reshape(tf.matMul(byCol, colWeights), [n * c, ho, w]);
    const byRow = tf.reshape(tf.transpose(cols, [0, 2, 1]), [n * c * w, ho]);
    const rows = tf.reshape(tf.matMul(byRow, rowWeights), [n, c, w, h]);
    return tf.transpose(rows, [0, 3, 2, 1]) as tf.Tensor4D;
  });
}

function resizeGradVia(weightsOf: typeof bilinearWeights, images: tf.Tensor4D, dy: tf.Tensor4D, attrs: ResizeAttrs): tf.Tensor4D {
  const [, h, w] = images.shape;
  const [, ho, wo] = dy.shape;
  return tf.tidy(() => {
    const rows = tf.tensor2d(weightsOf(h, ho, attrs.alignCorners, attrs.halfPixelCenters), [ho, h]);
    const cols = tf.tensor2d(weightsOf(w, wo, attrs.alignCorners, attrs.halfPixelCenters), [wo, w]);
    return separableResizeGrad(dy, rows, cols);
  });
}

/** The built-in grad kernel is right only on wasm and only without halfPixelCenters. */
function builtinKernelIsCorrect(attrs: ResizeAttrs): boolean {
  return tf.getBackend() === 'wasm' && !attrs.halfPixelCenters;
}

function resizeGradient(kernelName: string, weightsOf: typeof bilinearWeights): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['images'],
    gradFunc: (dy, saved, attrs) => {
      const resizeAttrs = attrs as unknown as ResizeAttrs;
      const builtin = builtinGradient(kernelName);
      if (builtin && builtinKernelIsCorrect(resizeAttrs)) return builtin.gradFunc(dy, saved, attrs);
      const [images] = saved as [tf.Tensor4D];
      return { images: () => resizeGradVia(weightsOf, images, dy as tf.Tensor4D, resizeAttrs) };
    },
  };
}

const resizeBilinearGradient = resizeGradient(tf.ResizeBilinear, bilinearWeights);
const resizeNearestGradient = resizeGradient(tf.ResizeNearestNeighbor, nearestWeights);

/** Registers the ResizeBilinear and ResizeNearestNeighbor gradients above. Idempotent. */
export function installResizeGradients(): void {
  overrideGradient(resizeBilinearGradient);
  overrideGradient(resizeNearestGradient);
}
