/**
 * Tools for checking gradients: central finite differences, error measures and a tensor-leak
 * counter. Used by this folder's tests; also meant for anyone writing a custom gradient.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * d loss / d x by central differences, one element at a time:
 * (loss(x + eps e_i) - loss(x - eps e_i)) / (2 eps). Costs 2 * x.size evaluations, so keep x small.
 * For a loss that is linear in x any eps is exact up to rounding, and a large one (1) is best.
 */
export function numericGradient(loss: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, eps = 1e-2): Float64Array {
  const base = x.dataSync() as Float32Array;
  const grad = new Float64Array(base.length);
  const probe = Float32Array.from(base);
  for (let i = 0; i < base.length; i++) {
    probe[i] = base[i]! + eps;
    const plus = evaluate(loss, probe, x.shape);
    probe[i] = base[i]! - eps;
    const minus = evaluate(loss, probe, x.shape);
    probe[i] = base[i]!;
    grad[i] = (plus - minus) / (2 * eps);
  }
  return grad;
}

function evaluate(loss: (x: tf.Tensor) => tf.Scalar, values: Float32Array, shape: number[]): number {
  const value = tf.tidy(() => loss(tf.tensor(values, shape)));
  const result = value.dataSync()[0]!;
  value.dispose();
  return result;
}

/**
 * A random linear read-out of f: returns (x) => sum(f(x) * weights) with fixed random weights of
 * f's output shape, which turns any tensor function into a scalar loss whose gradient is f's
 * vector-Jacobian product with those weights. Dispose `weights` when done.
 */
export function randomProjection(f: (x: tf.Tensor) => tf.Tensor, outputShape: number[], seed = 1): {
  loss: (x: tf.Tensor) => tf.Scalar;
  weights: tf.Tensor;
} {
  const weights = tf.randomNormal(outputShape, 0, 1, 'float32', seed);
  return { loss: (x) => tf.sum(tf.mul(f(x), weights)), weights };
}

export interface Discrepancy {
  maxAbs: number;
  /** maxAbs / max |expected| (or maxAbs when expected is all zero). */
  relative: number;
}

export function discrepancy(actual: tf.Tensor | ArrayLike<number>, expected: tf.Tensor | ArrayLike<number>): Discrepancy {
  const a = values(actual);
  const e = values(expected);
  if (a.length !== e.length) throw new Error(`discrepancy: ${a.length} values against ${e.length}`);
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i]! - e[i]!);
    maxAbs = Number.isNaN(diff) ? Infinity : Math.max(maxAbs, diff);
    scale = Math.max(scale, Math.abs(e[i]!));
  }
  return { maxAbs, relative: scale > 0 ? maxAbs / scale : maxAbs };
}

function values(t: tf.Tensor | ArrayLike<number>): ArrayLike<number> {
  return t instanceof tf.Tensor ? (t.dataSync() as ArrayLike<number>) : t;
}
