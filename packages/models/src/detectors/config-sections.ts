/**
 * The top-level config sections of mmdet's `_base_` dataset, schedule and runtime files
 * (coco_detection, schedule_1x, default_runtime; mmdet-reference §4.9-§4.10), declared so that a
 * detection config validates as a whole. Plain schemas for now: every key of those files (and
 * of the mmengine/mmdet constructors they call) is described, anything else is rejected; the
 * training issue turns loops, schedulers, optimisers, hooks and datasets into components.
 * Pipelines already are: their steps are TRANSFORMS components (registered by @tsdet/data).
 */
import { componentList, componentRef, configSectionNames, registerConfigSection, type ConfigSchema } from '@tsdet/core';

type Properties = Record<string, ConfigSchema>;

const string: ConfigSchema = { type: 'string' };
const boolean: ConfigSchema = { type: 'boolean' };
const number: ConfigSchema = { type: 'number' };
const integer: ConfigSchema = { type: 'integer' };
const positiveInteger: ConfigSchema = { type: 'integer', minimum: 1 };
const nonNegativeInteger: ConfigSchema = { type: 'integer', minimum: 0 };
const stringOrNull: ConfigSchema = { type: ['string', 'null'] };
const localFilesOnly: ConfigSchema = { type: 'null', description: 'file backends are not ported: local files only (backend_args=None)' };

function dict(properties: Properties, options: { required?: string[]; description?: string; nullable?: boolean } = {}): ConfigSchema {
  return {
    type: options.nullable ? ['object', 'null'] : 'object',
    properties,
    additionalProperties: false,
    ...(options.required ? { required: options.required } : {}),
    ...(options.description ? { description: options.description } : {}),
  };
}

/** A dict with a `type` whose allowed keys depend on it: each type lists its own keys. */
function typedDict(variants: Record<string, Properties>, description: string): ConfigSchema {
  const types = Object.keys(variants);
  return {
    type: 'object',
    properties: { type: { enum: types } },
    required: ['type'],
    description,
    allOf: types.map((type) => ({
      if: { type: 'object', properties: { type: { const: type } }, required: ['type'] },
      then: dict({ type: { const: type }, ...variants[type] }),
    })),
  };
}

function arrayOf(items: ConfigSchema, description?: string): ConfigSchema {
  return { type: 'array', items, ...(description ? { description } : {}) };
}

// ---------------------------------------------------------------------------------------------
// datasets/coco_detection

const pipeline = componentList('TRANSFORMS', 'data transforms, in order');

/** mmdet's BaseDetDataset / CocoDataset arguments (mmengine BaseDataset plus detection keys). */
const datasetSchema = dict(
  {
    type: { enum: ['CocoDataset'], description: 'the dataset class (plain dict until the DATASETS registry has datasets)' },
    data_root: string,
    ann_file: string,
    metainfo: dict({ classes: arrayOf(string), palette: arrayOf({ type: 'array', items: integer, minItems: 3, maxItems: 3 }) }, { nullable: true }),
    data_prefix: dict({ img: string, seg: string, img_path: string }),
    filter_cfg: dict({ filter_empty_gt: boolean, min_size: nonNegativeInteger }, { nullable: true }),
    indices: { type: ['integer', 'array', 'null'], items: integer },
    serialize_data: boolean,
    pipeline,
    test_mode: boolean,
    lazy_init: boolean,
    max_refetch: positiveInteger,
    seg_map_suffix: string,
    proposal_file: stringOrNull,
    return_classes: boolean,
    file_client_args: localFilesOnly,
    backend_args: localFilesOnly,
  },
  { required: ['type'] },
);

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
    dataset: datasetSchema,
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

// ---------------------------------------------------------------------------------------------
// schedules/schedule_1x

const schedulerCommon: Properties = { by_epoch: boolean, begin: nonNegativeInteger, end: integer, last_step: integer, verbose: boolean, convert_to_iter_based: boolean };

