/**
 * The small default hooks: IterTimerHook (time, data_time, ETA), ParamSchedulerHook (steps the
 * schedulers), DistSamplerSeedHook (tells the train dataloader which epoch it is) and
 * RuntimeInfoHook (accepted for mmengine configs; the runner records lr and losses itself).
 */
import type { Runner } from '../runner/runner.js';
import { PRIORITY, type Hook, type Mode } from './hook.js';

export class IterTimerHook implements Hook {
  readonly name = 'IterTimerHook';
  #last = 0;
  #timeSum = 0;
  #startIter = 0;

  constructor(public priority: number = PRIORITY.NORMAL) {}

  beforeTrain(runner: Runner): void {
    this.#timeSum = 0;
    this.#startIter = runner.iter;
  }

  beforeTrainEpoch(): void {
    this.#last = performance.now();
  }

  beforeValEpoch(): void {
    this.#last = performance.now();
  }

  beforeTestEpoch(): void {
    this.#last = performance.now();
  }

  beforeTrainIter(runner: Runner): void {
    this.#beforeIter(runner, 'train');
  }

  beforeValIter(runner: Runner): void {
    this.#beforeIter(runner, 'val');
  }

  beforeTestIter(runner: Runner): void {
    this.#beforeIter(runner, 'test');
  }

  afterTrainIter(runner: Runner): void {
    const seconds = this.#afterIter(runner, 'train');
    // mmengine: eta = mean time per iteration since the run (or resume) started x iterations left.
    this.#timeSum += seconds;
    const mean = this.#timeSum / (runner.iter - this.#startIter + 1);
    runner.messageHub.updateInfo('eta', mean * (runner.maxIters - runner.iter - 1));
  }

  afterValIter(runner: Runner): void {
    this.#afterIter(runner, 'val');
  }

  afterTestIter(runner: Runner): void {
    this.#afterIter(runner, 'test');
  }

  #beforeIter(runner: Runner, mode: Mode): void {
    runner.messageHub.updateScalar(`${mode}/data_time`, (performance.now() - this.#last) / 1000);
  }

  #afterIter(runner: Runner, mode: Mode): number {
    const now = performance.now();
    const seconds = (now - this.#last) / 1000;
    runner.messageHub.updateScalar(`${mode}/time`, seconds);
    this.#last = now;
    return seconds;
  }
}

export class ParamSchedulerHook implements Hook {
  readonly name = 'ParamSchedulerHook';

  constructor(public priority: number = PRIORITY.LOW) {}

  afterTrainIter(runner: Runner): void {
    for (const scheduler of runner.schedulers) if (!scheduler.byEpoch) scheduler.step();
  }

  afterTrainEpoch(runner: Runner): void {
    for (const scheduler of runner.schedulers) if (scheduler.byEpoch) scheduler.step();
  }
}

export class DistSamplerSeedHook implements Hook {
  readonly name = 'DistSamplerSeedHook';

  constructor(public priority: number = PRIORITY.NORMAL) {}

  beforeTrainEpoch(runner: Runner): void {
    // Iteration-based loops set the pass themselves; runner.epoch is the epoch about to run.
    if (runner.trainLoop?.maxEpochs !== undefined) runner.trainDataloader?.setEpoch(runner.epoch);
  }
}

export class RuntimeInfoHook implements Hook {
  readonly name = 'RuntimeInfoHook';

  constructor(public priority: number = PRIORITY.VERY_HIGH) {}
}
