/**
 * mmdet's CrossEntropyLoss (mmdet/models/losses/cross_entropy_loss.py) for classification:
 * softmax cross-entropy over [N, C] logits with integer labels, or sigmoid binary
 * cross-entropy with logits, where integer labels are expanded to one-hot targets (a label
 * equal to C, the background of a sigmoid head, gives an all-zero row). Both honour
 * `ignore_index` (those rows count zero) and reduce through weight_reduce_loss. Every op is
 * differentiable with respect to the logits.
 */
import * as tf from '@tensorflow/tfjs-core';
import { effectiveReduction, weightReduceLoss, type LossCallOptions, type Reduction } from './reduce.js';

/** PyTorch's default ignore_index, used when the config leaves it null. */
export const DEFAULT_IGNORE_INDEX = -100;

export interface CrossEntropyOptions extends LossCallOptions {
  /** Label value whose rows contribute nothing (default -100). */
  ignoreIndex?: number | null;
  /** Without avgFactor and with reduction 'mean', average over the non-ignored rows only. */
  avgNonIgnore?: boolean;
}

/** Labels as int32 on the host, checked against the class count as F.cross_entropy checks them. */
function checkedLabels(label: tf.Tensor, numClasses: number, ignoreIndex: number, what: string): Int32Array {
  const labels = Int32Array.from(label.dataSync());
  for (const value of labels) {
    if (value !== ignoreIndex && (value < 0 || value >= numClasses)) {
      throw new RangeError(`${what}: label ${value} is outside [0, ${numClasses}) and is not ignore_index ${ignoreIndex}`);
    }
  }
  return labels;
}

function countNotIgnored(labels: ArrayLike<number>, ignoreIndex: number): number {
  let count = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] !== ignoreIndex) count++;
  return count;
}

/**
 * mmdet's cross_entropy: F.cross_entropy(pred, label, reduction='none', ignore_index) per row,
 * i.e. logsumexp(pred_i) - pred_i[label_i] and 0 for ignored rows, then weight_reduce_loss.
 * `pred` [N, C] logits, `label` [N] integer classes.
 */
export function crossEntropy(pred: tf.Tensor2D, label: tf.Tensor1D, options: CrossEntropyOptions & { reduction?: Reduction } = {}): tf.Tensor {
  const ignoreIndex = options.ignoreIndex ?? DEFAULT_IGNORE_INDEX;
  const [rows, numClasses] = pred.shape;
  if (label.shape[0] !== rows) throw new Error(`cross_entropy: ${label.shape[0]} labels for ${rows} rows of logits`);
  const labels = checkedLabels(label, numClasses, ignoreIndex, 'cross_entropy');
  const reduction = options.reduction ?? 'mean';
  const avgFactor = options.avgFactor ?? (options.avgNonIgnore && reduction === 'mean' ? countNotIgnored(labels, ignoreIndex) : undefined);
  return tf.tidy(() => {
    // An ignored row gets an all-zero one-hot target, hence loss 0, whatever its value.
    const targets = tf.tensor2d(oneHotRows(labels, numClasses, (l) => l !== ignoreIndex), [rows, numClasses]);
    const perRow = tf.neg(tf.sum(tf.mul(tf.logSoftmax(pred), targets), 1));
    return weightReduceLoss(perRow, options.weight ? tf.cast(options.weight, 'float32') : undefined, reduction, avgFactor);
  });
}

/**
 * [N * C] 0/1 rows with a 1 at each kept label that lies in [0, C) (built on the host: the labels
 * are there already, and tf.oneHot needs depth >= 2 while an RPN has one class).
 */
function oneHotRows(labels: Int32Array, channels: number, keep: (label: number) => boolean): Float32Array {
  const rows = new Float32Array(labels.length * channels);
  labels.forEach((l, i) => {
    if (keep(l) && l >= 0 && l < channels) rows[i * channels + l] = 1;
  });
  return rows;
}

/**
 * mmdet's _expand_onehot_labels: [N] labels -> [N, C] 0/1 targets and per-element weights.
 * Rows with a negative or ignored label get weight 0; a label >= C (the background of a
 * sigmoid classifier) is valid with an all-zero target row.
 */
export function expandOnehotLabels(labels: Int32Array, labelWeights: tf.Tensor | null | undefined, channels: number, ignoreIndex: number): { targets: tf.Tensor2D; weights: tf.Tensor2D; validCount: number } {
  const valid = Float32Array.from(labels, (l) => (l >= 0 && l !== ignoreIndex ? 1 : 0));
  return tf.tidy(() => {
    const targets = tf.tensor2d(oneHotRows(labels, channels, (l) => l !== ignoreIndex), [labels.length, channels]);
    const validRows = tf.tensor2d(valid, [labels.length, 1]);
    const rowWeights = labelWeights ? tf.mul(tf.reshape(tf.cast(labelWeights, 'float32'), [-1, 1]), validRows) : validRows;
    const weights = tf.mul(rowWeights, tf.ones([1, channels])) as tf.Tensor2D;
    return { targets, weights, validCount: valid.reduce((s, v) => s + v, 0) * channels };
  });
}

