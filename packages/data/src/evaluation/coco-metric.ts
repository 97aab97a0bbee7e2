/**
 * mmdet's CocoMetric (bbox only) as a METRICS component, used as mmengine's Evaluator uses a
 * metric: `datasetMeta` set from the dataset, `process(batch, predictions)` per batch, then
 * `evaluate(size)`. Files of COCO results can be evaluated directly with `evaluateResults`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { defineComponent, writeFileAtomic } from '@tsdet/core';
import type { DatasetMetaInfo } from '../datasets/det-dataset.js';
import type { DetectionResult } from '../inference/detector.js';
import type { DetDataBatch } from '../preprocessor/det-data-preprocessor.js';
import { evaluateCocoBbox, type CocoBboxSummary } from './coco-eval.js';
import { checkCocoAnnotations, checkCocoResults, CocoFormatError, type CocoAnnotations, type CocoResult } from './coco-types.js';

export interface CocoMetricConfig {
  readonly type: 'CocoMetric';
  readonly ann_file: string | null;
  readonly metric: string | readonly string[];
  readonly classwise: boolean;
  readonly proposal_nums: readonly number[];
  readonly iou_thrs: number | readonly number[] | null;
  readonly metric_items: readonly string[] | null;
  readonly format_only: boolean;
  readonly outfile_prefix: string | null;
  readonly backend_args: null;
  readonly collect_device: string;
  readonly prefix: string | null;
  readonly sort_categories: boolean;
}

/** mmdet's names for the twelve stats (the AR names are fixed, whatever proposal_nums says). */
export const COCO_METRIC_ITEMS = ['mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l', 'AR@100', 'AR@300', 'AR@1000', 'AR_s@1000', 'AR_m@1000', 'AR_l@1000'] as const;
const DEFAULT_ITEMS = ['mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l'];

export class CocoMetricError extends Error {
  override name = 'CocoMetricError';
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new CocoMetricError(`${file}: cannot read the file`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CocoMetricError(`${file}: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** Reads and checks a COCO annotation file; errors are one line naming the file. */
export function loadCocoAnnotations(file: string): CocoAnnotations {
  return checkCocoAnnotations(readJson(file), file);
}

/** Reads and checks a COCO results file against annotations; errors are one line naming the file. */
export function loadCocoResults(file: string, gt: CocoAnnotations, gtFile = 'the annotations'): CocoResult[] {
  return checkCocoResults(readJson(file), gt, file, gtFile);
}

/** What `process` keeps per image: its COCO results (mmengine's metric.results). */
export interface CocoImageResults {
  readonly image_id: number;
  readonly detections: readonly CocoResult[];
}

export type CocoMetricValues = Record<string, number | string>;

export class CocoMetric {
  readonly prefix: string;
  readonly iouThrs: readonly number[] | undefined;
  readonly maxDets: readonly [number, number, number];
  readonly metricItems: readonly string[];
  /**
   * mmengine's dataset_meta, set by the evaluator from the dataset: its classes name the
   * categories that labels stand for. Unset: the annotation file's categories sorted by id.
   */
  datasetMeta: DatasetMetaInfo | undefined;
  /** Processed images since the last evaluation. */
  readonly results: CocoImageResults[] = [];
  #gt: CocoAnnotations | undefined;

  constructor(readonly cfg: CocoMetricConfig) {
    const metrics = typeof cfg.metric === 'string' ? [cfg.metric] : cfg.metric;
    const other = metrics.filter((m) => m !== 'bbox');
    if (other.length || metrics.length === 0) {
      throw new CocoMetricError(`CocoMetric: only metric 'bbox' is supported, got ${other.map((m) => `'${m}'`).join(', ') || 'none'} ('segm', 'proposal' and 'proposal_fast' are not available in tsdet yet: evaluate bbox)`);
    }
    if (cfg.proposal_nums.length !== 3) throw new CocoMetricError(`CocoMetric: proposal_nums needs three values, got ${cfg.proposal_nums.length}`);
    this.maxDets = [cfg.proposal_nums[0]!, cfg.proposal_nums[1]!, cfg.proposal_nums[2]!];
    this.iouThrs = cfg.iou_thrs === null ? undefined : typeof cfg.iou_thrs === 'number' ? [cfg.iou_thrs] : cfg.iou_thrs;
    this.metricItems = cfg.metric_items ?? DEFAULT_ITEMS;
    for (const item of this.metricItems) {
      if (!(COCO_METRIC_ITEMS as readonly string[]).includes(item)) throw new CocoMetricError(`CocoMetric: metric item '${item}' is not one of ${COCO_METRIC_ITEMS.join(', ')}`);
    }
    if (cfg.format_only && !cfg.outfile_prefix) throw new CocoMetricError('CocoMetric: format_only needs outfile_prefix');
    this.prefix = cfg.prefix ?? 'coco';
  }

  /** The ground truth: as given, or read from ann_file once. */
  groundTruth(gt?: CocoAnnotations): CocoAnnotations {
    if (gt) return checkCocoAnnotations(gt);
    if (!this.cfg.ann_file) throw new CocoMetricError('CocoMetric: no ann_file and no annotations given');
    this.#gt ??= loadCocoAnnotations(this.cfg.ann_file);
    return this.#gt;
  }

  /**
   * The category id each label stands for (mmdet's cat_ids): the categories of ann_file named
   * by datasetMeta.classes, in label order; without datasetMeta, every category sorted by id.
   */
  categoryIds(): number[] {
    const categories = this.groundTruth().categories;
    const classes = this.datasetMeta?.classes;
    if (!classes) return categories.map((c) => c.id).sort((a, b) => a - b);
    const idOf = new Map(categories.map((c) => [c.name, c.id]));
    const unknown = classes.filter((name) => !idOf.has(name));
    if (unknown.length) {
      throw new CocoMetricError(`CocoMetric: the dataset's classes ${unknown.map((n) => `'${n}'`).join(', ')} are not categories of ${this.cfg.ann_file} (it has ${categories.map((c) => `'${c.name}'`).join(', ')})`);
    }
    return classes.map((name) => idOf.get(name)!);
  }

