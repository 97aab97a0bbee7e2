/**
 * The schedule and runtime sections of a config (mmdet's schedule_1x.py and default_runtime.py,
 * mmdet-reference §4.10), owned by the engine: the loops, the optimiser wrapper, schedulers,
 * hooks, randomness, logging and checkpoint loading. Components (optimizer, param_scheduler
 * entries, hooks) are validated by their own registered schemas.
 */
import { closedDict as dict, componentList, componentRef, typedDict, type ConfigSchema } from '@tsdet/core';

type Properties = Record<string, ConfigSchema>;

const boolean: ConfigSchema = { type: 'boolean' };
const number: ConfigSchema = { type: 'number' };
const positiveInteger: ConfigSchema = { type: 'integer', minimum: 1 };
const nonNegativeInteger: ConfigSchema = { type: 'integer', minimum: 0 };
const stringOrNull: ConfigSchema = { type: ['string', 'null'] };

const loopCommon: Properties = {
  val_begin: { ...positiveInteger, description: 'first epoch (iteration) after which to validate' },
  val_interval: { ...positiveInteger, description: 'validate every this many epochs (iterations)' },
  dynamic_intervals: { type: 'null', description: 'not supported: validation intervals are fixed' },
};

const trainCfg = typedDict(
  {
    EpochBasedTrainLoop: { max_epochs: positiveInteger, ...loopCommon },
    IterBasedTrainLoop: { max_iters: positiveInteger, ...loopCommon },
  },
  'the training loop (the model has its own model.train_cfg)',
  { EpochBasedTrainLoop: ['max_epochs'], IterBasedTrainLoop: ['max_iters'] },
);

const clipGrad = dict(
  {
    type: { enum: ['norm', 'value'], description: "'norm' (default): clip the total gradient norm; 'value': clip each element" },
    max_norm: { type: 'number', exclusiveMinimum: 0 },
    norm_type: { anyOf: [{ type: 'number', exclusiveMinimum: 0 }, { const: 'inf' }], description: 'p of the norm (2 by default)' },
    clip_value: { type: 'number', exclusiveMinimum: 0 },
    error_if_nonfinite: { const: false },
  },
  { nullable: true, description: 'gradient clipping (torch clip_grad_norm_); grad_norm is logged when set' },
);

const paramwiseCfg = dict(
  {
    bias_lr_mult: number,
    bias_decay_mult: number,
    norm_decay_mult: number,
    flat_decay_mult: number,
    bypass_duplicate: boolean,
    custom_keys: { type: 'object', additionalProperties: dict({ lr_mult: number, decay_mult: number }), description: 'lr / decay multipliers for parameters whose name contains the key' },
  },
  { description: "per-parameter lr and weight decay (mmengine's DefaultOptimWrapperConstructor)" },
);

const optimWrapper = dict(
  {
    type: { enum: ['OptimWrapper'], description: 'mixed precision (AmpOptimWrapper) is not available' },
    optimizer: componentRef('OPTIMIZERS', 'the optimizer and its hyper-parameters'),
    clip_grad: clipGrad,
    accumulative_counts: { ...positiveInteger, description: 'accumulate gradients over this many iterations per update' },
    paramwise_cfg: paramwiseCfg,
  },
  { required: ['optimizer'] },
);

/** A hook slot of default_hooks: a HOOKS component, or null to switch it off. */
function hookSlot(description: string): ConfigSchema {
  return { ...componentRef('HOOKS', description), type: ['object', 'null'] };
}

const visBackend = typedDict({ LocalVisBackend: { save_dir: { type: 'string' }, img_save_dir: { type: 'string' }, config_save_file: { type: 'string' }, scalar_save_file: { type: 'string' } } }, 'where logs are written (tsdet: local files)');

export const SCHEDULE_SECTIONS: Record<string, ConfigSchema> = {
  train_cfg: trainCfg,
  val_cfg: dict({ type: { enum: ['ValLoop'] }, fp16: { const: false } }, { nullable: true }),
  test_cfg: dict({ type: { enum: ['TestLoop'] }, fp16: { const: false } }, { nullable: true }),
  param_scheduler: componentList('PARAM_SCHEDULERS', 'learning-rate schedules, applied together in order'),
  optim_wrapper: optimWrapper,
  auto_scale_lr: dict({ enable: boolean, base_batch_size: positiveInteger }, { description: 'scale lr by (actual batch size / base_batch_size) when enabled' }),
};

export const RUNTIME_SECTIONS: Record<string, ConfigSchema> = {
  default_scope: { enum: ['mmdet'], description: "mmengine's registry scope; tsdet has one scope" },
  default_hooks: dict({
    runtime_info: hookSlot('records runtime information'),
    timer: hookSlot('times iterations and data loading'),
    logger: hookSlot('logs every interval iterations'),
    param_scheduler: hookSlot('steps the param schedulers'),
    checkpoint: hookSlot('saves checkpoints'),
    sampler_seed: hookSlot('tells the train dataloader the epoch'),
    visualization: hookSlot('draws predictions during validation and testing'),
  }),
  custom_hooks: componentList('HOOKS', 'more hooks, ordered by their priority'),
  env_cfg: dict({
    cudnn_benchmark: boolean,
    mp_cfg: dict({ mp_start_method: { enum: ['fork', 'spawn', 'forkserver'] }, opencv_num_threads: nonNegativeInteger }),
    dist_cfg: dict({ backend: { enum: ['nccl', 'gloo', 'mpi'] }, timeout: positiveInteger }),
  }),
  randomness: dict(
    {
      seed: { type: ['integer', 'null'], minimum: 0, description: 'seed of the run; null: a random seed, logged and saved in checkpoints' },
      deterministic: boolean,
      diff_rank_seed: boolean,
    },
    { description: 'reproducibility: the seed fixes initial weights, sampling and augmentation' },
  ),
  work_dir: { type: 'string', description: 'where logs and checkpoints go (--work-dir; default work_dirs/<config name>)' },
  launcher: { enum: ['none'], description: 'single-process training only' },
  experiment_name: { type: 'string' },
  vis_backends: { type: 'array', items: visBackend },
  visualizer: dict(
    {
      type: { enum: ['DetLocalVisualizer'] },
      name: { type: 'string' },
      vis_backends: { type: 'array', items: visBackend },
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
    window_size: { ...positiveInteger, description: 'losses and times are averaged over this many iterations' },
    by_epoch: boolean,
    custom_cfg: { type: ['array', 'null'], maxItems: 0, description: 'custom statistics are not supported' },
    num_digits: positiveInteger,
    log_with_hierarchy: { const: false },
    mean_pattern: { type: 'string' },
  }),
  log_level: { enum: ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] },
  load_from: { ...stringOrNull, description: 'checkpoint to start from: its weights, or everything with resume' },
  resume: { type: 'boolean', description: 'resume training from load_from (or the newest checkpoint in work_dir)' },
};

/** Every section the engine declares. */
export const ENGINE_CONFIG_SECTIONS: Record<string, ConfigSchema> = { ...SCHEDULE_SECTIONS, ...RUNTIME_SECTIONS };
