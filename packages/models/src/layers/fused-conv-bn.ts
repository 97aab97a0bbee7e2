/**
 * Inference fast path: a conv followed by a batch norm in eval mode is one affine map, so the
 * norm is folded into the conv's weights and bias and the activation fused into the same
 * kernel (tfjs fused conv2d). On wasm an unfolded BN costs 1.3-1.6x (docs/performance.md).
 *
 * In eval mode the folded weights are cached per conv (XNNPACK also caches its packed weights
 * per filter tensor, so a stable filter matters) and recomputed whenever a source tensor changes:
 * tfjs gives a variable a new dataId on every assign, so the dataIds are the cache key. A conv in
 * training mode (a frozen stage under norm_eval) folds per call: its weights may change each step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { isRecordingGradients, type Module } from '@tsdet/core';
import { Conv2d } from './conv2d.js';
import { convUsesWinograd, inferenceConv, refreshWinogradEntry, type WinogradCacheEntry } from './inference-conv.js';
import { BatchNorm2d, NormLayer } from './norm.js';

interface Folded {
  key: readonly object[];
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
  /** The folded filter's Winograd transform, where the conv runs that way (inference-conv.ts). */
  winograd?: WinogradCacheEntry;
}

const cache = new WeakMap<Conv2d, Folded>();

/** Every tensor the folded weights depend on, by identity of its current data. */
function sourceKey(conv: Conv2d, norm: BatchNorm2d): object[] {
  const tensors = [conv.weight, conv.bias, norm.weight, norm.bias, norm.runningMean, norm.runningVar];
  return tensors.map((t) => (t ? (t.dataId as object) : conv));
}

function sameKey(a: readonly object[], b: readonly object[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The folded filter and bias (new tensors, owned by the caller). */
function foldWeights(conv: Conv2d, norm: BatchNorm2d): [tf.Tensor4D, tf.Tensor1D] {
  return tf.tidy(() => {
    const scale = tf.div(norm.weight, tf.sqrt(tf.add(norm.runningVar, norm.eps)));
    const convBias = conv.bias ?? tf.zeros([conv.outChannels]);
    // HWIO: the output channel is the last axis, so the per-channel scale broadcasts.
    const w = tf.mul(conv.weight, scale) as tf.Tensor4D;
    const b = tf.add(norm.bias, tf.mul(tf.sub(convBias, norm.runningMean), scale)) as tf.Tensor1D;
    return [w, b];
  });
}

function cachedFold(conv: Conv2d, norm: BatchNorm2d): Folded {
  const key = sourceKey(conv, norm);
  const cached = cache.get(conv);
  if (cached && sameKey(cached.key, key)) return cached;
  if (cached) disposeFolded(cached);
  // Kept: the cache outlives the forward's tidy scope; dispose() or the next refold frees them.
  const [filter, bias] = foldWeights(conv, norm).map((t) => tf.keep(t)) as [tf.Tensor4D, tf.Tensor1D];
  const folded: Folded = { key, filter, bias };
  if (!conv.training && convUsesWinograd(conv)) folded.winograd = refreshWinogradEntry(undefined, filter);
  cache.set(conv, folded);
  return folded;
}

function disposeFolded(folded: Folded): void {
  tf.dispose([folded.filter, folded.bias, ...(folded.winograd?.planes ?? [])]);
}

/** Whether conv -> norm may run folded: the norm is a BN using its running statistics. */
export function canFold(norm: NormLayer): norm is BatchNorm2d {
  return norm instanceof BatchNorm2d && !norm.training;
}

/** conv -> BN (eval) -> activation as one fused conv on folded weights. */
export function foldedConvBn(x: tf.Tensor4D, conv: Conv2d, norm: BatchNorm2d, activation: 'relu' | 'linear'): tf.Tensor4D {
  if (conv.training) return tf.tidy(() => inferenceConv(x, conv, ...foldWeights(conv, norm), activation));
  const folded = cachedFold(conv, norm);
  const transformed = (): readonly tf.Tensor4D[] => (folded.winograd = refreshWinogradEntry(folded.winograd, folded.filter)).planes;
  return inferenceConv(x, conv, folded.filter, folded.bias, activation, transformed);
}

/**
 * conv -> norm -> optional ReLU, folded when the norm is an eval-mode BN and no gradient is
 * being recorded (tfjs's fused conv gradient bypasses our fast conv gradients).
 */
export function convNormAct(x: tf.Tensor4D, conv: Conv2d, norm: NormLayer, relu: boolean): tf.Tensor4D {
  if (canFold(norm) && !isRecordingGradients()) return foldedConvBn(x, conv, norm, relu ? 'relu' : 'linear');
  return tf.tidy(() => norm.forwardAct(conv.forward(x), relu) as tf.Tensor4D);
}

/**
 * Prepares the folded weights of every (Conv2d, eval-mode BatchNorm2d) pair among `module`'s
 * direct children, in registration order (conv1/bn1, conv/bn, Sequential '0'/'1'), and what the
 * other eval-mode Conv2d children need (Conv2d.prepareInference). Called when a module switches to
 * eval mode, so that inference forwards allocate nothing that outlives them.
 */
export function prefoldConvNormChildren(module: Module): void {
  const children = module.namedChildren().map(([, child]) => child);
  children.forEach((child, i) => {
    const next = children[i + 1];
    if (!(child instanceof Conv2d) || child.training) return;
    if (next instanceof NormLayer && canFold(next)) cachedFold(child, next);
    else child.prepareInference();
  });
}

/** Frees the folded weights cached for these convs (call when disposing a model). */
export function releaseFolded(convs: Iterable<Conv2d>): void {
  for (const conv of convs) {
    const folded = cache.get(conv);
    if (!folded) continue;
    disposeFolded(folded);
    cache.delete(conv);
  }
}
