/** Detection losses with mmdet semantics, and what the heads expect of them. */
import type * as tf from '@tensorflow/tfjs-core';
import type { ComponentDescriptor } from '@tsdet/core';
import type { CrossEntropyOptions } from './cross-entropy-loss.js';
import { crossEntropyLossDescriptor, l1LossDescriptor, smoothL1LossDescriptor } from './losses.descriptor.js';
import type { LossCallOptions } from './reduce.js';

export * from './cross-entropy-loss.js';
export * from './l1-loss.js';
export * from './losses.descriptor.js';
export * from './reduce.js';

/** A classification loss as a head uses it: whether scores are sigmoids, and the loss itself. */
export interface ClassificationLoss {
  readonly useSigmoid: boolean;
  forward(clsScore: tf.Tensor, label: tf.Tensor, options?: CrossEntropyOptions): tf.Tensor;
}

/** A box regression loss as a head uses it. */
export interface RegressionLoss {
  forward(pred: tf.Tensor, target: tf.Tensor, options?: LossCallOptions): tf.Tensor;
}

function hasForward(value: unknown): value is { forward: unknown; useSigmoid?: unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { forward?: unknown }).forward === 'function';
}

/** Duck-typed, so a third-party classification loss (registered elsewhere) qualifies too. */
export function isClassificationLoss(value: unknown): value is ClassificationLoss {
  return hasForward(value) && typeof value.useSigmoid === 'boolean';
}

/** Any loss with a forward that is not a classification loss. */
export function isRegressionLoss(value: unknown): value is RegressionLoss {
  return hasForward(value) && value.useSigmoid === undefined;
}

/** For the MODELS registry. */
export const LOSS_DESCRIPTORS: ComponentDescriptor[] = [crossEntropyLossDescriptor, l1LossDescriptor, smoothL1LossDescriptor];