/** mmengine's LR schedulers as mmdet configs use them, each with its own arguments. */
const paramSchedulerSchema = typedDict(
  {
    LinearLR: { ...schedulerCommon, start_factor: number, end_factor: number },
    MultiStepLR: { ...schedulerCommon, milestones: arrayOf(nonNegativeInteger), gamma: number },
    StepLR: { ...schedulerCommon, step_size: positiveInteger, gamma: number },
    ConstantLR: { ...schedulerCommon, factor: number },
    ExponentialLR: { ...schedulerCommon, gamma: number },
    CosineAnnealingLR: { ...schedulerCommon, T_max: positiveInteger, eta_min: { type: ['number', 'null'] }, eta_min_ratio: { type: ['number', 'null'] } },
    PolyLR: { ...schedulerCommon, eta_min: number, power: number },
  },
  'a learning-rate schedule over [begin, end) iterations or epochs',
);

const optimizerSchema = typedDict(
  {
    SGD: { lr: number, momentum: number, weight_decay: number, dampening: number, nesterov: boolean },
    Adam: { lr: number, betas: arrayOf(number), eps: number, weight_decay: number, amsgrad: boolean },
    AdamW: { lr: number, betas: arrayOf(number), eps: number, weight_decay: number, amsgrad: boolean },
  },
  'the torch optimizer and its arguments',
);

// mmengine's `constructor` key (a custom optimiser constructor) is left out: ajv reads the
// inherited Object.prototype.constructor of every dict as that property.
const optimWrapperSchema = dict(
  {
    type: { enum: ['OptimWrapper', 'AmpOptimWrapper'] },
    optimizer: optimizerSchema,
    clip_grad: dict({ max_norm: number, norm_type: number, type: { enum: ['norm', 'value'] }, clip_value: number }, { nullable: true }),
    accumulative_counts: positiveInteger,
    paramwise_cfg: dict({
      lr_mult: number,
      decay_mult: number,
      bias_lr_mult: number,
      bias_decay_mult: number,
      norm_decay_mult: number,
      dwconv_decay_mult: number,
      flat_decay_mult: number,
      bypass_duplicate: boolean,
      custom_keys: { type: 'object', additionalProperties: dict({ lr_mult: number, decay_mult: number }) },
    }),
    loss_scale: { anyOf: [number, { const: 'dynamic' }, { type: 'object' }] },
    dtype: stringOrNull,
  },
  { required: ['optimizer'] },
);

const SCHEDULE_SECTIONS: Record<string, ConfigSchema> = {
  train_cfg: dict(
    { type: { enum: ['EpochBasedTrainLoop', 'IterBasedTrainLoop'] }, by_epoch: boolean, max_epochs: positiveInteger, max_iters: positiveInteger, val_begin: positiveInteger, val_interval: positiveInteger, dynamic_intervals: { type: ['array', 'null'], items: arrayOf(integer) } },
    { description: 'the training loop (the model has its own model.train_cfg)' },
  ),
  val_cfg: dict({ type: { enum: ['ValLoop'] }, fp16: boolean }),
  test_cfg: dict({ type: { enum: ['TestLoop'] }, fp16: boolean }),
  param_scheduler: arrayOf(paramSchedulerSchema, 'learning-rate schedules, applied together'),
  optim_wrapper: optimWrapperSchema,
  auto_scale_lr: dict({ enable: boolean, base_batch_size: positiveInteger }, { description: 'scale lr by actual batch / base_batch_size when enabled' }),
};

// ---------------------------------------------------------------------------------------------
// default_runtime