  /**
   * mmengine's process: one batch's predictions, per image (boxes x1, y1, x2, y2 in original
   * image pixels, contiguous labels), kept as COCO results (x, y, w, h; category ids).
   */
  process(batch: DetDataBatch, predictions: readonly DetectionResult[]): void {
    const samples = batch.data_samples;
    if (!samples) throw new CocoMetricError('CocoMetric.process: the batch has no data_samples (their img_id names the images)');
    if (samples.length !== predictions.length) throw new CocoMetricError(`CocoMetric.process: ${samples.length} data samples but ${predictions.length} predictions`);
    const catIds = this.categoryIds();
    samples.forEach((sample, i) => {
      const imageId = sample.metainfo.img_id;
      if (typeof imageId !== 'number') throw new CocoMetricError(`CocoMetric.process: data sample ${i} has img_id ${JSON.stringify(imageId)}; COCO image ids are numbers (keep img_id in PackDetInputs meta_keys)`);
      this.results.push({ image_id: imageId, detections: toCocoResults(imageId, predictions[i]!, catIds) });
    });
  }

  /** mmdet's compute_metrics over processed images: the result dict with mmdet's names (`bbox_mAP`, ...). */
  computeMetrics(results: readonly CocoImageResults[] = this.results): CocoMetricValues {
    const detections = results.flatMap((r) => r.detections);
    if (this.cfg.format_only) return this.evaluateResults(detections);
    // As mmdet: every image of ann_file counts (an image never processed has missed all its
    // objects), and only the categories the labels stand for are evaluated.
    return this.evaluateResults(detections, restrictCategories(this.groundTruth(), this.categoryIds()));
  }

  /**
   * mmengine's BaseMetric.evaluate(size): the metrics of the first `size` processed images,
   * keys prefixed with `<prefix>/` (`coco/bbox_mAP`, as mmengine logs them); then the processed
   * results are cleared for the next evaluation. `evaluate(results, gt?)` is evaluateResults.
   */
  evaluate(size: number): CocoMetricValues;
  evaluate(results: readonly CocoResult[], gt?: CocoAnnotations): CocoMetricValues;
  evaluate(sizeOrResults: number | readonly CocoResult[], gt?: CocoAnnotations): CocoMetricValues {
    if (typeof sizeOrResults !== 'number') return this.evaluateResults(sizeOrResults, gt);
    if (this.results.length < sizeOrResults) {
      console.warn(`CocoMetric: ${this.results.length} images were processed, fewer than the ${sizeOrResults} of the dataset; the others count as missed`);
    }
    const metrics = this.computeMetrics(this.results.slice(0, sizeOrResults));
    this.reset();
    return Object.fromEntries(Object.entries(metrics).map(([key, value]) => [`${this.prefix}/${key}`, value]));
  }

  /** Forgets processed images (evaluate does this itself). */
  reset(): void {
    this.results.length = 0;
  }

