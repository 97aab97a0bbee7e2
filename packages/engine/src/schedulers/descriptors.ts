/**
 * PARAM_SCHEDULERS components. A config builds a factory; the runner creates the scheduler once
 * the optimiser exists and the loop lengths are known, which is when mmengine resolves a missing
 * `end` (max_epochs or max_iters) and `convert_to_iter_based` (epoch counts x batches per epoch).
 */
import { defineComponent, type ComponentDescriptor, type ConfigSchema } from '@tsdet/core';
import type { ParamGroup } from '../optim/sgd.js';
import { ConstantLR, CosineAnnealingLR, ExponentialLR, INF, LinearLR, MultiStepLR, ParamScheduler, PolyLR, SchedulerError, StepLR, type SchedulerRange } from './param-scheduler.js';

/** Loop facts a scheduler needs at creation. */
export interface SchedulerContext {
  /** Batches per training epoch (for convert_to_iter_based). */
  epochLength: number;
  maxEpochs?: number;
  maxIters?: number;
}

export interface ParamSchedulerFactory {
  readonly type: string;
  /** Counted in epochs (stepped after each epoch) once created, after any conversion. */
  byEpoch(): boolean;
  create(groups: ParamGroup[], context: SchedulerContext): ParamScheduler;
}

interface CommonConfig {
  begin: number;
  end?: number;
  by_epoch: boolean;
  last_step: number;
  verbose: boolean;
  convert_to_iter_based: boolean;
}

const commonProperties: Record<string, ConfigSchema> = {
  begin: { type: 'integer', minimum: 0, default: 0, description: 'first step (epoch or iteration) the schedule acts on' },
  end: { type: 'integer', minimum: 1, description: 'step at which it stops acting (exclusive); default max_epochs or max_iters' },
  by_epoch: { type: 'boolean', default: true, description: 'count epochs (stepped after each epoch) rather than iterations' },
  last_step: { type: 'integer', minimum: -1, default: -1, description: 'index of the last step, to resume without a checkpoint (-1: fresh)' },
  verbose: { type: 'boolean', default: false, description: 'accepted for mmengine configs; tsdet logs the lr anyway' },
  convert_to_iter_based: { type: 'boolean', default: false, description: 'turn an epoch-based schedule into the equivalent per-iteration one' },
};

/** How a scheduler's own epoch-valued arguments scale when converted to iterations. */
type Scale = (value: number) => number;

function defineScheduler<Cfg extends CommonConfig>(
  type: string,
  description: string,
  properties: Record<string, ConfigSchema>,
  make: (groups: ParamGroup[], range: SchedulerRange, cfg: Cfg, scale: Scale) => ParamScheduler,
  required: string[] = [],
): ComponentDescriptor<Cfg, ParamSchedulerFactory> {
  return defineComponent<Cfg, ParamSchedulerFactory>({
    type,
    description,
    schema: { properties: { ...commonProperties, ...properties }, required },
    build: (cfg) => ({
      type,
      byEpoch: () => cfg.by_epoch && !cfg.convert_to_iter_based,
      create: (groups, context) => {
        const { range, scale } = resolveRange(type, cfg, context);
        return make(groups, range, cfg, scale);
      },
    }),
  });
}

function resolveRange(type: string, cfg: CommonConfig, context: SchedulerContext): { range: SchedulerRange; scale: Scale } {
  if (cfg.convert_to_iter_based && !cfg.by_epoch) throw new SchedulerError(`${type}: only an epoch-based schedule (by_epoch true) can be converted to iterations`);
  const defaultEnd = cfg.by_epoch ? context.maxEpochs : context.maxIters;
  const end = cfg.end ?? defaultEnd ?? INF;
  if (!cfg.convert_to_iter_based) return { range: { begin: cfg.begin, end, by_epoch: cfg.by_epoch, last_step: cfg.last_step }, scale: (v) => v };
  const length = context.epochLength;
  if (!(length > 0)) throw new SchedulerError(`${type}: convert_to_iter_based needs the training dataloader's length, got ${length}`);
  const scale = (v: number): number => v * length;
  return { range: { begin: scale(cfg.begin), end: end === INF ? INF : scale(end), by_epoch: false, last_step: cfg.last_step }, scale };
}

const factor = { type: 'number', minimum: 0, maximum: 1 };

export const linearLrDescriptor = defineScheduler<CommonConfig & { start_factor: number; end_factor: number }>(
  'LinearLR',
  'multiplies the lr by a factor going linearly from start_factor to end_factor over [begin, end) (warm-up)',
  { start_factor: { ...factor, default: 1 / 3 }, end_factor: { ...factor, default: 1 } },
  (groups, range, cfg) => new LinearLR(groups, range, cfg.start_factor, cfg.end_factor),
);

export const constantLrDescriptor = defineScheduler<CommonConfig & { factor: number }>(
  'ConstantLR',
  'multiplies the lr by factor over [begin, end)',
  { factor: { ...factor, default: 1 / 3 } },
  (groups, range, cfg) => new ConstantLR(groups, range, cfg.factor),
);

export const multiStepLrDescriptor = defineScheduler<CommonConfig & { milestones: number[]; gamma: number }>(
  'MultiStepLR',
  'multiplies the lr by gamma at each milestone',
  { milestones: { type: 'array', items: { type: 'integer', minimum: 0 } }, gamma: { type: 'number', default: 0.1 } },
  (groups, range, cfg, scale) => new MultiStepLR(groups, range, cfg.milestones.map(scale), cfg.gamma),
  ['milestones'],
);

export const stepLrDescriptor = defineScheduler<CommonConfig & { step_size: number; gamma: number }>(
  'StepLR',
  'multiplies the lr by gamma every step_size steps',
  { step_size: { type: 'integer', minimum: 1 }, gamma: { type: 'number', default: 0.1 } },
  (groups, range, cfg, scale) => new StepLR(groups, range, scale(cfg.step_size), cfg.gamma),
  ['step_size'],
);

export const exponentialLrDescriptor = defineScheduler<CommonConfig & { gamma: number }>(
  'ExponentialLR',
  'multiplies the lr by gamma every step',
  { gamma: { type: 'number' } },
  (groups, range, cfg) => new ExponentialLR(groups, range, cfg.gamma),
  ['gamma'],
);

export const cosineAnnealingLrDescriptor = defineScheduler<CommonConfig & { T_max?: number; eta_min?: number | null; eta_min_ratio?: number | null }>(
  'CosineAnnealingLR',
  'anneals the lr along a half cosine from its value to eta_min over T_max steps',
  { T_max: { type: 'integer', minimum: 1, description: 'default: end - begin' }, eta_min: { type: ['number', 'null'], default: null }, eta_min_ratio: { type: ['number', 'null'], default: null } },
  (groups, range, cfg, scale) => new CosineAnnealingLR(groups, range, cfg.T_max !== undefined ? scale(cfg.T_max) : range.end - range.begin, cfg),
);

export const polyLrDescriptor = defineScheduler<CommonConfig & { eta_min: number; power: number }>(
  'PolyLR',
  'decays the lr polynomially to eta_min over [begin, end)',
  { eta_min: { type: 'number', default: 0 }, power: { type: 'number', default: 1 } },
  (groups, range, cfg) => new PolyLR(groups, range, cfg.eta_min, cfg.power),
);

export const PARAM_SCHEDULER_DESCRIPTORS: ComponentDescriptor[] = [
  linearLrDescriptor,
  constantLrDescriptor,
  multiStepLrDescriptor,
  stepLrDescriptor,
  exponentialLrDescriptor,
  cosineAnnealingLrDescriptor,
  polyLrDescriptor,
];
