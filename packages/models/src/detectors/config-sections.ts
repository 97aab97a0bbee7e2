/**
 * The top-level config sections of mmdet's `_base_` dataset file (coco_detection;
 * mmdet-reference §4.9), declared so that a detection config validates as a whole: every key of
 * that file (and of the mmengine/mmdet constructors it calls) is described, anything else is
 * rejected. Pipelines steps are TRANSFORMS components (registered by @tsdet/data). The schedule
 * and runtime sections (schedule_1x, default_runtime) are @tsdet/engine's: a program that loads
 * full detection configs calls registerEngine() too, so that those keys are checked, never
 * waved through.
 */
import { closedDict as dict, componentList, componentRef, configSectionNames, registerConfigSection, typedDict, type ConfigSchema } from '@tsdet/core';


const string: ConfigSchema = { type: 'string' };
const boolean: ConfigSchema = { type: 'boolean' };
const positiveInteger: ConfigSchema = { type: 'integer', minimum: 1 };
const nonNegativeInteger: ConfigSchema = { type: 'integer', minimum: 0 };
const localFilesOnly: ConfigSchema = { type: 'null', description: 'file backends are not ported: local files only (backend_args=None)' };

// ---------------------------------------------------------------------------------------------
// datasets/coco_detection

const pipeline = componentList('TRANSFORMS', 'data transforms, in order');

/** mmengine's Runner.build_dataloader: torch DataLoader keywords plus sampler configs. */
const dataloaderSchema = dict(
  {
    batch_size: positiveInteger,
    num_workers: nonNegativeInteger,
    persistent_workers: boolean,
    drop_last: boolean,
    pin_memory: boolean,
    prefetch_factor: { type: ['integer', 'null'], minimum: 1 },
    sampler: typedDict({ DefaultSampler: { shuffle: boolean, seed: { type: ['integer', 'null'] }, round_up: boolean }, InfiniteSampler: { shuffle: boolean, seed: { type: ['integer', 'null'] } } }, 'which sample indices each epoch visits'),
    batch_sampler: { ...typedDict({ AspectRatioBatchSampler: { drop_last: boolean } }, 'groups landscape and portrait images into separate batches'), type: ['object', 'null'] },
    collate_fn: typedDict({ pseudo_collate: {}, default_collate: {} }, 'how samples become a batch'),
    dataset: componentRef('DATASETS', 'the dataset to load'),
  },
  { required: ['dataset'] },
);

/** An evaluator is a METRICS component (CocoMetric from @tsdet/data), validated by its own schema. */
const evaluator = componentRef('METRICS', 'the metric computed on the validation / test split');

const DATASET_SECTIONS: Record<string, ConfigSchema> = {
  dataset_type: { ...string, description: 'the dataset class name the loaders use (an mmdet config variable)' },
  data_root: { ...string, description: 'folder the annotation and image paths are relative to (an mmdet config variable)' },
  backend_args: localFilesOnly,
  train_pipeline: pipeline,
  test_pipeline: pipeline,
  train_dataloader: dataloaderSchema,
  val_dataloader: dataloaderSchema,
  test_dataloader: dataloaderSchema,
  val_evaluator: evaluator,
  test_evaluator: evaluator,
};

/** Every section this file declares, by the mmdet file that uses it. */
export const DETECTION_CONFIG_SECTIONS: Record<string, ConfigSchema> = DATASET_SECTIONS;

/**
 * Declares the sections above; a section some other package declared first is left alone
 * (so the order in which packages register does not matter).
 */
export function registerDetectionConfigSections(): void {
  const declared = new Set(configSectionNames());
  for (const [key, schema] of Object.entries(DETECTION_CONFIG_SECTIONS)) if (!declared.has(key)) registerConfigSection(key, schema);
}
