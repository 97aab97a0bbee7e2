/**
 * Normalisation layers and mmcv's `build_norm_layer`: the config type picks the class, the
 * abbreviation plus postfix names the child (`bn1`, `gn2`), `requires_grad` is written onto the
 * parameters (mmdet-reference §1.1).
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchNormFrozen, batchNormTrain, isRecomputing, Module, updateRunningStats } from '@tsdet/core';

export interface NormConfig {
  type: 'BN' | 'BN2d' | 'SyncBN' | 'GN' | 'LN';
  requires_grad?: boolean;
  eps?: number;
  momentum?: number;
  num_groups?: number;
}

export const NORM_TYPES = ['BN', 'BN2d', 'SyncBN', 'GN', 'LN'] as const;

/** JSON schema of a `norm_cfg` dict. */
export const normConfigSchema = {
  type: 'object',
  properties: {
    type: { enum: [...NORM_TYPES] },
    requires_grad: { type: 'boolean' },
    eps: { type: 'number', exclusiveMinimum: 0 },
    momentum: { type: 'number', minimum: 0, maximum: 1 },
    num_groups: { type: 'integer', minimum: 1 },
  },
  required: ['type'],
  additionalProperties: false,
} as const;

/** Marker for everything mmdet treats as `_BatchNorm` (norm_eval and frozen stages act on these). */
export abstract class NormLayer extends Module {
  abstract forward(x: tf.Tensor): tf.Tensor;

  /** norm then ReLU when `relu`; layers that can fuse the two override it. */
  forwardAct(x: tf.Tensor, relu: boolean): tf.Tensor {
    return tf.tidy(() => (relu ? tf.relu(this.forward(x)) : this.forward(x)));
  }
}

/** nn.BatchNorm2d over the last (channel) axis of NHWC tensors, with PyTorch's training semantics. */
export class BatchNorm2d extends NormLayer {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly numBatchesTracked: tf.Variable;

  constructor(
    readonly numFeatures: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    this.weight = this.addParameter('weight', tf.ones([numFeatures]));
    this.bias = this.addParameter('bias', tf.zeros([numFeatures]));
    this.runningMean = this.addBuffer('running_mean', tf.zeros([numFeatures]));
    this.runningVar = this.addBuffer('running_var', tf.ones([numFeatures]));
    this.numBatchesTracked = this.addBuffer('num_batches_tracked', tf.scalar(0, 'int32'));
  }

  /**
   * Training mode normalises with the batch statistics and updates the running ones (unbiased
   * variance, momentum); eval mode uses the running statistics. During a checkpointed
   * recomputation the running statistics are left alone, so they are updated once per step.
   */
  forward(x: tf.Tensor): tf.Tensor {
    return this.forwardAct(x, false);
  }

  /**
   * BN, then ReLU when `relu`, as one op (core's batchNormTrain / batchNormFrozen: only the input
   * is kept for the backward pass, whose gradient is computed in closed form).
   */
  override forwardAct(x: tf.Tensor, relu: boolean): tf.Tensor {
    if (!this.training) {
      return batchNormFrozen(x, this.weight, this.bias, this.runningMean as tf.Tensor1D, this.runningVar as tf.Tensor1D, { eps: this.eps, relu });
    }
    const { y, batchMean, batchVarUnbiased } = batchNormTrain(x, this.weight, this.bias, { eps: this.eps, relu });
    if (!isRecomputing()) {
      updateRunningStats(this.runningMean, this.runningVar, batchMean, batchVarUnbiased, this.momentum);
      tf.tidy(() => this.numBatchesTracked.assign(tf.add(this.numBatchesTracked, tf.scalar(1, 'int32'))));
    }
    tf.dispose([batchMean, batchVarUnbiased]);
    return y;
  }
}

/** nn.GroupNorm on NHWC: statistics per sample over (H, W, channels of the group). */
export class GroupNorm extends NormLayer {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly eps = 1e-5,
  ) {
    super();
    if (numChannels % numGroups !== 0) throw new Error(`GroupNorm: num_channels ${numChannels} is not divisible by num_groups ${numGroups}`);
    this.weight = this.addParameter('weight', tf.ones([numChannels]));
    this.bias = this.addParameter('bias', tf.zeros([numChannels]));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [n] = x.shape;
      const grouped = tf.reshape(x, [n!, -1, this.numGroups, this.numChannels / this.numGroups]);
      const { mean, variance } = tf.moments(grouped, [1, 3], true);
      const normalised = tf.div(tf.sub(grouped, mean), tf.sqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(tf.reshape(normalised, x.shape), this.weight), this.bias);
    });
  }
}

/**
 * nn.LayerNorm over the trailing channel axis (mmcv ContextBlock normalises [C, 1, 1] feature
 * vectors); its PyTorch weight is [C, 1, 1], held here as [1, 1, C].
 */
export class LayerNorm extends NormLayer {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly numChannels: number,
    readonly eps = 1e-5,
    spatialOnes = 2,
  ) {
    super();
    const shape = [...new Array<number>(spatialOnes).fill(1), numChannels];
    this.weight = this.addParameter('weight', tf.ones(shape), { layout: 'channel-vector' });
    this.bias = this.addParameter('bias', tf.zeros(shape), { layout: 'channel-vector' });
  }

  /** Normalises over the last `weight.rank` axes, as PyTorch's normalized_shape does. */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const axes = Array.from({ length: this.weight.rank }, (_, i) => x.rank - 1 - i);
      const { mean, variance } = tf.moments(x, axes, true);
      const normalised = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(normalised, this.weight), this.bias);
    });
  }
}

let syncBnNoticeShown = false;

/** mmcv's build_norm_layer: returns the child name (abbreviation + postfix) and the layer. */
export function buildNormLayer(cfg: NormConfig, numFeatures: number, postfix: string | number = ''): [string, NormLayer] {
  const layer = createNorm(cfg, numFeatures);
  if (cfg.requires_grad === false) layer.setRequiresGrad(false);
  return [`${normAbbreviation(cfg)}${postfix}`, layer];
}

export function normAbbreviation(cfg: Pick<NormConfig, 'type'>): string {
  if (cfg.type === 'GN') return 'gn';
  if (cfg.type === 'LN') return 'ln';
  return 'bn';
}

function createNorm(cfg: NormConfig, numFeatures: number): NormLayer {
  const eps = cfg.eps ?? 1e-5;
  switch (cfg.type) {
    case 'GN':
      if (cfg.num_groups === undefined) throw new Error("norm_cfg: GN needs 'num_groups'");
      return new GroupNorm(cfg.num_groups, numFeatures, eps);
    case 'LN':
      return new LayerNorm(numFeatures, eps);
    case 'SyncBN':
      if (!syncBnNoticeShown) console.log('norm_cfg: SyncBN runs as BN: tsdet trains in one process, where they are the same.');
      syncBnNoticeShown = true;
      return new BatchNorm2d(numFeatures, eps, cfg.momentum ?? 0.1);
    default:
      return new BatchNorm2d(numFeatures, eps, cfg.momentum ?? 0.1);
  }
}

