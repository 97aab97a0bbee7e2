/**
 * mmengine's Runner: owns the model, optimiser, schedulers, dataloaders, hooks and logs of one
 * run; trains (epoch- or iteration-based), validates and tests; saves and resumes checkpoints.
 * Runner.fromConfig (build-runner.ts) builds one from a config; tests build one from parts.
 */
import * as tf from '@tensorflow/tfjs-core';
import fs from 'node:fs';
import path from 'node:path';
import { globalRandom, loadCheckpoint, loadStateDict, stateDictOf, writeFileAtomic, type TrainableModel } from '@tsdet/core';
import { writeTorchFile } from '../checkpoint/torch-zip.js';
import { sortHooks, type Hook, type Metrics } from '../hooks/hook.js';
import { timestampOf } from '../logging/format.js';
import { LogProcessor } from '../logging/log-processor.js';
import { MessageHub } from '../logging/message-hub.js';
import { RunLogger, type LogLevel } from '../logging/run-logger.js';
import { LocalVisBackend } from '../logging/vis-backend.js';
import { NonFiniteLossError, type OptimWrapper, type TrainStepOutputs } from '../optim/optim-wrapper.js';
import type { ParamSchedulerFactory } from '../schedulers/descriptors.js';
import type { ParamScheduler } from '../schedulers/param-scheduler.js';
import { checkpointToPickle, readTrainingCheckpoint, type CheckpointMeta, type CheckpointObject } from './checkpoint-state.js';
import { imageIdsOf, type DataLoaderLike, type EvaluatorLike } from './interfaces.js';
import { EpochBasedTrainLoop, IterBasedTrainLoop, TestLoop, ValLoop, type Predictor, type TrainLoop, type TrainLoopConfig } from './loops.js';
import { TSDET_VERSION } from './version.js';

export interface RunnerParts {
  model: TrainableModel;
  workDir: string;
  seed: number;
  /** Saved in checkpoints (meta.cfg) and in vis_data/config.json. */
  config?: unknown;
  experimentName?: string;
  train?: {
    dataloader: DataLoaderLike;
    optimWrapper: OptimWrapper;
    loop: TrainLoopConfig;
    schedulers?: readonly ParamSchedulerFactory[];
  };
  val?: { dataloader: DataLoaderLike; evaluator: EvaluatorLike };
  test?: { dataloader: DataLoaderLike; evaluator: EvaluatorLike };
  hooks?: readonly Hook[];
  logProcessor?: LogProcessor;
  /** A checkpoint to start from: resumed (all state) when `resume`, else weights only. */
  loadFrom?: string | null;
  /** Resume from loadFrom, or (true without loadFrom) from work_dir/last_checkpoint if there is one. */
  resume?: boolean;
  logLevel?: LogLevel;
  /** No console output (the .log file is still written). */
  quiet?: boolean;
  /** Backend name recorded in checkpoints. */
  backend?: string;
}

export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';
}

/** A training step that ran the compute backend out of memory (on wasm: its 4 GB heap). */
export class TrainingOutOfMemoryError extends Error {
  override name = 'TrainingOutOfMemoryError';
}

/**
 * How the wasm module reports running out of its heap: emscripten's abort, or XNNPACK reading
 * through a failed allocation; V8 when a typed array cannot be allocated.
 */
