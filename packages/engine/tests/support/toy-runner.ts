/** Builds toy runs through buildRunner (the config path the tools use), with a loss recorder. */
import { MODELS, METRICS } from '@tsdet/core';
import { buildRunner, registerEngine, type BuildRunnerOptions, type Hook, type Runner, type TrainStepOutputs } from '@tsdet/engine';
import { ToyDataLoader, toyEvaluatorDescriptor, toyRegressorDescriptor } from './toy.js';

export function registerToys(): void {
  registerEngine();
  if (!MODELS.has('ToyRegressor')) MODELS.register(toyRegressorDescriptor);
  if (!METRICS.has('ToyEvaluator')) METRICS.register(toyEvaluatorDescriptor);
}

export interface ToyConfigOptions {
  epochs?: number;
  seed?: number | null;
  samples?: number;
  batchSize?: number;
  nanSamples?: number[];
  checkpoint?: Record<string, unknown>;
  logInterval?: number;
  extra?: Record<string, unknown>;
}

export function toyConfig(options: ToyConfigOptions = {}): Record<string, unknown> {
  const loader = { batch_size: options.batchSize ?? 4, samples: options.samples ?? 16, nan_samples: options.nanSamples ?? [] };
  return {
    model: { type: 'ToyRegressor' },
    train_dataloader: loader,
    val_dataloader: { ...loader, nan_samples: [] },
    val_cfg: { type: 'ValLoop' },
    val_evaluator: { type: 'ToyEvaluator' },
    train_cfg: { type: 'EpochBasedTrainLoop', max_epochs: options.epochs ?? 3, val_interval: 1 },
    optim_wrapper: { type: 'OptimWrapper', optimizer: { type: 'SGD', lr: 0.1, momentum: 0.9, weight_decay: 0.0001 } },
    param_scheduler: [
      { type: 'LinearLR', start_factor: 0.1, by_epoch: false, begin: 0, end: 5 },
      { type: 'MultiStepLR', milestones: [2], by_epoch: true, begin: 0, end: 12 },
    ],
    default_hooks: {
      timer: { type: 'IterTimerHook' },
      logger: { type: 'LoggerHook', interval: options.logInterval ?? 2 },
      param_scheduler: { type: 'ParamSchedulerHook' },
      checkpoint: { type: 'CheckpointHook', interval: 1, ...options.checkpoint },
      sampler_seed: { type: 'DistSamplerSeedHook' },
      visualization: { type: 'DetVisualizationHook' },
    },
    log_processor: { type: 'LogProcessor', window_size: 2, by_epoch: true },
    randomness: { seed: options.seed === undefined ? 7 : options.seed },
    ...options.extra,
  };
}

export const toyLoaderFactory: NonNullable<BuildRunnerOptions['buildDataLoader']> = (cfg, { seed }) =>
  new ToyDataLoader({ samples: cfg['samples'] as number, batchSize: cfg['batch_size'] as number, nanSamples: cfg['nan_samples'] as number[], skipped: cfg['skipped'] as Record<string, number> | undefined, seed });

/** Records the total loss (and every term) of each iteration. */
export class LossRecorder implements Hook {
  readonly name = 'LossRecorder';
  priority = 50;
  readonly losses: number[] = [];
  readonly logVars: Record<string, number>[] = [];
  constructor(readonly onIter?: (runner: Runner, outputs: TrainStepOutputs) => void) {}

  afterTrainIter(runner: Runner, _batchIdx: number, _batch: unknown, outputs: TrainStepOutputs): void {
    this.losses.push(outputs.logVars['loss']!);
    this.logVars.push(outputs.logVars);
    this.onIter?.(runner, outputs);
  }
}

export async function toyRunner(workDir: string, config: Record<string, unknown>, options: Partial<BuildRunnerOptions> = {}): Promise<{ runner: Runner; recorder: LossRecorder }> {
  registerToys();
  const runner = await buildRunner(config, { mode: 'train', workDir, buildDataLoader: toyLoaderFactory, quiet: true, ...options });
  const recorder = new LossRecorder();
  runner.registerHook(recorder);
  return { runner, recorder };
}
