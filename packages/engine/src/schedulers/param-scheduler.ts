/**
 * mmengine's learning-rate schedulers (mmengine/optim/scheduler), chainable form: each step
 * multiplies (or moves) the current lr of every parameter group, so several schedulers compose
 * (mmdet's LinearLR warm-up by iteration together with MultiStepLR by epoch).
 *
 * A scheduler counts every `step()` (global step) but only acts, and advances its own
 * `last_step`, while begin <= global step < end. The constructor takes the first step (step 0),
 * so the first iteration already trains with the scheduled value. `initial_lr` is recorded on
 * each group by the first scheduler built.
 */
import type { ParamGroup } from '../optim/sgd.js';

/** mmengine's INF: the `end` of a scheduler that never stops. */
export const INF = 1_000_000_000;

export interface SchedulerRange {
  begin: number;
  end: number;
  by_epoch: boolean;
  /** mmengine: the index of the last step, for resuming without a state dict (-1: fresh). */
  last_step: number;
}

/** What a checkpoint keeps of a scheduler (its config comes from the config on resume). */
export interface SchedulerState {
  type: string;
  last_step: number;
  global_step: number;
  base_values: number[];
  last_value: number[];
}

export class SchedulerError extends Error {
  override name = 'SchedulerError';
}

export abstract class ParamScheduler {
  abstract readonly type: string;
  readonly begin: number;
  readonly end: number;
  readonly byEpoch: boolean;
  lastStep: number;
  globalStep = -1;
  baseValues: number[];
  lastValue: number[] = [];

  constructor(
    readonly groups: ParamGroup[],
    range: SchedulerRange,
  ) {
    if (range.end <= range.begin) throw new SchedulerError(`end must be larger than begin, got begin=${range.begin}, end=${range.end}`);
    this.begin = range.begin;
    this.end = range.end;
    this.byEpoch = range.by_epoch;
    this.lastStep = range.last_step;
    if (range.last_step === -1) {
      for (const group of groups) group.initial_lr ??= group.lr;
    } else if (groups.some((g) => g.initial_lr === undefined)) {
      throw new SchedulerError('last_step is set but the parameter groups have no initial_lr (resume from a checkpoint instead)');
    }
    this.baseValues = groups.map((g) => g.initial_lr!);
  }

  /** Takes step 0; subclasses call it at the end of their constructor (their fields are set by then). */
  protected initialStep(): void {
    this.step();
  }

  /** Advances one epoch or iteration (whichever this scheduler counts). */
  step(): void {
    this.globalStep += 1;
    if (this.begin <= this.globalStep && this.globalStep < this.end) {
      this.lastStep += 1;
      this.getValue().forEach((value, i) => (this.groups[i]!.lr = value));
    }
    this.lastValue = this.groups.map((g) => g.lr);
  }

  /** The new lr of every group, computed from the current ones (chainable form). */
  protected abstract getValue(): number[];

  protected current(): number[] {
    return this.groups.map((g) => g.lr);
  }

  stateDict(): SchedulerState {
    return { type: this.type, last_step: this.lastStep, global_step: this.globalStep, base_values: [...this.baseValues], last_value: [...this.lastValue] };
  }

  loadStateDict(state: SchedulerState, source = 'the checkpoint'): void {
    if (state.type !== this.type) throw new SchedulerError(`param scheduler state in ${source} is a ${state.type}, the config builds a ${this.type} here`);
    if (state.base_values.length !== this.groups.length) throw new SchedulerError(`param scheduler state in ${source} has ${state.base_values.length} parameter groups, the optimizer has ${this.groups.length}`);
    this.lastStep = state.last_step;
    this.globalStep = state.global_step;
    this.baseValues = [...state.base_values];
    this.lastValue = [...state.last_value];
  }
}

export class LinearLR extends ParamScheduler {
  readonly type = 'LinearLR';
  readonly totalIters: number;

  constructor(
    groups: ParamGroup[],
    range: SchedulerRange,
    readonly startFactor: number,
    readonly endFactor: number,
  ) {
    super(groups, range);
    if (startFactor < 0 || startFactor > 1) throw new SchedulerError(`start_factor must be in [0, 1], got ${startFactor}`);
    if (endFactor < 0 || endFactor > 1) throw new SchedulerError(`end_factor must be in [0, 1], got ${endFactor}`);
    this.totalIters = range.end - range.begin - 1;
    this.initialStep();
  }

