/**
 * Runner.fromConfig: builds every part of a run from a (merged) config through the registries,
 * as mmengine's Runner.from_cfg: the model (with the run's seed fixing its initial weights), the
 * dataloaders (through a factory: @tsdet/data's buildDataLoader in the tools), the optimiser
 * wrapper with auto_scale_lr, the schedulers, evaluators and hooks.
 */
import { ConfigValidationError, HOOKS, isTrainableModel, METRICS, Module, MODELS, PARAM_SCHEDULERS, registryLookup, validateTree, type TrainableModel } from '@tsdet/core';
import { ENGINE_CONFIG_SECTIONS } from '../config/sections.js';
import type { Hook } from '../hooks/hook.js';
import { LogProcessor, type LogProcessorConfig } from '../logging/log-processor.js';
import type { LogLevel } from '../logging/run-logger.js';
import { buildOptimWrapper, type OptimWrapperConfig } from '../optim/descriptors.js';
import type { ParamSchedulerFactory } from '../schedulers/descriptors.js';
import type { DataLoaderFactory, DataLoaderLike, EvaluatorLike } from './interfaces.js';
import type { TrainLoopConfig } from './loops.js';
import { resolveSeed, withSeededMathRandom, type RandomnessConfig } from './randomness.js';
import { Runner } from './runner.js';

export interface BuildRunnerOptions {
  /** Builds train/val/test dataloaders from their config sections. */
  buildDataLoader?: DataLoaderFactory;
  /** What the run will do: decides which sections are needed. */
  mode: 'train' | 'test';
  /** Overrides cfg.work_dir. */
  workDir?: string;
  /** Overrides randomness.seed. */
  seed?: number;
  /** Forces auto_scale_lr.enable (the --auto-scale-lr flag). */
  autoScaleLr?: boolean;
  /** Overrides resume / load_from: true resumes from work_dir's last checkpoint, a path from that file. */
  resume?: boolean | string;
  /** Overrides load_from (tools/test.ts's CHECKPOINT). */
  loadFrom?: string;
  quiet?: boolean;
  backend?: string;
}

type Cfg = Record<string, unknown>;

/** Validates the engine's sections (the rest is left to their owners) and fills their defaults. */
export function validateEngineSections(cfg: Cfg): Cfg {
  const present = Object.fromEntries(Object.keys(ENGINE_CONFIG_SECTIONS).filter((key) => key in cfg).map((key) => [key, cfg[key]]));
  const schema = { type: 'object', properties: ENGINE_CONFIG_SECTIONS, additionalProperties: false };
  const { issues, value } = validateTree(schema, present, registryLookup);
  if (issues.length) throw new ConfigValidationError(issues, 'config');
  return { ...cfg, ...(value as Cfg) };
}

export async function buildRunner(config: Cfg, options: BuildRunnerOptions): Promise<Runner> {
  const cfg = validateEngineSections(config);
  const seed = options.seed ?? resolveSeed(cfg['randomness'] as RandomnessConfig | undefined);
  const workDir = options.workDir ?? (cfg['work_dir'] as string | undefined);
  if (!workDir) throw new Error('work_dir: not set (pass --work-dir or set work_dir in the config)');
  const model = buildModel(cfg, seed);
  try {
    const build = (key: string): Promise<DataLoaderLike> => buildLoader(cfg, key, seed, options.buildDataLoader);
    const { loadFrom, resume } = checkpointChoice(cfg, options);
    return new Runner({
      model,
      workDir,
      seed,
      config,
      experimentName: cfg['experiment_name'] as string | undefined,
      train: options.mode === 'train' ? await buildTraining(cfg, model, build, options.autoScaleLr ?? false) : undefined,
      val: options.mode === 'train' ? await buildEvaluation(cfg, 'val', build) : undefined,
      test: options.mode === 'test' ? await buildEvaluation(cfg, 'test', build, true) : undefined,
      hooks: buildHooks(cfg),
      logProcessor: new LogProcessor((cfg['log_processor'] as LogProcessorConfig | undefined) ?? {}),
      loadFrom,
      resume,
      logLevel: cfg['log_level'] as LogLevel | undefined,
      quiet: options.quiet,
      backend: options.backend,
    });
  } catch (error) {
    model.dispose();
    throw error;
  }
}

function buildModel(cfg: Cfg, seed: number): TrainableModel {
  if (cfg['model'] === undefined) throw new Error('model: the config has no model section');
  const model = withSeededMathRandom(seed, () => MODELS.build<unknown>(cfg['model'], { path: 'model' }));
  if (!isTrainableModel(model)) {
    if (model instanceof Module) model.dispose();
    throw new Error(`model.type: '${String((cfg['model'] as Cfg)['type'])}' cannot be trained or evaluated by the runner (it has no computeLosses/testStep)`);
  }
  return model;
}

