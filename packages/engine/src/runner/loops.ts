/**
 * mmengine's loops. EpochBasedTrainLoop: max_epochs passes over the dataloader, validation
 * after epochs val_begin, val_begin + val_interval, ... and the last. IterBasedTrainLoop:
 * max_iters iterations cycling through the dataloader (setEpoch on every new pass), validation
 * every val_interval iterations. ValLoop / TestLoop: one pass in eval mode feeding the evaluator.
 *
 * Each train loop knows its position (epoch in progress, next batch), which checkpoints record,
 * so that a resumed run continues with the exact batch an uninterrupted one would have used.
 */
import type { Metrics } from '../hooks/hook.js';
import { isEvaluatorLike, prefixedMetrics, type DataLoaderLike, type EvaluatorLike } from './interfaces.js';
import type { Runner } from './runner.js';

export interface TrainLoopConfig {
  type?: 'EpochBasedTrainLoop' | 'IterBasedTrainLoop';
  max_epochs?: number;
  max_iters?: number;
  val_begin?: number;
  val_interval?: number;
}

export interface LoopPosition {
  /** Completed epochs (mmengine's meta.epoch; 0 for iteration-based loops). */
  completed_epochs: number;
  /** Completed iterations. */
  completed_iters: number;
  /** The epoch (dataloader pass) a resumed run starts in, and its first batch. */
  epoch_in_progress: number;
  next_batch: number;
}

export interface TrainLoop {
  readonly dataloader: DataLoaderLike;
  readonly maxEpochs: number | undefined;
  readonly maxIters: number;
  readonly valBegin: number;
  readonly valInterval: number;
  /** Runs to the end; returns the last validation metrics. */
  run(): Promise<Metrics | undefined>;
  position(): LoopPosition;
  /** Called once an iteration's update is done, before its after-iteration hooks... */
  markIterDone(batchIdx: number): void;
  /** ...and once the runner counted it. */
  clearIterDone(): void;
}

export class EpochBasedTrainLoop implements TrainLoop {
  readonly maxEpochs: number;
  readonly maxIters: number;
  readonly valBegin: number;
  readonly valInterval: number;
  #nextBatch = 0;
  #iterDone = false;
  #epochDone = false;

  constructor(
    readonly runner: Runner,
    readonly dataloader: DataLoaderLike,
    cfg: TrainLoopConfig,
  ) {
    if (cfg.max_epochs === undefined) throw new Error('train_cfg.max_epochs: an EpochBasedTrainLoop needs max_epochs');
    this.maxEpochs = cfg.max_epochs;
    this.maxIters = cfg.max_epochs * dataloader.length;
    this.valBegin = cfg.val_begin ?? 1;
    this.valInterval = cfg.val_interval ?? 1;
  }

  async run(): Promise<Metrics | undefined> {
    const runner = this.runner;
    runner.callHook('beforeTrain');
    let metrics: Metrics | undefined;
    while (runner.epoch < this.maxEpochs) {
      await this.#runEpoch();
      if (runner.shouldValidate(runner.epoch, runner.epoch === this.maxEpochs)) metrics = await runner.val();
    }
    runner.callHook('afterTrain');
    return metrics;
  }

