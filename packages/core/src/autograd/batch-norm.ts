/**
 * PyTorch's BatchNorm on channels-last tensors (NHWC, or [N, C]) for training, as custom-gradient
 * ops with an optional fused ReLU.
 *
 * Why not plain differentiable ops: tfjs then tapes every intermediate (the centred input, its
 * square, the normalised input, the pre-ReLU output) and keeps each for the backward pass, about
 * four full-size tensors per BN where PyTorch keeps one; and its per-channel reductions over
 * N, H, W transpose the whole tensor first (tf.sum over axis 0 of [M, C] costs 10x a matMul with
 * a row of ones on wasm). Here the forward keeps only its input x (and the ReLU output, which the
 * next conv keeps anyway), reductions are average pools, and the backward is the closed form.
 */
import * as tf from '@tensorflow/tfjs-core';
import { channelMeans } from './channel-means.js';
import { noGrad } from './no-grad.js';

export interface BatchNormTrainResult<T extends tf.Tensor> {
  y: T;
  /** Per-channel mean over every axis but the last, [C]. */
  batchMean: tf.Tensor1D;
  /** Per-channel variance with Bessel's correction (n / (n - 1)), [C]: what the running variance tracks. */
  batchVarUnbiased: tf.Tensor1D;
}

export interface BatchNormOptions {
  eps?: number;
  /** Apply ReLU to the result inside the same op (its mask comes from the output, nothing more is kept). */
  relu?: boolean;
}

/**
 * The shared custom-gradient op: y = act((x - mean) * invStd * gamma + beta) with `mean` and
 * `invStd` fixed per channel. `batchStats` says whether they were computed from this x, which adds
 * the statistics' own gradient (the -mean(g) - xhat * mean(g * xhat) terms) to dx.
 */
function normalizeAffine<T extends tf.Tensor>(x: T, gamma: tf.Tensor, beta: tf.Tensor, mean: tf.Tensor1D, invStd: tf.Tensor1D, batchStats: boolean, relu: boolean): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, gammaIn, betaIn, save] = args as [T, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const value = tf.tidy(() => {
      // Centred first: x * scale + (beta - mean * scale) is one pass less but cancels digits when |mean| >> std.
      const y = tf.add(tf.mul(tf.sub(xIn, mean), tf.mul(gammaIn, invStd)), betaIn);
      return (relu ? tf.relu(y) : y) as T;
    });
    // The statistics are saved too: the caller frees its own handles once the op has run.
    save(relu ? [xIn, gammaIn, mean, invStd, value] : [xIn, gammaIn, mean, invStd]);
    return {
      value,
      gradFunc: (dy: T, saved: tf.Tensor[]) => normalizeAffineGrad(dy, saved, batchStats),
    };
  });
  return op(x, gamma, beta) as T;
}

/**
 * [dx, dgamma, dbeta] of normalizeAffine. With batch statistics
 *   dx = (g - xhat * mean(g * xhat) - mean(g)) * gamma * invStd = g * scale + xhat * a + b
 * with per-channel a and b. Full-size temporaries are freed as soon as they are used, so at most
 * three input-sized tensors besides dy are alive at once (a single tidy held nine: at a ResNet-50
 * layer1 block at 800x1216 that was the peak of a with_cp step, 62 MB each).
 */