async function buildLoader(cfg: Cfg, key: string, seed: number, factory: DataLoaderFactory | undefined): Promise<DataLoaderLike> {
  const section = cfg[key] as Cfg | undefined;
  if (!section) throw new Error(`${key}: missing from the config`);
  if (!factory) throw new Error(`${key}: no dataloader factory was given to the runner (the tools pass @tsdet/data's buildDataLoader)`);
  return factory(section, { path: key, seed });
}

function checkpointChoice(cfg: Cfg, options: BuildRunnerOptions): { loadFrom: string | null; resume: boolean } {
  const configured = (cfg['load_from'] as string | null | undefined) ?? null;
  if (typeof options.resume === 'string') return { loadFrom: options.resume, resume: true };
  return { loadFrom: options.loadFrom ?? configured, resume: options.resume ?? ((cfg['resume'] as boolean | undefined) ?? false) };
}

async function buildTraining(cfg: Cfg, model: TrainableModel, build: (key: string) => Promise<DataLoaderLike>, forceAutoScale: boolean): Promise<NonNullable<ConstructorParameters<typeof Runner>[0]['train']>> {
  for (const key of ['train_cfg', 'optim_wrapper', 'train_dataloader']) if (cfg[key] === undefined) throw new Error(`${key}: training needs this section`);
  const dataloader = await build('train_dataloader');
  const optimWrapperCfg = cfg['optim_wrapper'] as OptimWrapperConfig;
  const clip = optimWrapperCfg.clip_grad;
  const normType = (clip?.norm_type as unknown) === 'inf' ? Number.POSITIVE_INFINITY : clip?.norm_type;
  const lrScale = autoScaleFactor(cfg, dataloader, forceAutoScale);
  const optimWrapper = buildOptimWrapper(model, { ...optimWrapperCfg, clip_grad: clip ? { ...clip, norm_type: normType } : clip }, lrScale);
  const schedulers = ((cfg['param_scheduler'] as unknown[] | undefined) ?? []).map((c, i) => PARAM_SCHEDULERS.build<ParamSchedulerFactory>(c, { path: `param_scheduler.${i}` }));
  return { dataloader, optimWrapper, loop: cfg['train_cfg'] as TrainLoopConfig, schedulers };
}

/** mmengine's auto_scale_lr: lr x (real batch size / base_batch_size) when enabled. */
function autoScaleFactor(cfg: Cfg, dataloader: DataLoaderLike, force: boolean): number {
  const auto = cfg['auto_scale_lr'] as { enable?: boolean; base_batch_size?: number } | undefined;
  if (!(force || auto?.enable)) return 1;
  if (!auto?.base_batch_size) throw new Error('auto_scale_lr.base_batch_size: needed to scale the lr (the batch size the lr was tuned for, e.g. 16 = 8 GPUs x 2 images)');
  const batchSize = dataloader.batchSize ?? ((cfg['train_dataloader'] as Cfg)['batch_size'] as number | undefined);
  if (!batchSize) throw new Error('auto_scale_lr: the train dataloader does not report its batch size (train_dataloader.batch_size)');
  return batchSize / auto.base_batch_size;
}

async function buildEvaluation(cfg: Cfg, mode: 'val' | 'test', build: (key: string) => Promise<DataLoaderLike>, required = false): Promise<{ dataloader: DataLoaderLike; evaluator: EvaluatorLike } | undefined> {
  const keys = [`${mode}_dataloader`, `${mode}_cfg`, `${mode}_evaluator`];
  const present = keys.filter((key) => cfg[key] !== undefined && cfg[key] !== null);
  if (present.length === 0 && !required) return undefined;
  if (present.length !== keys.length) {
    const missing = keys.filter((key) => !present.includes(key));
    throw new Error(`${missing.join(', ')}: ${mode === 'val' ? 'validation' : 'testing'} needs ${keys.join(', ')} together (${present.length ? `only ${present.join(', ')} set` : 'none set'})`);
  }
  const evaluator = METRICS.build<EvaluatorLike>(cfg[`${mode}_evaluator`], { path: `${mode}_evaluator` });
  return { dataloader: await build(`${mode}_dataloader`), evaluator };
}

function buildHooks(cfg: Cfg): Hook[] {
  const defaults = (cfg['default_hooks'] as Record<string, unknown> | undefined) ?? {};
  const hooks = Object.entries(defaults)
    .filter(([, hookCfg]) => hookCfg !== null && hookCfg !== undefined)
    .map(([key, hookCfg]) => HOOKS.build<Hook>(hookCfg, { path: `default_hooks.${key}` }));
  const custom = ((cfg['custom_hooks'] as unknown[] | undefined) ?? []).map((hookCfg, i) => HOOKS.build<Hook>(hookCfg, { path: `custom_hooks.${i}` }));
  return [...hooks, ...custom];
}