  async #runEpoch(): Promise<void> {
    const runner = this.runner;
    runner.callHook('beforeTrainEpoch');
    runner.model.train();
    const start = runner.resumeBatch;
    runner.resumeBatch = 0;
    this.#nextBatch = start;
    let batchIdx = start;
    for await (const batch of this.dataloader.batches(start)) {
      if (batchIdx >= this.dataloader.length) throw new Error(`train_dataloader: yielded more batches than its length ${this.dataloader.length}`);
      runner.runTrainIter(batchIdx, batch);
      batchIdx += 1;
    }
    this.#epochDone = true;
    runner.callHook('afterTrainEpoch');
    runner.epoch += 1;
    this.#epochDone = false;
    this.#nextBatch = 0;
  }

  markIterDone(batchIdx: number): void {
    this.#nextBatch = batchIdx + 1;
    this.#iterDone = true;
  }

  clearIterDone(): void {
    this.#iterDone = false;
  }

  position(): LoopPosition {
    const { epoch, iter } = this.runner;
    const completedIters = iter + (this.#iterDone ? 1 : 0);
    if (this.#epochDone) return { completed_epochs: epoch + 1, completed_iters: completedIters, epoch_in_progress: epoch + 1, next_batch: 0 };
    return { completed_epochs: epoch, completed_iters: completedIters, epoch_in_progress: epoch, next_batch: this.#nextBatch };
  }
}

export class IterBasedTrainLoop implements TrainLoop {
  readonly maxEpochs = undefined;
  readonly maxIters: number;
  readonly valBegin: number;
  readonly valInterval: number;
  /** The dataloader pass in progress (mmengine's infinite iterator epoch). */
  #pass = 0;
  #nextBatch = 0;
  #iterDone = false;

  constructor(
    readonly runner: Runner,
    readonly dataloader: DataLoaderLike,
    cfg: TrainLoopConfig,
  ) {
    if (cfg.max_iters === undefined) throw new Error('train_cfg.max_iters: an IterBasedTrainLoop needs max_iters');
    this.maxIters = cfg.max_iters;
    this.valBegin = cfg.val_begin ?? 1;
    this.valInterval = cfg.val_interval ?? 1000;
  }

  async run(): Promise<Metrics | undefined> {
    const runner = this.runner;
    // A resumed run continues in the pass it stopped in (runner.epoch holds it until here).
    this.#pass = runner.epoch;
    runner.epoch = 0;
    runner.callHook('beforeTrain');
    runner.callHook('beforeTrainEpoch');
    runner.model.train();
    let metrics: Metrics | undefined;
    while (runner.iter < this.maxIters) {
      metrics = (await this.#runPass()) ?? metrics;
    }
    runner.callHook('afterTrainEpoch');
    runner.callHook('afterTrain');
    return metrics;
  }

  /** Iterates one dataloader pass (or what is left of it), validating when due. */
  async #runPass(): Promise<Metrics | undefined> {
    const runner = this.runner;
    this.dataloader.setEpoch(this.#pass);
    const start = runner.resumeBatch;
    runner.resumeBatch = 0;
    this.#nextBatch = start;
    let metrics: Metrics | undefined;
    for await (const batch of this.dataloader.batches(start)) {
      // mmengine passes the global iteration as batch_idx in iteration-based training.
      runner.runTrainIter(runner.iter, batch);
      if (runner.shouldValidate(runner.iter, runner.iter === this.maxIters)) {
        metrics = await runner.val();
        runner.model.train();
      }
      if (runner.iter >= this.maxIters) return metrics;
    }
    this.#pass += 1;
    this.#nextBatch = 0;
    return metrics;
  }

  markIterDone(): void {
    this.#nextBatch += 1;
    this.#iterDone = true;
  }

  clearIterDone(): void {
    this.#iterDone = false;
  }

  position(): LoopPosition {
    const completedIters = this.runner.iter + (this.#iterDone ? 1 : 0);
    const passDone = this.#nextBatch >= this.dataloader.length;
    return { completed_epochs: 0, completed_iters: completedIters, epoch_in_progress: passDone ? this.#pass + 1 : this.#pass, next_batch: passDone ? 0 : this.#nextBatch };
  }
}

/**
 * What makes predictions in a val/test pass: the runner's model, or another engine running the
 * same detector (an ONNX Runtime session, which is asynchronous).
 */
export interface Predictor {
  testStep(batch: unknown): readonly unknown[] | Promise<readonly unknown[]>;
}

/** One pass of a val/test dataloader through the predictor's testStep into the evaluator. */
async function evaluationPass(runner: Runner, mode: 'val' | 'test', dataloader: DataLoaderLike, evaluator: EvaluatorLike, predictor: Predictor = runner.model): Promise<Metrics> {
  if (!isEvaluatorLike(evaluator)) throw new Error(`${mode}_evaluator: the METRICS component has no process(batch, predictions) / evaluate() (it cannot accumulate over a dataloader)`);
  const capital = mode === 'val' ? 'Val' : 'Test';
  runner.messageHub.clearScalars(mode);
  runner.callHook(`before${capital}Epoch`);
  const wasTraining = runner.model.training;
  runner.model.eval();
  runner.evalDataset = dataloader.dataset;
  try {
    let batchIdx = 0;
    for await (const batch of dataloader.batches(0)) {
      runner.callHook(`before${capital}Iter`, batchIdx, batch);
      const predictions = await predictor.testStep(batch);
      evaluator.process(batch, predictions);
      runner.callHook(`after${capital}Iter`, batchIdx, batch, predictions);
      batchIdx += 1;
    }
    await runner.flushHooks();
    const metrics = prefixedMetrics(await evaluator.evaluate(dataloader.dataset.length), evaluator.prefix);
    runner.callHook(`after${capital}Epoch`, metrics);
    return metrics;
  } finally {
    runner.evalDataset = undefined;
    if (wasTraining) runner.model.train();
  }
}

export class ValLoop {
  constructor(
    readonly runner: Runner,
    readonly dataloader: DataLoaderLike,
    readonly evaluator: EvaluatorLike,
  ) {}

  run(): Promise<Metrics> {
    return evaluationPass(this.runner, 'val', this.dataloader, this.evaluator);
  }
}

export class TestLoop {
  constructor(
    readonly runner: Runner,
    readonly dataloader: DataLoaderLike,
    readonly evaluator: EvaluatorLike,
    readonly predictor?: Predictor,
  ) {}

  run(): Promise<Metrics> {
    return evaluationPass(this.runner, 'test', this.dataloader, this.evaluator, this.predictor);
  }
}