/** BCE with logits, elementwise: softplus(x) - x * z (stable, and its gradient is sigmoid(x) - z). */
export function bceWithLogits(pred: tf.Tensor, target: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(tf.softplus(pred), tf.mul(pred, target)));
}

/**
 * mmdet's binary_cross_entropy: `pred` [N, C] logits; `label` either [N] integer labels
 * (expanded to one-hot, see expandOnehotLabels) or [N, C] float targets (elements equal to
 * ignore_index or negative are masked out). Then weight_reduce_loss.
 */
export function binaryCrossEntropy(pred: tf.Tensor, label: tf.Tensor, options: CrossEntropyOptions & { reduction?: Reduction } = {}): tf.Tensor {
  const ignoreIndex = options.ignoreIndex ?? DEFAULT_IGNORE_INDEX;
  const reduction = options.reduction ?? 'mean';
  return tf.tidy(() => {
    const { targets, weights, validCount } = pred.rank !== label.rank ? expandedTargets(pred, label, options.weight, ignoreIndex) : maskedTargets(label, options.weight, ignoreIndex);
    const avgFactor = options.avgFactor ?? (options.avgNonIgnore && reduction === 'mean' ? validCount : undefined);
    return weightReduceLoss(bceWithLogits(pred, targets), weights, reduction, avgFactor);
  });
}

function expandedTargets(pred: tf.Tensor, label: tf.Tensor, weight: tf.Tensor | null | undefined, ignoreIndex: number): { targets: tf.Tensor; weights: tf.Tensor; validCount: number } {
  if (pred.rank !== 2 || label.rank !== 1 || label.shape[0] !== pred.shape[0]) {
    throw new Error(`binary_cross_entropy: integer labels must be [N] for [N, C] logits, got labels [${label.shape.join(', ')}] and logits [${pred.shape.join(', ')}]`);
  }
  return expandOnehotLabels(Int32Array.from(label.dataSync()), weight, pred.shape[1]!, ignoreIndex);
}

/** Same-shape float targets: elements that are negative or equal to ignore_index weigh 0. */
function maskedTargets(label: tf.Tensor, weight: tf.Tensor | null | undefined, ignoreIndex: number): { targets: tf.Tensor; weights: tf.Tensor; validCount: number } {
  const valid = tf.cast(tf.logicalAnd(tf.greaterEqual(label, 0), tf.notEqual(label, ignoreIndex)), 'float32');
  const validCount = tf.sum(valid).dataSync()[0]!;
  return { targets: tf.cast(label, 'float32'), weights: weight ? tf.mul(tf.cast(weight, 'float32'), valid) : valid, validCount };
}

export interface CrossEntropyLossConfig {
  use_sigmoid: boolean;
  use_mask: false;
  reduction: Reduction;
  class_weight: null;
  ignore_index: number | null;
  loss_weight: number;
  avg_non_ignore: boolean;
}

/** The CrossEntropyLoss module: loss_weight * (sigmoid BCE or softmax CE). */
export class CrossEntropyLoss {
  readonly useSigmoid: boolean;
  readonly reduction: Reduction;
  readonly lossWeight: number;
  readonly ignoreIndex: number | null;
  readonly avgNonIgnore: boolean;

  constructor(cfg: Partial<CrossEntropyLossConfig> = {}) {
    this.useSigmoid = cfg.use_sigmoid ?? false;
    this.reduction = cfg.reduction ?? 'mean';
    this.lossWeight = cfg.loss_weight ?? 1;
    this.ignoreIndex = cfg.ignore_index ?? null;
    this.avgNonIgnore = cfg.avg_non_ignore ?? false;
    if (this.ignoreIndex !== null && !this.avgNonIgnore && this.reduction === 'mean') {
      console.warn('CrossEntropyLoss: with ignore_index and avg_non_ignore false the mean runs over every row, ignored ones included (mmdet default); set avg_non_ignore: true to average over the non-ignored rows as PyTorch does');
    }
  }

  /** `clsScore` [N, C] logits; `label` [N] integer classes (or [N, C] targets with use_sigmoid). */
  forward(clsScore: tf.Tensor, label: tf.Tensor, options: CrossEntropyOptions = {}): tf.Tensor {
    const callOptions = {
      ...options,
      reduction: effectiveReduction(this.reduction, options.reductionOverride),
      ignoreIndex: options.ignoreIndex ?? this.ignoreIndex,
      avgNonIgnore: this.avgNonIgnore,
    };
    return tf.tidy(() => {
      const loss = this.useSigmoid ? binaryCrossEntropy(clsScore, label, callOptions) : crossEntropy(clsScore as tf.Tensor2D, label as tf.Tensor1D, callOptions);
      return tf.mul(loss, this.lossWeight);
    });
  }
}