  protected getValue(): number[] {
    if (this.lastStep === 0) return this.current().map((lr) => lr * this.startFactor);
    const delta = this.endFactor - this.startFactor;
    return this.current().map((lr) => lr * (1 + delta / (this.totalIters * this.startFactor + (this.lastStep - 1) * delta)));
  }
}

export class ConstantLR extends ParamScheduler {
  readonly type = 'ConstantLR';
  readonly totalIters: number;

  constructor(
    groups: ParamGroup[],
    range: SchedulerRange,
    readonly factor: number,
  ) {
    super(groups, range);
    if (factor < 0 || factor > 1) throw new SchedulerError(`factor must be in [0, 1], got ${factor}`);
    this.totalIters = range.end - range.begin - 1;
    this.initialStep();
  }

  protected getValue(): number[] {
    if (this.lastStep === 0) return this.current().map((lr) => lr * this.factor);
    if (this.lastStep === this.totalIters) return this.current().map((lr) => lr * (1 / this.factor));
    return this.current();
  }
}

export class MultiStepLR extends ParamScheduler {
  readonly type = 'MultiStepLR';
  /** How many times each milestone is listed (mmengine's Counter). */
  readonly milestoneCounts = new Map<number, number>();

  constructor(
    groups: ParamGroup[],
    range: SchedulerRange,
    milestones: readonly number[],
    readonly gamma: number,
  ) {
    super(groups, range);
    for (const m of milestones) this.milestoneCounts.set(m, (this.milestoneCounts.get(m) ?? 0) + 1);
    this.initialStep();
  }

  protected getValue(): number[] {
    const count = this.milestoneCounts.get(this.lastStep);
    if (count === undefined) return this.current();
    return this.current().map((lr) => lr * this.gamma ** count);
  }
}

export class StepLR extends ParamScheduler {
  readonly type = 'StepLR';

  constructor(
    groups: ParamGroup[],
    range: SchedulerRange,
    readonly stepSize: number,
    readonly gamma: number,
  ) {
    super(groups, range);
    this.initialStep();
  }

  protected getValue(): number[] {
    if (this.lastStep === 0 || this.lastStep % this.stepSize !== 0) return this.current();
    return this.current().map((lr) => lr * this.gamma);
  }
}

export class ExponentialLR extends ParamScheduler {
  readonly type = 'ExponentialLR';

  constructor(
    groups: ParamGroup[],
    range: SchedulerRange,
    readonly gamma: number,
  ) {
    super(groups, range);
    this.initialStep();
  }

  protected getValue(): number[] {
    if (this.lastStep === 0) return this.current();
    return this.current().map((lr) => lr * this.gamma);
  }
}

export class CosineAnnealingLR extends ParamScheduler {
  readonly type = 'CosineAnnealingLR';
  readonly etaMins: number[];

  constructor(
    groups: ParamGroup[],
    range: SchedulerRange,
    readonly tMax: number,
    eta: { eta_min?: number | null; eta_min_ratio?: number | null },
  ) {
    super(groups, range);
    if (eta.eta_min != null && eta.eta_min_ratio != null) throw new SchedulerError('set either eta_min or eta_min_ratio, not both');
    this.etaMins = this.baseValues.map((base) => (eta.eta_min_ratio != null ? base * eta.eta_min_ratio : (eta.eta_min ?? 0)));
    this.initialStep();
  }

  protected getValue(): number[] {
    const t = this.lastStep;
    const T = this.tMax;
    if (t === 0) return this.current();
    if ((t - 1 - T) % (2 * T) === 0) {
      return this.current().map((lr, i) => lr + ((this.baseValues[i]! - this.etaMins[i]!) * (1 - Math.cos(Math.PI / T))) / 2);
    }
    return this.current().map((lr, i) => ((1 + Math.cos((Math.PI * t) / T)) / (1 + Math.cos((Math.PI * (t - 1)) / T))) * (lr - this.etaMins[i]!) + this.etaMins[i]!);
  }
}

export class PolyLR extends ParamScheduler {
  readonly type = 'PolyLR';
  readonly totalIters: number;

  constructor(
    groups: ParamGroup[],
    range: SchedulerRange,
    readonly etaMin: number,
    readonly power: number,
  ) {
    super(groups, range);
    this.totalIters = range.end - range.begin - 1;
    this.initialStep();
  }

  protected getValue(): number[] {
    if (this.lastStep === 0) return this.current();
    const ratio = (1 - 1 / (this.totalIters - this.lastStep + 1)) ** this.power;
    return this.current().map((lr) => (lr - this.etaMin) * ratio + this.etaMin);
  }
}
