/**
 * mmdet's box regression losses (mmdet/models/losses/smooth_l1_loss.py): L1Loss and
 * SmoothL1Loss, elementwise on [N, 4] deltas, then weight_reduce_loss. As in mmdet, when a
 * weight is given and no element of it is positive the loss is sum(pred * weight), i.e. 0 with a
 * gradient path (so a batch without positives still backpropagates).
 */
import * as tf from '@tensorflow/tfjs-core';
import { anyPositive, effectiveReduction, weightReduceLoss, type LossCallOptions, type Reduction } from './reduce.js';

function checkSameShape(pred: tf.Tensor, target: tf.Tensor, what: string): void {
  if (pred.shape.join() !== target.shape.join()) throw new Error(`${what}: pred [${pred.shape.join(', ')}] and target [${target.shape.join(', ')}] must have the same shape`);
}

/**
 * |x| as x * sign(x): the same values, and the gradient sign(x), which is 0 at 0 as in PyTorch
 * (tfjs's abs gradient is -1 there).
 */
function absWithTorchGrad(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sign(x));
}

/** |pred - target| elementwise; an empty target gives sum(pred) * 0. */
export function l1Elementwise(pred: tf.Tensor, target: tf.Tensor): tf.Tensor {
  if (target.size === 0) return tf.tidy(() => tf.mul(tf.sum(pred), 0));
  checkSameShape(pred, target, 'l1_loss');
  return tf.tidy(() => absWithTorchGrad(tf.sub(pred, target)));
}

/** 0.5 * d^2 / beta where d = |pred - target| < beta, else d - 0.5 * beta (beta > 0). */
export function smoothL1Elementwise(pred: tf.Tensor, target: tf.Tensor, beta = 1): tf.Tensor {
  if (!(beta > 0)) throw new RangeError(`smooth_l1_loss: beta must be > 0, got ${beta}`);
  if (target.size === 0) return tf.tidy(() => tf.mul(tf.sum(pred), 0));
  checkSameShape(pred, target, 'smooth_l1_loss');
  return tf.tidy(() => {
    const diff = absWithTorchGrad(tf.sub(pred, target));
    return tf.where(tf.less(diff, beta), tf.div(tf.mul(tf.mul(diff, diff), 0.5), beta), tf.sub(diff, 0.5 * beta));
  });
}

/** mmdet's l1_loss (the @weighted_loss function): elementwise L1, then weight_reduce_loss. */
export function l1Loss(pred: tf.Tensor, target: tf.Tensor, options: LossCallOptions & { reduction?: Reduction } = {}): tf.Tensor {
  return tf.tidy(() => weightReduceLoss(l1Elementwise(pred, target), options.weight, options.reduction ?? 'mean', options.avgFactor));
}

/** mmdet's smooth_l1_loss: elementwise smooth L1 with `beta`, then weight_reduce_loss. */
export function smoothL1Loss(pred: tf.Tensor, target: tf.Tensor, beta = 1, options: LossCallOptions & { reduction?: Reduction } = {}): tf.Tensor {
  return tf.tidy(() => weightReduceLoss(smoothL1Elementwise(pred, target, beta), options.weight, options.reduction ?? 'mean', options.avgFactor));
}

/** mmdet's shortcut for an all-non-positive weight: sum(pred * weight), unsqueezing a [N] weight for [N, 4] preds. */
function zeroWeightLoss(pred: tf.Tensor, weight: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sum(tf.mul(pred, pred.rank === weight.rank + 1 ? tf.expandDims(weight, 1) : weight)));
}

export interface L1LossConfig {
  reduction: Reduction;
  loss_weight: number;
}

export interface SmoothL1LossConfig extends L1LossConfig {
  beta: number;
}

/** A regression loss module: loss_weight * reduced elementwise loss. */
abstract class RegressionLoss {
  readonly reduction: Reduction;
  readonly lossWeight: number;

  constructor(cfg: Partial<L1LossConfig> = {}) {
    this.reduction = cfg.reduction ?? 'mean';
    this.lossWeight = cfg.loss_weight ?? 1;
  }

  protected abstract elementwise(pred: tf.Tensor, target: tf.Tensor): tf.Tensor;

  forward(pred: tf.Tensor, target: tf.Tensor, options: LossCallOptions = {}): tf.Tensor {
    if (options.weight && !anyPositive(options.weight)) return zeroWeightLoss(pred, options.weight);
    const reduction = effectiveReduction(this.reduction, options.reductionOverride);
    return tf.tidy(() => tf.mul(weightReduceLoss(this.elementwise(pred, target), options.weight, reduction, options.avgFactor), this.lossWeight));
  }
}

export class L1Loss extends RegressionLoss {
  protected elementwise(pred: tf.Tensor, target: tf.Tensor): tf.Tensor {
    return l1Elementwise(pred, target);
  }
}

export class SmoothL1Loss extends RegressionLoss {
  readonly beta: number;

  constructor(cfg: Partial<SmoothL1LossConfig> = {}) {
    super(cfg);
    this.beta = cfg.beta ?? 1;
    if (!(this.beta > 0)) throw new RangeError(`SmoothL1Loss: beta must be > 0, got ${this.beta}`);
  }

  protected elementwise(pred: tf.Tensor, target: tf.Tensor): tf.Tensor {
    return smoothL1Elementwise(pred, target, this.beta);
  }
}
