/**
 * mmengine's LoggerHook: every `interval` iterations a log line (LogProcessor) to the console and
 * the run's .log file, and its tag to vis_data/scalars.json; after each validation / test pass
 * the metrics. On a terminal a progress bar follows every iteration.
 */
import type { Runner } from '../runner/runner.js';
import type { LogPosition } from '../logging/log-processor.js';
import { residentMemoryMB } from '../logging/memory.js';
import { skippedTotal } from '../runner/interfaces.js';
import { PRIORITY, type Hook, type Metrics, type Mode } from './hook.js';

export interface LoggerHookConfig {
  interval: number;
  ignore_last: boolean;
  log_metric_by_epoch: boolean;
  priority?: number;
}

export class LoggerHook implements Hook {
  readonly name = 'LoggerHook';
  priority: number;

  constructor(readonly cfg: LoggerHookConfig) {
    this.priority = cfg.priority ?? PRIORITY.BELOW_NORMAL;
  }

  afterTrainIter(runner: Runner, batchIdx: number): void {
    const loop = runner.trainLoop!;
    const byEpoch = loop.maxEpochs !== undefined;
    const length = loop.dataloader.length;
    if (byEpoch) runner.logger.progress(`epoch ${runner.epoch + 1}/${loop.maxEpochs}`, batchIdx + 1, length);
    else runner.logger.progress('train', runner.iter + 1, loop.maxIters);
    if (!this.#dueAfterTrainIter(runner, batchIdx, byEpoch, length)) return;
    const { tag, line } = runner.logProcessor.afterIter(runner.messageHub, this.#position(runner, 'train', batchIdx, length), {
      eta: runner.messageHub.getInfo<number>('eta'),
      memoryMB: residentMemoryMB(),
    });
    const skipped = skippedTotal(runner.trainDataloader);
    const text = skipped ? `${line}  skipped: ${skipped}` : line;
    if (skipped) tag['skipped'] = skipped;
    runner.logger.info(text);
    runner.visBackend.addScalars(tag, runner.iter + 1);
  }

  #dueAfterTrainIter(runner: Runner, batchIdx: number, byEpoch: boolean, length: number): boolean {
    const { interval, ignore_last } = this.cfg;
    if (!byEpoch) return (runner.iter + 1) % interval === 0 || runner.iter + 1 === runner.maxIters;
    if ((batchIdx + 1) % interval === 0) return true;
    return batchIdx + 1 === length && (!ignore_last || length <= interval);
  }

  afterValIter(runner: Runner, batchIdx: number): void {
    this.#afterEvalIter(runner, 'val', batchIdx, runner.valDataloader?.length ?? 0);
  }

  afterTestIter(runner: Runner, batchIdx: number): void {
    this.#afterEvalIter(runner, 'test', batchIdx, runner.testDataloader?.length ?? 0);
  }

  #afterEvalIter(runner: Runner, mode: Mode, batchIdx: number, length: number): void {
    runner.logger.progress(mode, batchIdx + 1, length);
    if ((batchIdx + 1) % this.cfg.interval !== 0) return;
    const { line } = runner.logProcessor.afterIter(runner.messageHub, this.#position(runner, mode, batchIdx, length), { memoryMB: residentMemoryMB() });
    runner.logger.info(line);
  }

  afterValEpoch(runner: Runner, metrics: Metrics): void {
    runner.logger.endProgress();
    const length = runner.valDataloader?.length ?? 0;
    const { tag, line } = runner.logProcessor.afterEpoch(runner.messageHub, this.#position(runner, 'val', length - 1, length), metrics);
    runner.logger.info(line);
    const byEpoch = runner.trainLoop?.maxEpochs !== undefined && this.cfg.log_metric_by_epoch;
    runner.visBackend.addScalars(tag, byEpoch ? runner.epoch : runner.iter);
  }

  afterTestEpoch(runner: Runner, metrics: Metrics): void {
    runner.logger.endProgress();
    const length = runner.testDataloader?.length ?? 0;
    const { tag, line } = runner.logProcessor.afterEpoch(runner.messageHub, this.#position(runner, 'test', length - 1, length), metrics);
    runner.logger.info(line);
    runner.visBackend.addScalars(tag, runner.iter);
  }

  afterTrainEpoch(runner: Runner): void {
    runner.logger.endProgress();
  }

  #position(runner: Runner, mode: Mode, batchIdx: number, length: number): LogPosition {
    // During validation the train epoch has already been counted (mmengine logs Epoch(val) [n]).
    const epoch = mode === 'train' ? runner.epoch + 1 : runner.epoch;
    return { mode, batchIdx, dataloaderLength: length, epoch, maxEpochs: runner.maxEpochs, iter: runner.iter, maxIters: runner.maxIters };
  }
}
