/**
 * mmengine's Runner.build_dataloader for detection: a `train_dataloader` / `val_dataloader`
 * config dict becomes a loader of collated batches (DetDataBatch, mmengine's pseudo_collate).
 *
 * Determinism: which samples each batch holds depends only on (seed, epoch), and every random
 * augmentation draws from a stream of (seed, epoch, sample index); so batch k of epoch e is the
 * same whether the run started at k or got there, and whatever order prefetched samples finish.
 */
import { componentRef, ConfigValidationError, DATASETS, registryLookup, typedDict, validateTree, type ConfigSchema, type SourceLookup } from '@tsdet/core';
import { RandomStream } from '@tsdet/core';
import type { SkipCounts } from '../datasets/data-issues.js';
import type { DetDataset } from '../datasets/det-dataset.js';
import { collateDetSamples, type DetDataBatch } from '../preprocessor/det-data-preprocessor.js';
import { prefetched } from './prefetch.js';
import { batchPlan, type BatchSettings, type PlannedSample, type SamplerSettings } from './samplers.js';

export interface DataLoaderConfig {
  readonly batch_size: number;
  readonly num_workers: number;
  readonly persistent_workers: boolean;
  readonly drop_last: boolean;
  readonly pin_memory: boolean;
  readonly prefetch_factor: number | null;
  readonly sampler: { readonly type: 'DefaultSampler' | 'InfiniteSampler'; readonly shuffle: boolean; readonly seed: number | null; readonly round_up?: boolean };
  readonly batch_sampler: { readonly type: 'AspectRatioBatchSampler'; readonly drop_last: boolean } | null;
  readonly collate_fn: { readonly type: 'pseudo_collate' };
  readonly dataset: Readonly<Record<string, unknown>> & { readonly type: string };
}

export interface BuildDataLoaderOptions {
  /** Config path of the loader dict, named in errors (default 'dataloader'). */
  readonly path?: string;
  /** The run's seed, used when the sampler config sets none (mmengine passes the run's seed too). Default 0. */
  readonly seed?: number;
  /** Which file set each config value, named in errors. */
  readonly sourceOf?: SourceLookup;
}

export interface DetDataLoader {
  /** Batches per epoch (with InfiniteSampler: per pass over the data; its batches never end). */
  readonly length: number;
  readonly dataset: DetDataset;
  /** Annotations and images left out so far, per reason. */
  readonly skipped: SkipCounts;
  readonly batchSize: number;
  /** mmengine's sampler.set_epoch: the epoch whose order and augmentations `batches` yields. */
  setEpoch(epoch: number): void;
  /** The epoch's batches from `startBatch` on (resuming mid-epoch), loaded ahead of the consumer. */
  batches(startBatch?: number): AsyncIterable<DetDataBatch>;
}

/** Batches loaded ahead per worker when prefetch_factor is unset (torch's default). */
const DEFAULT_PREFETCH_FACTOR = 2;

export function buildDataLoader(cfg: unknown, options: BuildDataLoaderOptions = {}): DetDataLoader {
  const path = options.path ?? 'dataloader';
  const config = validateLoaderConfig(cfg, path, options.sourceOf);
  const dataset = DATASETS.build<DetDataset>(config.dataset, { path: `${path}.dataset`, sourceOf: options.sourceOf });
  if (dataset.length === 0) throw new ConfigValidationError([{ path: `${path}.dataset`, message: 'the dataset has no samples (after filtering and indices); see the messages above' }], path);
  const sampler: SamplerSettings = { type: config.sampler.type, shuffle: config.sampler.shuffle, seed: config.sampler.seed ?? options.seed ?? 0 };
  const batches: BatchSettings = {
    batchSize: config.batch_size,
    dropLast: config.batch_sampler ? config.batch_sampler.drop_last : config.drop_last,
    groupByAspectRatio: config.batch_sampler !== null,
  };
  const ahead = Math.max(1, config.num_workers) * (config.prefetch_factor ?? DEFAULT_PREFETCH_FACTOR);
  return new PrefetchingDataLoader(dataset, sampler, batches, ahead);
}

class PrefetchingDataLoader implements DetDataLoader {
  #epoch = 0;
  #planCache: { epoch: number; plan: PlannedSample[][] } | undefined;

  constructor(
    readonly dataset: DetDataset,
    readonly sampler: SamplerSettings,
    readonly batchSettings: BatchSettings,
    /** Batches in flight while the consumer works on one. */
    readonly batchesAhead: number,
  ) {}

  get batchSize(): number {
    return this.batchSettings.batchSize;
  }

  get length(): number {
    if (this.sampler.type === 'InfiniteSampler') {
      const { batchSize, dropLast } = this.batchSettings;
      return dropLast ? Math.floor(this.dataset.length / batchSize) : Math.ceil(this.dataset.length / batchSize);
    }
    return this.#epochPlan().length;
  }

  get skipped(): SkipCounts {
    return this.dataset.skipped;
  }