function isOutOfMemory(error: unknown): boolean {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return /Aborted\(|memory access out of bounds|out of memory|\bOOM\b|Array buffer allocation failed/i.test(message);
}

export class Runner {
  readonly model: TrainableModel;
  readonly workDir: string;
  readonly timestamp: string;
  readonly logDir: string;
  /** The dataset of the validation / test pass in progress (hooks read its class names). */
  evalDataset: DataLoaderLike['dataset'] | undefined;
  readonly experimentName: string;
  readonly messageHub = new MessageHub();
  readonly logger: RunLogger;
  readonly visBackend: LocalVisBackend;
  readonly logProcessor: LogProcessor;
  hooks: Hook[];
  seed: number;
  /** Completed epochs (during an epoch: its 0-based index). */
  epoch = 0;
  /** Completed iterations (during an iteration: its 0-based index). */
  iter = 0;
  /** The batch of the current epoch the train loop starts from (non-zero only when resuming mid-epoch). */
  resumeBatch = 0;
  schedulers: ParamScheduler[] = [];
  readonly #parts: RunnerParts;
  #trainLoop: TrainLoop | undefined;

  constructor(parts: RunnerParts) {
    this.#parts = parts;
    this.model = parts.model;
    this.workDir = path.resolve(parts.workDir);
    this.timestamp = timestampOf(new Date());
    this.logDir = path.join(this.workDir, this.timestamp);
    this.experimentName = parts.experimentName ?? this.timestamp;
    this.seed = parts.seed;
    this.logger = new RunLogger({ file: path.join(this.logDir, `${this.timestamp}.log`), level: parts.logLevel, quiet: parts.quiet });
    this.visBackend = new LocalVisBackend(this.logDir, this.timestamp);
    this.logProcessor = parts.logProcessor ?? new LogProcessor();
    this.hooks = sortHooks(parts.hooks ?? []);
    if (parts.config !== undefined) this.visBackend.addConfig(parts.config);
  }

  get trainDataloader(): DataLoaderLike | undefined {
    return this.#parts.train?.dataloader;
  }

  get valDataloader(): DataLoaderLike | undefined {
    return this.#parts.val?.dataloader;
  }

  get testDataloader(): DataLoaderLike | undefined {
    return this.#parts.test?.dataloader;
  }

  get optimWrapper(): OptimWrapper | undefined {
    return this.#parts.train?.optimWrapper;
  }

  get trainLoop(): TrainLoop | undefined {
    return this.#trainLoop;
  }

  get maxEpochs(): number | undefined {
    return this.#trainLoop?.maxEpochs;
  }

  get maxIters(): number {
    return this.#trainLoop?.maxIters ?? 0;
  }

  /** Adds a hook in priority order (mmengine's register_hook). */
  registerHook(hook: Hook): void {
    this.hooks = sortHooks([...this.hooks, hook]);
  }

  /** Awaits every hook's asynchronous work (pictures being written). */
  async flushHooks(): Promise<void> {
    await Promise.all(this.hooks.map((hook) => hook.flush?.()));
  }

  callHook<K extends keyof Hook>(name: K, ...args: unknown[]): void {
    for (const hook of this.hooks) {
      const method = hook[name] as ((runner: Runner, ...rest: unknown[]) => void) | undefined;
      method?.call(hook, this, ...args);
    }
  }

  /** Trains as configured, validating on the way; returns the last validation metrics, if any. */
  async train(): Promise<Metrics | undefined> {
    const train = this.#parts.train;
    if (!train) throw new Error('Runner.train: no training setup (train_dataloader, train_cfg and optim_wrapper are needed)');
    this.#trainLoop = this.#buildTrainLoop(train.loop, train.dataloader);
    this.schedulers = (train.schedulers ?? []).map((factory) => this.#createScheduler(factory, train.optimWrapper));
    globalRandom().seed(this.seed);
    this.#logRunStart();
    this.#loadOrResume();
    train.optimWrapper.initializeCountStatus(this.iter, this.maxIters);
    this.callHook('beforeRun');
    try {
      return await this.#trainLoop.run();
    } catch (error) {
      this.logger.error(error instanceof Error ? error.message : String(error));
      throw error;
    } finally {
      this.logger.endProgress();
      this.callHook('afterRun');
    }
  }

  /** Runs the validation loop once; returns its metrics. */
  async val(): Promise<Metrics> {
    const val = this.#parts.val;
    if (!val) throw new Error('Runner.val: no validation setup (val_dataloader, val_cfg and val_evaluator are needed)');
    return new ValLoop(this, val.dataloader, val.evaluator).run();
  }

  /**
   * Loads load_from (weights) if set, then runs the test loop once; returns its metrics. With a
   * `predictor` (e.g. the same detector exported to ONNX) that makes the predictions instead of
   * the runner's model, and no weights are loaded.
   */
  async test(predictor?: Predictor): Promise<Metrics> {
    const test = this.#parts.test;
    if (!test) throw new Error('Runner.test: no test setup (test_dataloader, test_cfg and test_evaluator are needed)');
    if (this.#parts.loadFrom && !predictor) this.loadWeights(this.#parts.loadFrom);
    return new TestLoop(this, test.dataloader, test.evaluator, predictor).run();
  }

  #buildTrainLoop(cfg: TrainLoopConfig, dataloader: DataLoaderLike): TrainLoop {
    if (dataloader.length <= 0) throw new Error(`train_dataloader: the dataloader yields no batches (dataset of ${dataloader.dataset.length} samples)`);
    return cfg.type === 'IterBasedTrainLoop' ? new IterBasedTrainLoop(this, dataloader, cfg) : new EpochBasedTrainLoop(this, dataloader, cfg);
  }

  #createScheduler(factory: ParamSchedulerFactory, optimWrapper: OptimWrapper): ParamScheduler {
    const loop = this.#trainLoop!;
    const scheduler = factory.create(optimWrapper.optimizer.paramGroups, { epochLength: loop.dataloader.length, maxEpochs: loop.maxEpochs, maxIters: loop.maxIters });
    if (scheduler.byEpoch && loop.maxEpochs === undefined) {
      throw new Error(`param_scheduler ${factory.type}: an epoch-based schedule never steps in an IterBasedTrainLoop; set by_epoch false or convert_to_iter_based true`);
    }
    return scheduler;
  }

  /** One training iteration: hooks, losses, gradients, update, logs. */
  runTrainIter(batchIdx: number, batch: unknown): void {
    const optimWrapper = this.optimWrapper!;
    this.messageHub.updateScalar('train/lr', optimWrapper.getLr()[0]!);
    this.callHook('beforeTrainIter', batchIdx, batch);
    const outputs = this.#updateParams(optimWrapper, batchIdx, batch);
    if (outputs.gradNorm !== undefined) this.messageHub.updateScalar('train/grad_norm', outputs.gradNorm);
    for (const [key, value] of Object.entries(outputs.logVars)) this.messageHub.updateScalar(`train/${key}`, value);
    this.#trainLoop!.markIterDone(batchIdx);
    this.callHook('afterTrainIter', batchIdx, batch, outputs);
    this.iter += 1;
    this.#trainLoop!.clearIterDone();
  }

  #updateParams(optimWrapper: OptimWrapper, batchIdx: number, batch: unknown): TrainStepOutputs {
    try {
      return optimWrapper.updateParams(batch);
    } catch (error) {
      if (error instanceof NonFiniteLossError) throw this.#divergedError(error, batchIdx, batch);
      if (isOutOfMemory(error)) throw this.#outOfMemoryError(error, batch);
      throw error;
    }
  }

  #divergedError(error: NonFiniteLossError, batchIdx: number, batch: unknown): TrainingDivergedError {
    const ids = imageIdsOf(batch);
    const loop = this.#trainLoop!;
    const where = loop.maxEpochs !== undefined ? `iteration ${this.iter + 1} (epoch ${this.epoch + 1}, batch ${batchIdx + 1} of ${loop.dataloader.length})` : `iteration ${this.iter + 1}`;
    const last = this.lastCheckpoint();
    return new TrainingDivergedError(
      [
        `${error.message} at ${where}; images in the batch: ${ids.length ? ids.join(', ') : 'unknown (the batch has no img_id/img_path metainfo)'}.`,
        `Training stopped before the update, so no parameter is NaN; the last checkpoint is ${last ?? 'none (none was saved yet)'}.`,
        'Usual causes: an lr too high for the batch size (auto_scale_lr), too short a warm-up, no gradient clipping (optim_wrapper.clip_grad), or degenerate boxes in these images.',
      ].join('\n'),
      { cause: error },
    );
  }

  #outOfMemoryError(error: unknown, batch: unknown): TrainingOutOfMemoryError {
    const ids = imageIdsOf(batch);
    const backend = this.#parts.backend ?? tf.getBackend();
    const heap = backend === 'wasm' ? ' (the wasm backend has a 4 GB heap, and a module that ran out of it cannot continue)' : '';
    return new TrainingOutOfMemoryError(
      [
        `the training step at iteration ${this.iter + 1} ran out of memory on ${backend}${heap}; images in the batch: ${ids.length ? ids.join(', ') : 'unknown'}.`,
        `The last checkpoint is ${this.lastCheckpoint() ?? 'none (none was saved yet)'}; nothing was written for this step.`,
        'Lower the training scale (the Resize scale in train_pipeline) or train_dataloader.batch_size, or set model.backbone.with_cp=true; `npm run bench -- --max-side` finds the largest input that fits (docs/performance.md).',
      ].join('\n'),
      { cause: error },
    );
  }

  /** The path `work_dir/last_checkpoint` names, if the file exists. */
  lastCheckpoint(): string | undefined {
    const file = path.join(this.workDir, 'last_checkpoint');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : undefined;
  }

  /** The checkpoint of the current state; `withTrainingState` adds optimiser and scheduler state. */
  checkpointObject(options: { saveOptimizer?: boolean; saveParamScheduler?: boolean } = {}): CheckpointObject {
    const position = this.#trainLoop?.position() ?? { completed_epochs: this.epoch, completed_iters: this.iter, epoch_in_progress: this.epoch, next_batch: 0 };
    const meta: CheckpointMeta = {
      tsdet_version: TSDET_VERSION,
      time: new Date().toISOString(),
      epoch: position.completed_epochs,
      iter: position.completed_iters,
      seed: this.seed,
      experiment_name: this.experimentName,
      cfg: JSON.stringify(this.#parts.config ?? null),
      dataset_meta: this.trainDataloader?.dataset.metainfo?.classes ? { classes: [...this.trainDataloader.dataset.metainfo.classes] } : null,
      rng: { global_random: globalRandom().getState() },
      loop: { epoch_in_progress: position.epoch_in_progress, next_batch: position.next_batch },
      backend: this.#parts.backend ?? tf.getBackend(),
    };
    const checkpoint: CheckpointObject = { meta, state_dict: stateDictOf(this.model), message_hub: this.messageHub.stateDict() };
    if (options.saveOptimizer !== false && this.optimWrapper) checkpoint.optimizer = this.optimWrapper.optimizer.stateDict();
    if (options.saveParamScheduler !== false && this.schedulers.length) checkpoint.param_schedulers = this.schedulers.map((s) => s.stateDict());
    return checkpoint;
  }

  /** Saves a checkpoint atomically into `dir` (default work_dir); returns its path. */
  saveCheckpoint(filename: string, options: { dir?: string; saveOptimizer?: boolean; saveParamScheduler?: boolean } = {}): string {
    const file = path.join(options.dir ?? this.workDir, filename);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const checkpoint = this.checkpointObject(options);
    this.callHook('beforeSaveCheckpoint', checkpoint);
    writeTorchFile(file, checkpointToPickle(checkpoint));
    return file;
  }

  /** Records `file` in work_dir/last_checkpoint (atomically), as resume looks for it. */
  markLastCheckpoint(file: string): void {
    writeFileAtomic(path.join(this.workDir, 'last_checkpoint'), path.resolve(file));
  }

  #loadOrResume(): void {
    const { loadFrom, resume } = this.#parts;
    if (resume) {
      const file = loadFrom ?? this.lastCheckpoint();
      if (!file) {
        this.logger.info(`resume: no checkpoint in ${this.workDir} (no last_checkpoint file), training from scratch`);
        return;
      }
      this.resumeFrom(file);
      return;
    }
    if (loadFrom) this.loadWeights(loadFrom);
  }

  /** load_from: the model's weights only (non-strict, as mmengine; mismatches are logged). */
  loadWeights(file: string): void {
    const { stateDict } = loadCheckpoint(file);
    const report = loadStateDict(this.model, stateDict, { strict: false, source: file });
    this.logger.info(`load_from ${file}: loaded ${report.loaded.length} tensors${report.missing.length ? `, ${report.missing.length} missing` : ''}${report.unexpected.length ? `, ${report.unexpected.length} unexpected` : ''}`);
  }

  /** Restores every piece of training state from a tsdet checkpoint. */
  resumeFrom(file: string): void {
    const checkpoint = readTrainingCheckpoint(file);
    loadStateDict(this.model, checkpoint.state_dict, { strict: true, source: file });
    this.#resumeOptimizer(checkpoint, file);
    this.#resumeSchedulers(checkpoint, file);
    this.messageHub.loadStateDict(checkpoint.message_hub);
    this.#resumeCounters(checkpoint.meta, file);
    this.callHook('afterLoadCheckpoint', checkpoint);
    this.logger.info(`resumed from ${file}: epoch ${this.epoch}, iter ${this.iter}${this.resumeBatch ? `, batch ${this.resumeBatch} of epoch ${this.epoch + 1}` : ''}`);
  }

  #resumeOptimizer(checkpoint: CheckpointObject, file: string): void {
    if (!this.optimWrapper) return;
    if (!checkpoint.optimizer) throw new Error(`resume: ${file} has no optimizer state (it was saved with save_optimizer false); use load_from to start from its weights`);
    this.optimWrapper.optimizer.loadStateDict(checkpoint.optimizer, file);
  }

  #resumeSchedulers(checkpoint: CheckpointObject, file: string): void {
    if (!this.schedulers.length) return;
    const saved = checkpoint.param_schedulers;
    if (!saved) throw new Error(`resume: ${file} has no param_schedulers state (saved with save_param_scheduler false)`);
    if (saved.length !== this.schedulers.length) throw new Error(`resume: ${file} has ${saved.length} param schedulers, the config builds ${this.schedulers.length}`);
    saved.forEach((state, i) => this.schedulers[i]!.loadStateDict(state, file));
  }

  #resumeCounters(meta: CheckpointMeta, file: string): void {
    if (meta.seed !== this.seed) {
      this.logger.warning(`resume: the checkpoint was trained with seed ${meta.seed}, the config says ${this.seed}; continuing with ${meta.seed}`);
      this.seed = meta.seed;
    }
    globalRandom().setState(Number(meta.rng.global_random));
    this.iter = meta.iter;
    this.epoch = meta.loop?.epoch_in_progress ?? meta.epoch;
    this.resumeBatch = meta.loop?.next_batch ?? 0;
    const classes = this.trainDataloader?.dataset.metainfo?.classes;
    const saved = meta.dataset_meta?.classes;
    if (classes && saved && saved.join('\u0000') !== classes.join('\u0000')) {
      this.logger.warning(`resume: ${file} was trained on classes [${saved.slice(0, 5).join(', ')}...], the dataset now has [${classes.slice(0, 5).join(', ')}...]`);
    }
  }

  #logRunStart(): void {
    this.logger.info(`tsdet ${TSDET_VERSION}, backend ${this.#parts.backend ?? tf.getBackend()}, node ${process.version}`);
    this.logger.info(`seed: ${this.seed}`);
    this.logger.info(`work_dir: ${this.workDir}`);
  }

  /** Validation due after the (just finished) epoch or iteration `count`? */
  shouldValidate(count: number, isLast: boolean): boolean {
    const loop = this.#trainLoop;
    if (!loop || !this.#parts.val) return false;
    return count >= loop.valBegin && (count % loop.valInterval === 0 || isLast);
  }

  /** Runs validation during training. */
  async validateDuringTraining(): Promise<Metrics | undefined> {
    return this.#parts.val ? this.val() : undefined;
  }
}