const hookSchemas = {
  runtime_info: typedDict({ RuntimeInfoHook: {} }, 'records runtime information'),
  timer: typedDict({ IterTimerHook: {} }, 'times iterations and data loading'),
  logger: typedDict(
    {
      LoggerHook: {
        interval: positiveInteger,
        ignore_last: boolean,
        interval_exp_name: positiveInteger,
        out_dir: stringOrNull,
        out_suffix: { anyOf: [string, arrayOf(string)] },
        keep_local: boolean,
        log_metric_by_epoch: boolean,
        file_client_args: localFilesOnly,
        backend_args: localFilesOnly,
      },
    },
    'logs every interval iterations',
  ),
  param_scheduler: typedDict({ ParamSchedulerHook: {} }, 'steps the param schedulers'),
  checkpoint: typedDict(
    {
      CheckpointHook: {
        interval: integer,
        by_epoch: boolean,
        save_optimizer: boolean,
        save_param_scheduler: boolean,
        out_dir: stringOrNull,
        max_keep_ckpts: integer,
        save_last: boolean,
        save_best: { anyOf: [string, arrayOf(string), { type: 'null' }] },
        rule: { anyOf: [{ enum: ['greater', 'less'] }, arrayOf({ enum: ['greater', 'less'] }), { type: 'null' }] },
        greater_keys: { type: ['array', 'null'], items: string },
        less_keys: { type: ['array', 'null'], items: string },
        filename_tmpl: stringOrNull,
        published_keys: { type: ['array', 'string', 'null'], items: string },
        save_begin: nonNegativeInteger,
        file_client_args: localFilesOnly,
        backend_args: localFilesOnly,
      },
    },
    'saves checkpoints every interval epochs or iterations',
  ),
  sampler_seed: typedDict({ DistSamplerSeedHook: {} }, 'reseeds the sampler every epoch'),
  visualization: typedDict(
    { DetVisualizationHook: { draw: boolean, interval: positiveInteger, score_thr: number, show: boolean, wait_time: number, test_out_dir: stringOrNull, backend_args: localFilesOnly } },
    'draws predictions during validation and testing',
  ),
};

const visBackendSchema = typedDict(
  {
    LocalVisBackend: { save_dir: string, img_save_dir: string, config_save_file: string, scalar_save_file: string },
    TensorboardVisBackend: { save_dir: string },
  },
  'where logs and images are written',
);

const RUNTIME_SECTIONS: Record<string, ConfigSchema> = {
  default_scope: { enum: ['mmdet'], description: "mmengine's registry scope; tsdet has one scope" },
  default_hooks: dict(Object.fromEntries(Object.entries(hookSchemas).map(([key, schema]) => [key, { ...schema, type: ['object', 'null'] }]))),
  env_cfg: dict({
    cudnn_benchmark: boolean,
    mp_cfg: dict({ mp_start_method: { enum: ['fork', 'spawn', 'forkserver'] }, opencv_num_threads: nonNegativeInteger }),
    dist_cfg: dict({ backend: { enum: ['nccl', 'gloo', 'mpi'] }, timeout: positiveInteger }),
  }),
  vis_backends: arrayOf(visBackendSchema),
  visualizer: dict(
    {
      type: { enum: ['DetLocalVisualizer'] },
      name: string,
      vis_backends: arrayOf(visBackendSchema),
      save_dir: stringOrNull,
      bbox_color: { type: ['string', 'array', 'null'] },
      text_color: { type: ['string', 'array', 'null'] },
      mask_color: { type: ['string', 'array', 'null'] },
      line_width: number,
      alpha: number,
    },
    { required: ['type'] },
  ),
  log_processor: dict({
    type: { enum: ['LogProcessor'] },
    window_size: positiveInteger,
    by_epoch: boolean,
    custom_cfg: { type: ['array', 'null'], items: { type: 'object' } },
    num_digits: positiveInteger,
    log_with_hierarchy: boolean,
    mean_pattern: string,
  }),
  log_level: { enum: ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] },
  load_from: { ...stringOrNull, description: 'checkpoint of the whole model to start from' },
  resume: { type: 'boolean', description: 'resume training from load_from (or the latest checkpoint in work_dir)' },
};

/** Every section this file declares, by the mmdet file that uses it. */
export const DETECTION_CONFIG_SECTIONS: Record<string, ConfigSchema> = { ...DATASET_SECTIONS, ...SCHEDULE_SECTIONS, ...RUNTIME_SECTIONS };

/**
 * Declares the sections above; a section some other package declared first is left alone
 * (so the order in which packages register does not matter).
 */
export function registerDetectionConfigSections(): void {
  const declared = new Set(configSectionNames());
  for (const [key, schema] of Object.entries(DETECTION_CONFIG_SECTIONS)) if (!declared.has(key)) registerConfigSection(key, schema);
}
