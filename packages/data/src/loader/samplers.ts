/**
 * Which samples each batch holds: mmengine's DefaultSampler / InfiniteSampler and mmdet's
 * AspectRatioBatchSampler, as pure functions of (seed, epoch). Nothing here loads data, so a
 * resumed run can replay the plan up to any batch for free.
 */
import { RandomStream } from '@tsdet/core';
import { deriveSeed, SEED_PURPOSE } from './derive-seed.js';

/** One sample of a batch: its dataset index and the seed of its own random stream. */
export interface PlannedSample {
  readonly index: number;
  readonly seed: number;
}

export type SamplerSettings = { readonly type: 'DefaultSampler' | 'InfiniteSampler'; readonly shuffle: boolean; readonly seed: number };

export interface BatchSettings {
  readonly batchSize: number;
  readonly dropLast: boolean;
  /** AspectRatioBatchSampler: portrait (w < h) and landscape images go to separate batches. */
  readonly groupByAspectRatio: boolean;
}

/** 0..n-1, shuffled by a Fisher-Yates walk over the stream of (seed, pass) when asked. */
export function passOrder(n: number, shuffle: boolean, seed: number, pass: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  if (!shuffle) return order;
  const random = new RandomStream(deriveSeed(SEED_PURPOSE.shuffle, seed, pass));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** The samples of one pass over the data, each with the seed of (seed, pass, index). */
function* passSamples(n: number, sampler: SamplerSettings, pass: number): Generator<PlannedSample> {
  for (const index of passOrder(n, sampler.shuffle, sampler.seed, pass)) yield { index, seed: deriveSeed(SEED_PURPOSE.sample, sampler.seed, pass, index) };
}

/**
 * The sample stream: DefaultSampler visits every sample once in epoch `epoch` (mmengine reshuffles
 * with seed + epoch); InfiniteSampler chains passes 0, 1, 2, ... forever and ignores the epoch
 * (mmengine's set_epoch is a no-op there).
 */
export function* sampleStream(n: number, sampler: SamplerSettings, epoch: number): Generator<PlannedSample> {
  if (sampler.type === 'DefaultSampler') {
    yield* passSamples(n, sampler, epoch);
    return;
  }
  if (n === 0) return;
  for (let pass = 0; ; pass++) yield* passSamples(n, sampler, pass);
}

/** Consecutive batches of `size`; the short last one is dropped with dropLast. */
function* chunk<T>(items: Iterable<T>, size: number, dropLast: boolean): Generator<T[]> {
  let batch: T[] = [];
  for (const item of items) {
    batch.push(item);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length && !dropLast) yield batch;
}

/**
 * mmdet's AspectRatioBatchSampler: fill a portrait and a landscape bucket, yield whichever
 * reaches the batch size; at the end, the leftovers of both (portrait first) go out in batches.
 * Unlike mmdet, a leftover of exactly batch_size is kept with drop_last (mmdet drops it too).
 */
function* groupByAspectRatio(samples: Iterable<PlannedSample>, size: number, dropLast: boolean, isPortrait: (index: number) => boolean): Generator<PlannedSample[]> {
  const buckets: [PlannedSample[], PlannedSample[]] = [[], []];
  for (const sample of samples) {
    const bucket = buckets[isPortrait(sample.index) ? 0 : 1];
    bucket.push(sample);
    if (bucket.length === size) yield bucket.splice(0, size);
  }
  yield* chunk([...buckets[0], ...buckets[1]], size, dropLast);
}

/** The batches of epoch `epoch`, as planned samples (an endless stream with InfiniteSampler). */
export function batchPlan(n: number, sampler: SamplerSettings, batches: BatchSettings, epoch: number, isPortrait: (index: number) => boolean): Generator<PlannedSample[]> {
  const samples = sampleStream(n, sampler, epoch);
  if (batches.groupByAspectRatio) return groupByAspectRatio(samples, batches.batchSize, batches.dropLast, isPortrait);
  return chunk(samples, batches.batchSize, batches.dropLast);
}