  /**
   * Evaluates COCO-format detections. Returns mmdet's result dict (`bbox_mAP`, `bbox_mAP_50`, ...,
   * values rounded to 3 decimals like mmdet, plus `bbox_mAP_copypaste`), and with `classwise`
   * `bbox_<name>_precision` per category. With `outfile_prefix` the results are also written to
   * `<outfile_prefix>.bbox.json`; with `format_only` only that, and the dict is empty.
   */
  evaluateResults(results: readonly CocoResult[], gt?: CocoAnnotations): CocoMetricValues {
    // As mmdet: the results file is written whenever outfile_prefix is set, evaluated or not.
    if (this.cfg.outfile_prefix) {
      const file = `${this.cfg.outfile_prefix}.bbox.json`;
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      writeFileAtomic(file, JSON.stringify(results));
    }
    if (this.cfg.format_only) return {};
    const annotations = this.groundTruth(gt);
    let summary: CocoBboxSummary;
    try {
      summary = evaluateCocoBbox(annotations, results, { iouThrs: this.iouThrs, maxDets: this.maxDets });
    } catch (error) {
      if (error instanceof CocoFormatError) throw new CocoMetricError(`CocoMetric: ${error.message}`);
      throw error;
    }
    return cocoMetricResults(summary, this.metricItems, this.cfg.classwise);
  }
}

/** One image's detections as COCO results: xyxy -> xywh (mmdet's xyxy2xywh), label -> category id. */
function toCocoResults(imageId: number, prediction: DetectionResult, catIds: readonly number[]): CocoResult[] {
  const { bboxes, scores, labels } = prediction;
  if (bboxes.length !== labels.length * 4 || scores.length !== labels.length) {
    throw new CocoMetricError(`CocoMetric.process: image ${imageId} has ${bboxes.length / 4} boxes, ${scores.length} scores and ${labels.length} labels`);
  }
  return Array.from(labels, (label, k) => {
    const categoryId = catIds[label];
    if (categoryId === undefined) throw new CocoMetricError(`CocoMetric.process: image ${imageId} has label ${label}, but there are ${catIds.length} classes`);
    const [x1, y1, x2, y2] = [bboxes[4 * k]!, bboxes[4 * k + 1]!, bboxes[4 * k + 2]!, bboxes[4 * k + 3]!];
    return { image_id: imageId, category_id: categoryId, bbox: [x1, y1, x2 - x1, y2 - y1] as const, score: scores[k]! };
  });
}

/** The annotations with only the given categories (mmdet sets COCOeval's params.catIds to them). */
function restrictCategories(gt: CocoAnnotations, categoryIds: readonly number[]): CocoAnnotations {
  const keep = new Set(categoryIds);
  if (gt.categories.every((c) => keep.has(c.id))) return gt;
  return { ...gt, categories: gt.categories.filter((c) => keep.has(c.id)), annotations: gt.annotations.filter((a) => keep.has(a.category_id)) };
}

/** mmdet's result dict from a summary. */
export function cocoMetricResults(summary: CocoBboxSummary, metricItems: readonly string[] = DEFAULT_ITEMS, classwise = false): Record<string, number | string> {
  const round3 = (v: number) => Number(v.toFixed(3));
  const out: Record<string, number | string> = {};
  if (classwise) {
    for (const c of summary.perCategory) out[`bbox_${c.name ?? c.categoryId}_precision`] = c.AP > -1 ? round3(c.AP) : Number.NaN;
  }
  for (const item of metricItems) out[`bbox_${item}`] = round3(summary.stats[(COCO_METRIC_ITEMS as readonly string[]).indexOf(item)]!);
  out.bbox_mAP_copypaste = summary.stats.slice(0, 6).map((v) => v.toFixed(3)).join(' ');
  return out;
}

const positiveInts = { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 3, maxItems: 3 };

export const cocoMetricDescriptor = defineComponent<CocoMetricConfig, CocoMetric>({
  type: 'CocoMetric',
  description: "COCO bbox AP/AR with pycocotools' semantics (mmdet's CocoMetric, metric 'bbox' only)",
  schema: {
    properties: {
      ann_file: { type: ['string', 'null'], default: null },
      metric: {
        anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
        default: 'bbox',
        description: "only 'bbox' is implemented",
      },
      classwise: { type: 'boolean', default: false },
      proposal_nums: { ...positiveInts, default: [100, 300, 1000] },
      iou_thrs: {
        anyOf: [{ type: 'number', minimum: 0, maximum: 1 }, { type: 'array', items: { type: 'number', minimum: 0, maximum: 1 }, minItems: 1 }, { type: 'null' }],
        default: null,
      },
      metric_items: { anyOf: [{ type: 'array', items: { enum: [...COCO_METRIC_ITEMS] } }, { type: 'null' }], default: null },
      format_only: { type: 'boolean', default: false },
      outfile_prefix: { type: ['string', 'null'], default: null },
      backend_args: { type: 'null', default: null },
      collect_device: { enum: ['cpu', 'gpu'], default: 'cpu' },
      prefix: { type: ['string', 'null'], default: null },
      sort_categories: { type: 'boolean', default: false, description: 'categories are always evaluated sorted by id' },
    },
  },
  build: (cfg) => new CocoMetric(cfg),
});
