/**
 * PyTorch's training-mode BatchNorm on channels-last tensors (NHWC, or [N, C]), from ordinary
 * differentiable ops so gradients reach x, gamma and beta through the batch statistics.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface BatchNormTrainResult<T extends tf.Tensor> {
  y: T;
  /** Per-channel mean over every axis but the last, [C]. */
  batchMean: tf.Tensor1D;
  /** Per-channel variance with Bessel's correction (n / (n - 1)), [C]: what the running variance tracks. */
  batchVarUnbiased: tf.Tensor1D;
}

/**
 * y = (x - mean) / sqrt(var + eps) * gamma + beta with the statistics of this batch, taken over
 * every axis but the last (N, H, W for NHWC). As in PyTorch, x is normalised with the BIASED
 * variance while the UNBIASED one is returned for the running estimate.
 */
export function batchNormTrain<T extends tf.Tensor>(x: T, gamma: tf.Tensor, beta: tf.Tensor, options: { eps?: number } = {}): BatchNormTrainResult<T> {
  const eps = options.eps ?? 1e-5;
  const channels = x.shape[x.rank - 1]!;
  const perChannel = x.size / channels;
  if (perChannel < 2) {
    // PyTorch refuses too: the unbiased variance of one value is undefined.
    throw new Error(`batchNormTrain: expected more than 1 value per channel when training, got input shape [${x.shape}]`);
  }
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  return tf.tidy(() => {
    const batchMean = tf.mean(x, axes) as tf.Tensor1D;
    const centered = tf.sub(x, batchMean);
    const batchVar = tf.mean(tf.square(centered), axes);
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(batchVar, eps)));
    const y = tf.add(tf.mul(centered, scale), beta) as T;
    const batchVarUnbiased = tf.mul(batchVar, perChannel / (perChannel - 1)) as tf.Tensor1D;
    return { y, batchMean, batchVarUnbiased };
  });
}

/**
 * running = (1 - momentum) * running + momentum * batch, for the mean and the variance (PyTorch's
 * convention: momentum weighs the new batch). Inside a checkpointed segment, call it only when
 * !isRecomputing(), or the recomputation in backward updates the statistics a second time.
 */
export function updateRunningStats(
  runningMean: tf.Variable,
  runningVar: tf.Variable,
  batchMean: tf.Tensor,
  batchVarUnbiased: tf.Tensor,
  momentum = 0.1,
): void {
  tf.tidy(() => {
    runningMean.assign(tf.add(tf.mul(runningMean, 1 - momentum), tf.mul(batchMean, momentum)));
    runningVar.assign(tf.add(tf.mul(runningVar, 1 - momentum), tf.mul(batchVarUnbiased, momentum)));
  });
}