  setEpoch(epoch: number): void {
    if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`setEpoch: expected an integer >= 0, got ${epoch}`);
    this.#epoch = epoch;
  }

  batches(startBatch = 0): AsyncIterable<DetDataBatch> {
    if (!Number.isInteger(startBatch) || startBatch < 0) throw new RangeError(`batches: startBatch must be an integer >= 0, got ${startBatch}`);
    const plan = this.#planFrom(startBatch);
    return prefetched(plan, (samples) => this.#loadBatch(samples), this.batchesAhead);
  }

  #planFrom(startBatch: number): Iterator<PlannedSample[]> {
    if (this.sampler.type === 'DefaultSampler') {
      const plan = this.#epochPlan();
      if (startBatch > plan.length) throw new RangeError(`batches: startBatch ${startBatch} is past the ${plan.length} batches of epoch ${this.#epoch}`);
      return plan.slice(startBatch)[Symbol.iterator]();
    }
    // The endless plan is replayed from its start: grouping by aspect ratio makes batch k depend
    // on every sample before it. Only indices are computed, nothing is loaded.
    const plan = this.#plan();
    for (let i = 0; i < startBatch; i++) plan.next();
    return plan;
  }

  #epochPlan(): PlannedSample[][] {
    if (this.#planCache?.epoch !== this.#epoch) this.#planCache = { epoch: this.#epoch, plan: [...this.#plan()] };
    return this.#planCache.plan;
  }

  #plan(): Generator<PlannedSample[]> {
    const isPortrait = (index: number): boolean => {
      const info = this.dataset.getDataInfo(index);
      return info.width < info.height;
    };
    return batchPlan(this.dataset.length, this.sampler, this.batchSettings, this.#epoch, isPortrait);
  }

  async #loadBatch(samples: readonly PlannedSample[]): Promise<DetDataBatch> {
    const packed = await Promise.all(samples.map((sample) => this.dataset.getItem(sample.index, new RandomStream(sample.seed).uniform)));
    return collateDetSamples(packed);
  }
}

const seedSchema: ConfigSchema = { type: ['integer', 'null'], default: null, description: "the shuffle seed; default: the run's seed" };

const LOADER_SCHEMA: ConfigSchema = {
  type: 'object',
  properties: {
    batch_size: { type: 'integer', minimum: 1, default: 1 },
    num_workers: { type: 'integer', minimum: 0, default: 0, description: 'with prefetch_factor: batches loaded ahead (num_workers x prefetch_factor, at least prefetch_factor)' },
    persistent_workers: { type: 'boolean', default: false, description: 'accepted; no effect (there are no worker processes)' },
    drop_last: { type: 'boolean', default: false },
    pin_memory: { type: 'boolean', default: false, description: 'accepted; no effect' },
    prefetch_factor: { type: ['integer', 'null'], minimum: 1, default: null, description: `batches loaded ahead per worker (default ${DEFAULT_PREFETCH_FACTOR})` },
    sampler: typedDict(
      {
        DefaultSampler: { shuffle: { type: 'boolean', default: true }, seed: seedSchema, round_up: { type: 'boolean', default: true, description: 'no effect with one process' } },
        InfiniteSampler: { shuffle: { type: 'boolean', default: true }, seed: seedSchema },
      },
      'which sample indices each epoch visits',
    ),
    batch_sampler: {
      type: ['object', 'null'],
      properties: { type: { const: 'AspectRatioBatchSampler' }, drop_last: { type: 'boolean', default: false } },
      required: ['type'],
      additionalProperties: false,
      default: null,
      description: 'groups portrait and landscape images into separate batches',
    },
    collate_fn: {
      type: 'object',
      properties: { type: { const: 'pseudo_collate', description: 'lists of images and data samples (images differ in size)' } },
      required: ['type'],
      additionalProperties: false,
      default: { type: 'pseudo_collate' },
    },
    dataset: componentRef('DATASETS', 'the dataset to load'),
  },
  required: ['sampler', 'dataset'],
  additionalProperties: false,
};

function validateLoaderConfig(cfg: unknown, path: string, sourceOf: SourceLookup | undefined): DataLoaderConfig {
  // Nested under its own path so that every message names the full config path.
  const schema = { type: 'object', properties: { [path]: LOADER_SCHEMA }, required: [path] };
  const { issues, value } = validateTree(schema, { [path]: cfg }, registryLookup, sourceOf);
  if (issues.length) throw new ConfigValidationError(issues, path);
  const config = (value as Record<string, DataLoaderConfig>)[path]!;
  if (config.batch_sampler && config.drop_last) {
    // torch refuses drop_last beside a batch_sampler; the batch sampler has its own.
    throw new ConfigValidationError([{ path: `${path}.drop_last`, message: 'cannot be combined with batch_sampler; set batch_sampler.drop_last instead', source: sourceOf?.(`${path}.drop_last`) }], path);
  }
  return config;
}
