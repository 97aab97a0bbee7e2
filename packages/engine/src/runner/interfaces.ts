/**
 * What the engine needs from data and evaluation, as small structural interfaces: @tsdet/data's
 * buildDataLoader and CocoMetric satisfy them, and tests use in-memory stand-ins.
 */

/** A dataloader whose order and augmentation derive from (seed, epoch), so a resumed run sees the same batches. */
export interface DataLoaderLike<Batch = unknown> {
  /** Batches per epoch. */
  readonly length: number;
  readonly dataset: { readonly length: number; readonly metainfo?: { readonly classes?: readonly string[] } };
  /** Batch size, when known (auto_scale_lr needs it). */
  readonly batchSize?: number;
  /** Samples / annotations skipped so far by reason (unreadable images, degenerate boxes...), when the loader counts them; shown in the log. */
  readonly skipped?: Readonly<Partial<Record<string, number>>>;
  /** Selects the epoch whose order is drawn next (mmengine's sampler.set_epoch). */
  setEpoch(epoch: number): void;
  /** The epoch's batches from `startBatch` on (resume skips the ones already trained). */
  batches(startBatch?: number): AsyncIterable<Batch>;
}

export interface DataLoaderBuildOptions {
  /** Config path of the dataloader (train_dataloader, val_dataloader, ...), for errors. */
  path: string;
  /** The run's seed. */
  seed: number;
}

export type DataLoaderFactory = (cfg: Record<string, unknown>, options: DataLoaderBuildOptions) => DataLoaderLike | Promise<DataLoaderLike>;

/** An evaluator (mmengine's Evaluator over a metric): accumulate per batch, then compute. */
export interface EvaluatorLike<Batch = unknown, Prediction = unknown> {
  /** Prefixed to metric names that have none (mmengine BaseMetric.prefix, e.g. `coco`). */
  readonly prefix?: string;
  /** Records one batch's predictions (from model.testStep) against its ground truth. */
  process(batch: Batch, predictions: readonly Prediction[]): void;
  /**
   * mmengine's Evaluator.evaluate(size): the metrics of the first `size` processed samples (the
   * dataset's length), with names as `<prefix>/<name>` or bare; resets the accumulated state.
   */
  evaluate(size: number): Record<string, number | string> | Promise<Record<string, number | string>>;
}

export function isEvaluatorLike(value: unknown): value is EvaluatorLike {
  const candidate = value as Partial<EvaluatorLike> | null;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.process === 'function' && typeof candidate.evaluate === 'function';
}

/** Everything a loader skipped so far (0 when it does not count). */
export function skippedTotal(loader: DataLoaderLike | undefined): number {
  return Object.values(loader?.skipped ?? {}).reduce<number>((sum, n) => sum + (n ?? 0), 0);
}

/** Metric names as mmengine's Evaluator reports them: `<prefix>/<name>`. */
export function prefixedMetrics(metrics: Record<string, number | string>, prefix: string | undefined): Record<string, number | string> {
  if (!prefix) return { ...metrics };
  return Object.fromEntries(Object.entries(metrics).map(([key, value]) => [key.includes('/') ? key : `${prefix}/${key}`, value]));
}

/** `img_id` (or else `img_path`) of every sample in a batch that carries mmdet data samples. */
export function imageIdsOf(batch: unknown): string[] {
  const samples = (batch as { data_samples?: unknown } | null)?.data_samples;
  if (!Array.isArray(samples)) return [];
  return samples.flatMap((sample: unknown) => {
    const meta = (sample as { metainfo?: Record<string, unknown> } | null)?.metainfo ?? (sample as Record<string, unknown> | null) ?? {};
    const id = meta['img_id'] ?? meta['img_path'];
    return id === undefined || id === null ? [] : [String(id)];
  });
}
