/**
 * mmdet's loss reduction (mmdet/models/losses/utils.py): `weight_reduce_loss` and the options
 * every loss's forward takes (weight, avg_factor, reduction_override).
 */
import * as tf from '@tensorflow/tfjs-core';

export const REDUCTIONS = ['none', 'mean', 'sum'] as const;
export type Reduction = (typeof REDUCTIONS)[number];

/** torch.finfo(torch.float32).eps, which mmdet adds to avg_factor so that 0 never divides. */
export const FLOAT32_EPS = 1.1920928955078125e-7;

/** What a loss forward takes besides its prediction and target (mmdet's keyword arguments). */
export interface LossCallOptions {
  /** Elementwise weight, broadcast against the elementwise loss. */
  weight?: tf.Tensor | null;
  /** Divides the weighted sum instead of the element count (only with reduction 'mean'). */
  avgFactor?: number | null;
  /** Replaces the loss's configured reduction for this call. */
  reductionOverride?: Reduction | null;
}

/** reduce_loss: 'none' keeps the elementwise loss, 'mean' and 'sum' reduce over every element. */
export function reduceLoss(loss: tf.Tensor, reduction: Reduction): tf.Tensor {
  switch (reduction) {
    case 'none':
      return loss;
    case 'mean':
      return tf.mean(loss);
    case 'sum':
      return tf.sum(loss);
  }
}

/**
 * weight_reduce_loss: multiply by `weight`, then reduce; with `avgFactor` the mean is
 * sum / (avgFactor + eps). mmdet raises for avg_factor with reduction 'sum', and so do we.
 */
export function weightReduceLoss(loss: tf.Tensor, weight: tf.Tensor | null | undefined, reduction: Reduction, avgFactor: number | null | undefined): tf.Tensor {
  return tf.tidy(() => {
    const weighted = weight ? tf.mul(loss, weight) : loss;
    if (avgFactor === null || avgFactor === undefined) return reduceLoss(weighted, reduction);
    if (reduction === 'mean') return tf.div(tf.sum(weighted), avgFactor + FLOAT32_EPS);
    if (reduction === 'none') return weighted;
    throw new Error('avg_factor can not be used with reduction="sum"');
  });
}

/** The reduction of one call: the override when given, else the configured one. */
export function effectiveReduction(configured: Reduction, override: Reduction | null | undefined): Reduction {
  return override ?? configured;
}

/** Whether any weight is > 0, read on the host (mmdet's `torch.any(weight > 0)`). */
export function anyPositive(weight: tf.Tensor): boolean {
  return (weight.dataSync() as Float32Array).some((w) => w > 0);
}
