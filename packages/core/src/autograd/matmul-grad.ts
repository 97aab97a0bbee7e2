/**
 * A BatchMatMul gradient made of non-transposed matMuls.
 *
 * tfjs's own gradient computes dA = dy·Bᵀ and dB = Aᵀ·dy with matMul's transposeA/transposeB
 * flags. On the wasm backend those flags take a path ~10-15x slower than a plain matMul
 * (measured: [512, 3136]ᵀ·[512, 256] 523 ms with transposeA, 35 ms as transpose + matMul), and
 * that is the whole cost of a Linear layer's backward (the RoI head's shared FCs) and of every
 * matMul in the plugins' backward. Materialising the transpose first is the same arithmetic.
 */
import * as tf from '@tensorflow/tfjs-core';
import { isGradientInstalled, overrideGradient, restoreBuiltinGradient } from './gradient-registry.js';

/** Swaps the last two axes of a rank >= 2 tensor. */
function swapLastAxes(x: tf.Tensor): tf.Tensor {
  const rank = x.rank;
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return tf.transpose(x, perm);
}

/**
 * a·b with optional transposes, each transpose materialised so the product runs on the plain
 * (fast) matMul path. Same result as tf.matMul(a, b, transposeA, transposeB).
 */
export function plainMatMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  return tf.tidy(() => tf.matMul(transposeA ? swapLastAxes(a) : a, transposeB ? swapLastAxes(b) : b));
}

/**
 * Sums a gradient over the batch axes its operand was broadcast along (missing leading axes, and
 * axes of size 1), so it has the operand's shape. tfjs 4.22's own BatchMatMul gradient skips this
 * and fails on broadcast batches ("gradient of input 'b' has shape ...").
 */
function reduceToShape(grad: tf.Tensor, shape: readonly number[]): tf.Tensor {
  return tf.tidy(() => {
    let g = grad;
    const extra = g.rank - shape.length;
    if (extra > 0) g = tf.sum(g, [...Array(extra).keys()]);
    const broadcastAxes = shape.map((d, axis) => (d === 1 && g.shape[axis] !== 1 ? axis : -1)).filter((axis) => axis >= 0);
    return broadcastAxes.length ? tf.sum(g, broadcastAxes, true) : g;
  });
}

type Product = () => tf.Tensor;

/** dA and dB of a·b (each operand possibly transposed) as plain matMuls of dy and the operands. */
function gradientProducts(a: tf.Tensor, b: tf.Tensor, g: tf.Tensor, transposeA: boolean, transposeB: boolean): [Product, Product] {
  if (!transposeA && !transposeB) return [() => plainMatMul(g, b, false, true), () => plainMatMul(a, g, true, false)];
  if (!transposeA && transposeB) return [() => plainMatMul(g, b), () => plainMatMul(g, a, true, false)];
  if (transposeA && !transposeB) return [() => plainMatMul(b, g, false, true), () => plainMatMul(a, g)];
  return [() => plainMatMul(b, g, true, true), () => plainMatMul(g, a, true, true)];
}

const fastBatchMatMulGradient: tf.GradConfig = {
  kernelName: tf.BatchMatMul,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const g = dy as tf.Tensor;
    const [da, db] = gradientProducts(a, b, g, transposeA, transposeB);
    return { a: () => reduceToShape(da(), a.shape), b: () => reduceToShape(db(), b.shape) };
  },
};

export function installFastMatMulGradient(): void {
  overrideGradient(fastBatchMatMulGradient);
}

/** Puts tfjs's own BatchMatMul gradient back (for comparisons and benchmarks). */
export function uninstallFastMatMulGradient(): void {
  restoreBuiltinGradient(tf.BatchMatMul);
}

export function fastMatMulGradientInstalled(): boolean {
  return isGradientInstalled(fastBatchMatMulGradient);
}
