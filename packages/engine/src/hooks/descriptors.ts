/**
 * HOOKS components: the schemas of mmengine's / mmdet's hook configs and their builders. Every
 * hook also accepts `priority` (custom_hooks use it to order themselves).
 */
import { defineComponent, type ComponentDescriptor, type ConfigSchema } from '@tsdet/core';
import { DistSamplerSeedHook, IterTimerHook, ParamSchedulerHook, RuntimeInfoHook } from './basic-hooks.js';
import { CheckpointHook, type CheckpointHookConfig } from './checkpoint-hook.js';
import { DetVisualizationHook } from './det-visualization-hook.js';
import { PRIORITY, priorityValue, prioritySchema, type Hook } from './hook.js';
import { LoggerHook } from './logger-hook.js';

interface WithPriority {
  priority?: number | string;
}

const localFilesOnly: ConfigSchema = { type: 'null', description: 'file backends are not ported: local files only' };

function simpleHook(type: string, description: string, make: (priority: number) => Hook, fallback: number): ComponentDescriptor<WithPriority, Hook> {
  return defineComponent<WithPriority, Hook>({
    type,
    description,
    schema: { properties: { priority: prioritySchema } },
    build: (cfg) => make(priorityValue(cfg.priority, fallback)),
  });
}

export const iterTimerHookDescriptor = simpleHook('IterTimerHook', 'times iterations and data loading, estimates the time left', (p) => new IterTimerHook(p), PRIORITY.NORMAL);
export const paramSchedulerHookDescriptor = simpleHook('ParamSchedulerHook', 'steps the param schedulers after each iteration / epoch', (p) => new ParamSchedulerHook(p), PRIORITY.LOW);
export const distSamplerSeedHookDescriptor = simpleHook('DistSamplerSeedHook', 'tells the train dataloader the epoch, so each epoch has its own order', (p) => new DistSamplerSeedHook(p), PRIORITY.NORMAL);
export const runtimeInfoHookDescriptor = simpleHook('RuntimeInfoHook', 'accepted for mmengine configs: the runner records lr and losses itself', (p) => new RuntimeInfoHook(p), PRIORITY.VERY_HIGH);

export const loggerHookDescriptor = defineComponent<{ interval: number; ignore_last: boolean; log_metric_by_epoch: boolean } & WithPriority, Hook>({
  type: 'LoggerHook',
  description: 'logs every interval iterations (text log, vis_data/scalars.json) and the validation metrics',
  schema: {
    properties: {
      interval: { type: 'integer', minimum: 1, default: 10 },
      ignore_last: { type: 'boolean', default: true, description: "skip the epoch's last iterations when fewer than interval" },
      log_metric_by_epoch: { type: 'boolean', default: true, description: 'record validation metrics at step = epoch (else iteration)' },
      interval_exp_name: { type: 'integer', minimum: 1, description: 'accepted for mmengine configs (the experiment name is in every log)' },
      out_dir: { type: 'null', description: 'logs stay in work_dir' },
      out_suffix: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
      keep_local: { type: 'boolean' },
      file_client_args: localFilesOnly,
      backend_args: localFilesOnly,
      priority: prioritySchema,
    },
  },
  build: (cfg) => new LoggerHook({ interval: cfg.interval, ignore_last: cfg.ignore_last, log_metric_by_epoch: cfg.log_metric_by_epoch, priority: priorityValue(cfg.priority, PRIORITY.BELOW_NORMAL) }),
});

const ruleSchema = { enum: ['greater', 'less'] };

export const checkpointHookDescriptor = defineComponent<Omit<CheckpointHookConfig, 'priority'> & WithPriority, Hook>({
  type: 'CheckpointHook',
  description: 'saves checkpoints every interval epochs or iterations, the last, and the best',
  schema: {
    properties: {
      interval: { type: 'integer', default: -1, description: 'every this many epochs (by_epoch) or iterations; -1: never (save_last still applies)' },
      by_epoch: { type: 'boolean', default: true },
      save_optimizer: { type: 'boolean', default: true },
      save_param_scheduler: { type: 'boolean', default: true },
      out_dir: { type: ['string', 'null'], default: null, description: 'folder for the checkpoints (default work_dir)' },
      max_keep_ckpts: { type: 'integer', default: -1, description: 'keep only the newest this many (-1: all)' },
      save_last: { type: 'boolean', default: true },
      save_best: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }, { type: 'null' }], default: null, description: "metric(s) to keep the best checkpoint for, e.g. 'coco/bbox_mAP'; 'auto': the first metric" },
      rule: { anyOf: [ruleSchema, { type: 'array', items: ruleSchema }, { type: 'null' }], default: null },
      greater_keys: { type: ['array', 'null'], items: { type: 'string' }, default: null },
      less_keys: { type: ['array', 'null'], items: { type: 'string' }, default: null },
      filename_tmpl: { type: ['string', 'null'], default: null, description: "e.g. 'epoch_{}.pth' (the default)" },
      published_keys: { type: 'null', description: 'publishing checkpoints is not ported' },
      save_begin: { type: 'integer', minimum: 0, default: 0 },
      file_client_args: localFilesOnly,
      backend_args: localFilesOnly,
      priority: prioritySchema,
    },
  },
  build: (cfg) => new CheckpointHook({ ...cfg, priority: priorityValue(cfg.priority, PRIORITY.VERY_LOW) }),
});

/**
 * mmdet's DetVisualizationHook (see det-visualization-hook.ts). `show` opens a window in mmdet;
 * tsdet runs in Node without a display, so `show: true` is refused with what to use instead.
 */
export const detVisualizationHookDescriptor = defineComponent<{ draw: boolean; show: boolean; interval: number; score_thr: number; test_out_dir: string | null } & WithPriority, Hook>({
  type: 'DetVisualizationHook',
  description: 'draws validation / test predictions on their images (PNG files under the log dir)',
  schema: {
    properties: {
      draw: { type: 'boolean', default: false },
      interval: { type: 'integer', minimum: 1, default: 50, description: 'draw every this many batches' },
      score_thr: { type: 'number', minimum: 0, maximum: 1, default: 0.3 },
      show: { type: 'boolean', default: false },
      wait_time: { type: 'number', description: 'seconds a shown window stays open (show is not available in Node)' },
      test_out_dir: { type: ['string', 'null'], default: null, description: 'folder (under the log dir) for the test pictures' },
      backend_args: localFilesOnly,
      priority: prioritySchema,
    },
  },
  build: (cfg) => {
    if (cfg.show) throw new Error('show: true opens a window, and tsdet runs in Node without a display; use draw: true (pictures under the log dir) instead');
    return new DetVisualizationHook({ draw: cfg.draw, interval: cfg.interval, score_thr: cfg.score_thr, test_out_dir: cfg.test_out_dir, priority: priorityValue(cfg.priority, PRIORITY.NORMAL) });
  },
});

export const HOOK_DESCRIPTORS: ComponentDescriptor[] = [
  iterTimerHookDescriptor,
  loggerHookDescriptor,
  paramSchedulerHookDescriptor,
  checkpointHookDescriptor,
  distSamplerSeedHookDescriptor,
  runtimeInfoHookDescriptor,
  detVisualizationHookDescriptor,
];
