/**
 * The training contract between models and the engine (mmengine's BaseModel.train_step /
 * parse_losses), kept in core so that @tsdet/models and @tsdet/engine agree without depending
 * on each other's internals.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from './module.js';

/** One loss term: a scalar, or a list of scalars (mmdet's per-level RPN losses), summed by parseLosses. */
export type LossValue = tf.Scalar | readonly tf.Scalar[];

/** What `model.loss()` returns: named loss terms and metrics (keys without "loss" are logged, not optimised). */
export type LossDict = Record<string, LossValue>;

export interface ParsedLosses {
  /** The sum of every term whose key contains "loss": what the optimiser minimises. */
  readonly total: tf.Scalar;
  /** Every term reduced to one scalar (lists summed), plus `loss` = total: what the logger prints. */
  readonly logVars: Record<string, tf.Scalar>;
}

/**
 * mmengine's parse_losses: a tensor term is its mean, a list term the sum of its items' means,
 * and the total is the sum of the terms whose key contains "loss". The returned scalars are new
 * tensors the caller owns (inside a gradient scope they are part of the graph).
 */
export function parseLosses(losses: LossDict): ParsedLosses {
  const logVars: Record<string, tf.Scalar> = {};
  for (const [key, value] of Object.entries(losses)) {
    if (Array.isArray(value)) {
      const items = value as readonly tf.Scalar[];
      logVars[key] = items.length === 0 ? tf.scalar(0) : tf.addN(items.map((item) => tf.mean(item))) as tf.Scalar;
    } else if (value instanceof tf.Tensor) {
      logVars[key] = tf.mean(value as tf.Tensor);
    } else {
      throw new TypeError(`parseLosses: ${key} is not a tensor or a list of tensors`);
    }
  }
  const lossKeys = Object.keys(logVars).filter((key) => key.includes('loss'));
  if (lossKeys.length === 0) throw new Error(`parseLosses: no term has "loss" in its name (got ${Object.keys(logVars).join(', ') || 'none'}), so there is nothing to optimise`);
  const total = lossKeys.length === 1 ? tf.clone(logVars[lossKeys[0]!]!) : (tf.addN(lossKeys.map((key) => logVars[key]!)) as tf.Scalar);
  return { total, logVars: { ...logVars, loss: total } };
}

/**
 * A model the engine can train and evaluate: mmengine's BaseModel as tsdet's loops use it.
 * The batch is what the dataloader yields (collated samples); the model runs its own data
 * preprocessor, as mmengine's train_step / test_step do.
 */
export interface TrainableModel extends Module {
  /** Preprocesses the batch (training mode) and returns the loss terms; called inside the optimiser's gradient scope. */
  computeLosses(batch: unknown): LossDict;
  /** Preprocesses the batch (inference mode) and returns one prediction per sample, on the host. */
  testStep(batch: unknown): readonly unknown[];
}

export function isTrainableModel(value: unknown): value is TrainableModel {
  const candidate = value as Partial<TrainableModel> | null;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.computeLosses === 'function' && typeof candidate.testStep === 'function';
}