function normalizeAffineGrad(dy: tf.Tensor, saved: tf.Tensor[], batchStats: boolean): tf.Tensor[] {
  const [xSaved, gammaSaved, meanSaved, invStdSaved, out] = saved as [tf.Tensor, tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor | undefined];
  // PyTorch's ReLU gradient: zero where the output is zero.
  const g = out ? tf.tidy(() => tf.mul(dy, tf.step(out))) : dy;
  const n = g.size / g.shape[g.rank - 1]!;
  const xhat = tf.tidy(() => tf.mul(tf.sub(xSaved, meanSaved), invStdSaved));
  const meanG = channelMeans(g);
  const meanGXhat = tf.tidy(() => channelMeans(tf.mul(g, xhat)));
  const dgamma = tf.tidy(() => tf.reshape(tf.mul(meanGXhat, n), gammaSaved.shape));
  const dbeta = tf.tidy(() => tf.reshape(tf.mul(meanG, n), gammaSaved.shape));
  const scale = tf.mul(gammaSaved, invStdSaved);
  let dx: tf.Tensor;
  if (batchStats) {
    const xhatTerm = tf.tidy(() => tf.mul(xhat, tf.neg(tf.mul(meanGXhat, scale))));
    xhat.dispose();
    const gTerm = tf.mul(g, scale);
    if (g !== dy) g.dispose();
    const sum = tf.add(gTerm, xhatTerm);
    tf.dispose([gTerm, xhatTerm]);
    dx = tf.tidy(() => tf.sub(sum, tf.mul(meanG, scale)));
    sum.dispose();
  } else {
    xhat.dispose();
    dx = tf.mul(g, scale);
    if (g !== dy) g.dispose();
  }
  tf.dispose([meanG, meanGXhat, scale]);
  return [dx, dgamma, dbeta];
}

/**
 * y = (x - mean) / sqrt(var + eps) * gamma + beta with the statistics of this batch, taken over
 * every axis but the last (N, H, W for NHWC), then ReLU if asked. As in PyTorch, x is normalised
 * with the BIASED variance while the UNBIASED one is returned for the running estimate.
 * Gradients reach x (through the batch statistics too), gamma and beta.
 */
export function batchNormTrain<T extends tf.Tensor>(x: T, gamma: tf.Tensor, beta: tf.Tensor, options: BatchNormOptions = {}): BatchNormTrainResult<T> {
  const eps = options.eps ?? 1e-5;
  const channels = x.shape[x.rank - 1]!;
  const perChannel = x.size / channels;
  if (perChannel < 2) {
    // PyTorch refuses too: the unbiased variance of one value is undefined.
    throw new Error(`batchNormTrain: expected more than 1 value per channel when training, got input shape [${x.shape}]`);
  }
  // The statistics' gradient is part of normalizeAffine's closed form, so they are computed off the
  // tape (on it, each op would also keep its inputs until the backward pass).
  const { batchMean, invStd, batchVarUnbiased } = noGrad(() =>
    tf.tidy(() => {
      const mean = channelMeans(x);
      // Two passes (centre, then square) as PyTorch: E[x^2] - E[x]^2 loses digits when |mean| >> std.
      const variance = channelMeans(tf.squaredDifference(x, mean));
      return {
        batchMean: mean,
        invStd: tf.rsqrt(tf.add(variance, eps)) as tf.Tensor1D,
        batchVarUnbiased: tf.mul(variance, perChannel / (perChannel - 1)) as tf.Tensor1D,
      };
    }),
  );
  try {
    const y = normalizeAffine(x, gamma, beta, batchMean, invStd, true, options.relu ?? false);
    return { y, batchMean, batchVarUnbiased };
  } catch (error) {
    tf.dispose([batchMean, batchVarUnbiased]);
    throw error;
  } finally {
    invStd.dispose();
  }
}

/**
 * BatchNorm with fixed (running) statistics, then ReLU if asked: mmdet's norm_eval, where the
 * statistics are frozen but gamma and beta may still train. Gradients reach x, gamma and beta;
 * off the gradient tape it is a plain per-channel affine map.
 */
export function batchNormFrozen<T extends tf.Tensor>(
  x: T,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  runningMean: tf.Tensor1D,
  runningVar: tf.Tensor1D,
  options: BatchNormOptions = {},
): T {
  const eps = options.eps ?? 1e-5;
  const invStd = noGrad(() => tf.tidy(() => tf.rsqrt(tf.add(runningVar, eps)) as tf.Tensor1D));
  try {
    return normalizeAffine(x, gamma, beta, runningMean, invStd, false, options.relu ?? false);
  } finally {
    invStd.dispose();
  }
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
