/**
 * Toy components for engine tests: a linear regressor that implements TrainableModel (with a
 * per-level list loss like mmdet's RPN terms and a draw from globalRandom like mmdet's samplers),
 * an in-memory dataloader whose order derives from (seed, epoch), and an MSE evaluator.
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineComponent, globalRandom, Module, seededRandom, type LossDict, type TrainableModel } from '@tsdet/core';
import type { DataLoaderLike, EvaluatorLike } from '@tsdet/engine';

export interface ToyBatch {
  inputs: Float32Array;
  targets: Float32Array;
  rows: number;
  data_samples: { metainfo: { img_id: number } }[];
}

export const IN_FEATURES = 3;
export const OUT_FEATURES = 2;

export class ToyRegressor extends Module implements TrainableModel {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor() {
    super();
    // Unseeded on purpose: the runner's seed must fix initial weights through Math.random.
    this.weight = this.addParameter('weight', tf.randomNormal([IN_FEATURES, OUT_FEATURES], 0, 0.5), { layout: 'linear' });
    this.bias = this.addParameter('bias', tf.zeros([OUT_FEATURES]));
  }

  #predict(batch: ToyBatch): tf.Tensor2D {
    const x = tf.tensor2d(batch.inputs, [batch.rows, IN_FEATURES]);
    return tf.add(tf.matMul(x, this.weight), this.bias);
  }

  computeLosses(batch: ToyBatch): LossDict {
    const prediction = this.#predict(batch);
    const target = tf.tensor2d(batch.targets, [batch.rows, OUT_FEATURES]);
    const squared = tf.square(tf.sub(prediction, target));
    // A sampler-like draw: which rows weigh double this step (resume must restore the stream).
    const weights = tf.tensor1d(Array.from({ length: batch.rows }, () => (globalRandom().next() < 0.5 ? 2 : 1)));
    const perRow = tf.mean(squared, 1);
    return {
      loss_reg: tf.mean(tf.mul(perRow, weights)) as tf.Scalar,
      loss_levels: [tf.mul(tf.mean(tf.abs(tf.sub(prediction, target))), 0.1) as tf.Scalar, tf.mul(tf.mean(squared), 0.05) as tf.Scalar],
      acc: tf.scalar(0.5),
    };
  }

  testStep(batch: ToyBatch): Float32Array[] {
    return tf.tidy(() => {
      const prediction = this.#predict(batch).dataSync() as Float32Array;
      return Array.from({ length: batch.rows }, (_, r) => prediction.slice(r * OUT_FEATURES, (r + 1) * OUT_FEATURES));
    });
  }
}

export const toyRegressorDescriptor = defineComponent<Record<string, never>, ToyRegressor>({
  type: 'ToyRegressor',
  description: 'test-only linear regressor',
  schema: { properties: {} },
  build: () => new ToyRegressor(),
});

export interface ToyLoaderOptions {
  samples?: number;
  batchSize?: number;
  seed?: number;
  /** Sample indices whose target is NaN. */
  nanSamples?: readonly number[];
  shuffle?: boolean;
  /** What the loader reports as skipped (as @tsdet/data's loaders count unreadable images). */
  skipped?: Record<string, number>;
}

/** y = x A + b + noise, fixed by `seed`; batches in an order drawn from (seed, epoch). */
export class ToyDataLoader implements DataLoaderLike<ToyBatch> {
  readonly batchSize: number;
  readonly dataset: { length: number; metainfo: { classes: string[] } };
  readonly #inputs: Float32Array;
  readonly #targets: Float32Array;
  readonly #seed: number;
  readonly #shuffle: boolean;
  #epoch = 0;
  readonly epochsSet: number[] = [];
  readonly skipped: Record<string, number> | undefined;

  constructor(options: ToyLoaderOptions = {}) {
    const samples = options.samples ?? 16;
    this.batchSize = options.batchSize ?? 4;
    this.#seed = options.seed ?? 1;
    this.#shuffle = options.shuffle ?? true;
    this.skipped = options.skipped;
    this.dataset = { length: samples, metainfo: { classes: ['a', 'b'] } };
    const random = seededRandom(1234);
    this.#inputs = Float32Array.from({ length: samples * IN_FEATURES }, () => random() * 2 - 1);
    this.#targets = new Float32Array(samples * OUT_FEATURES);
    for (let i = 0; i < samples; i++) {
      const x = this.#inputs.subarray(i * IN_FEATURES, (i + 1) * IN_FEATURES);
      this.#targets[i * 2] = 1.5 * x[0]! - 0.5 * x[1]! + 0.25 + 0.01 * random();
      this.#targets[i * 2 + 1] = -x[2]! + 0.75 * x[0]! - 0.1 + 0.01 * random();
    }
    for (const i of options.nanSamples ?? []) this.#targets[i * 2] = Number.NaN;
  }

  get length(): number {
    return Math.ceil(this.dataset.length / this.batchSize);
  }

  setEpoch(epoch: number): void {
    this.#epoch = epoch;
    this.epochsSet.push(epoch);
  }

  #order(): number[] {
    const order = Array.from({ length: this.dataset.length }, (_, i) => i);
    if (!this.#shuffle) return order;
    const random = seededRandom((this.#seed * 1000 + this.#epoch) >>> 0);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  }

  batchAt(order: number[], b: number): ToyBatch {
    const ids = order.slice(b * this.batchSize, (b + 1) * this.batchSize);
    const inputs = new Float32Array(ids.length * IN_FEATURES);
    const targets = new Float32Array(ids.length * OUT_FEATURES);
    ids.forEach((id, r) => {
      inputs.set(this.#inputs.subarray(id * IN_FEATURES, (id + 1) * IN_FEATURES), r * IN_FEATURES);
      targets.set(this.#targets.subarray(id * OUT_FEATURES, (id + 1) * OUT_FEATURES), r * OUT_FEATURES);
    });
    return { inputs, targets, rows: ids.length, data_samples: ids.map((id) => ({ metainfo: { img_id: id } })) };
  }

  async *batches(startBatch = 0): AsyncIterable<ToyBatch> {
    const order = this.#order();
    for (let b = startBatch; b < this.length; b++) yield this.batchAt(order, b);
  }
}

/** Mean squared error over everything processed (prefix `toy`). */
export class ToyEvaluator implements EvaluatorLike<ToyBatch, Float32Array> {
  readonly prefix = 'toy';
  #sum = 0;
  #count = 0;

  process(batch: ToyBatch, predictions: readonly Float32Array[]): void {
    predictions.forEach((prediction, r) => {
      for (let k = 0; k < OUT_FEATURES; k++) {
        this.#sum += (prediction[k]! - batch.targets[r * OUT_FEATURES + k]!) ** 2;
        this.#count += 1;
      }
    });
  }

  evaluate(_size: number): Record<string, number> {
    const mse = this.#sum / this.#count;
    this.#sum = 0;
    this.#count = 0;
    return { mse_loss: mse, neg_mse_acc: -mse };
  }
}

export const toyEvaluatorDescriptor = defineComponent<Record<string, never>, ToyEvaluator>({
  type: 'ToyEvaluator',
  description: 'test-only MSE metric',
  schema: { properties: {} },
  build: () => new ToyEvaluator(),
});
