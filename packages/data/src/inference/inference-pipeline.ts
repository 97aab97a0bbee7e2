/**
 * The config's test pipeline, as mmdet's inference reads it: the pipeline of
 * `test_dataloader.dataset` (mmdet's get_test_pipeline_cfg, following wrapped datasets), else the
 * top-level `test_pipeline`; without LoadAnnotations, since images to detect on have no ground
 * truth (mmdet's DetInferencer drops it too). The loading step runs on its own so that the
 * decoded original stays at hand for drawing the detections on.
 */
import type { SourceLookup } from '@tsdet/core';
import type { RawImage } from '../image/raw-image.js';
import { buildPipeline, Compose } from '../transforms/compose.js';
import { LoadImageFromFile } from '../transforms/load-image-from-file.js';
import { isPackedDetInputs } from '../transforms/pack-det-inputs.js';
import type { PackedDetInputs } from '../transforms/types.js';
import { InferenceError } from './errors.js';

type ConfigRecord = Readonly<Record<string, unknown>>;

export interface PipelineConfig {
  /** The transform configs, LoadAnnotations removed. */
  readonly steps: readonly unknown[];
  /** Where they are in the config (named in errors). */
  readonly path: string;
}

export interface PreparedImage {
  /** The image as decoded, before any resize: what detections are drawn on. */
  readonly original: RawImage;
  /** What the pipeline packed for the model. */
  readonly packed: PackedDetInputs;
}

const STEPS_WITHOUT_MEANING_AT_INFERENCE = new Set(['LoadAnnotations', 'mmdet.LoadAnnotations']);

/** Finds the test pipeline of a resolved config; `file` names the config in errors. */
export function testPipelineConfig(config: ConfigRecord, file: string): PipelineConfig {
  const found = datasetPipeline(asRecord(asRecord(config['test_dataloader'])?.['dataset']), 'test_dataloader.dataset') ?? topLevelPipeline(config);
  if (!found) throw new InferenceError(`config ${file} has no test pipeline: set test_dataloader.dataset.pipeline (or test_pipeline)`);
  const steps = found.steps.filter((step) => !STEPS_WITHOUT_MEANING_AT_INFERENCE.has(String(asRecord(step)?.['type'])));
  return { steps, path: found.path };
}

function datasetPipeline(dataset: ConfigRecord | undefined, path: string): { steps: unknown[]; path: string } | undefined {
  if (!dataset) return undefined;
  if (Array.isArray(dataset['pipeline'])) return { steps: dataset['pipeline'], path: `${path}.pipeline` };
  // Dataset wrappers (RepeatDataset, ConcatDataset) hold the real dataset one level down.
  if (asRecord(dataset['dataset'])) return datasetPipeline(asRecord(dataset['dataset']), `${path}.dataset`);
  const datasets = dataset['datasets'];
  if (Array.isArray(datasets)) return datasetPipeline(asRecord(datasets[0]), `${path}.datasets.0`);
  return undefined;
}

function topLevelPipeline(config: ConfigRecord): { steps: unknown[]; path: string } | undefined {
  return Array.isArray(config['test_pipeline']) ? { steps: config['test_pipeline'], path: 'test_pipeline' } : undefined;
}

function asRecord(value: unknown): ConfigRecord | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as ConfigRecord) : undefined;
}

/** Image path in, packed sample and decoded original out. */
export class InferencePipeline {
  readonly #load: LoadImageFromFile;
  readonly #rest: Compose;
  readonly #path: string;

  /** Builds the transforms through the TRANSFORMS registry (registerData() must have run). */
  constructor(config: PipelineConfig, options: { sourceOf?: SourceLookup; file: string }) {
    const pipeline = buildPipeline(config.steps, { path: config.path, sourceOf: options.sourceOf });
    const [load, ...rest] = pipeline.transforms;
    if (!(load instanceof LoadImageFromFile)) {
      throw new InferenceError(`config ${options.file}: ${config.path} must start with LoadImageFromFile to read image files (it starts with ${describeStep(config.steps[0])})`);
    }
    this.#load = load;
    this.#rest = new Compose(rest);
    this.#path = config.path;
  }

  /** Runs the pipeline on one file; `imgId` fills the img_id meta key. Throws ImageLoadError for unreadable files. */
  async run(imagePath: string, imgId: number): Promise<PreparedImage> {
    const loaded = await this.#load.transform({ img_path: imagePath, img_id: imgId });
    if (!loaded?.img) throw new InferenceError(`${imagePath}: skipped by LoadImageFromFile (ignore_empty)`);
    const packed = await this.#rest.transform(loaded);
    if (!isPackedDetInputs(packed)) throw new InferenceError(`${imagePath}: ${this.#path} did not produce packed inputs; it must end with PackDetInputs`);
    return { original: loaded.img, packed };
  }
}

function describeStep(step: unknown): string {
  const type = asRecord(step)?.['type'];
  return typeof type === 'string' ? type : 'nothing';
}
