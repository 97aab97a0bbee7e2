/**
 * mmengine's hooks: objects with optional methods the runner calls at fixed points, in priority
 * order (lower runs first; equal priorities keep registration order).
 */
import type { TrainStepOutputs } from '../optim/optim-wrapper.js';
import type { Runner } from '../runner/runner.js';
import type { CheckpointObject } from '../runner/checkpoint-state.js';

/** mmengine's priority names and values. */
export const PRIORITY = {
  HIGHEST: 0,
  VERY_HIGH: 10,
  HIGH: 30,
  ABOVE_NORMAL: 40,
  NORMAL: 50,
  BELOW_NORMAL: 60,
  LOW: 70,
  VERY_LOW: 90,
  LOWEST: 100,
} as const;

export type PriorityName = keyof typeof PRIORITY;
export type Mode = 'train' | 'val' | 'test';
export type Metrics = Record<string, number | string>;

export interface Hook {
  readonly name: string;
  priority: number;
  beforeRun?(runner: Runner): void;
  afterRun?(runner: Runner): void;
  beforeTrain?(runner: Runner): void;
  afterTrain?(runner: Runner): void;
  beforeTrainEpoch?(runner: Runner): void;
  afterTrainEpoch?(runner: Runner): void;
  beforeTrainIter?(runner: Runner, batchIdx: number, batch: unknown): void;
  afterTrainIter?(runner: Runner, batchIdx: number, batch: unknown, outputs: TrainStepOutputs): void;
  beforeValEpoch?(runner: Runner): void;
  afterValEpoch?(runner: Runner, metrics: Metrics): void;
  beforeValIter?(runner: Runner, batchIdx: number, batch: unknown): void;
  afterValIter?(runner: Runner, batchIdx: number, batch: unknown, predictions: readonly unknown[]): void;
  beforeTestEpoch?(runner: Runner): void;
  afterTestEpoch?(runner: Runner, metrics: Metrics): void;
  beforeTestIter?(runner: Runner, batchIdx: number, batch: unknown): void;
  afterTestIter?(runner: Runner, batchIdx: number, batch: unknown, predictions: readonly unknown[]): void;
  beforeSaveCheckpoint?(runner: Runner, checkpoint: CheckpointObject): void;
  afterLoadCheckpoint?(runner: Runner, checkpoint: CheckpointObject): void;
  /** Finishes asynchronous work started by the iteration hooks; evaluation loops await it before reporting. */
  flush?(): Promise<void>;
}

/** The `priority` key every hook config accepts: a number or one of mmengine's names. */
export const prioritySchema = {
  anyOf: [{ type: 'integer', minimum: 0, maximum: 100 }, { enum: Object.keys(PRIORITY) }],
  description: 'when the hook runs relative to others (lower first): 0-100 or a name such as NORMAL',
};

export function priorityValue(priority: number | string | undefined, fallback: number): number {
  if (priority === undefined) return fallback;
  return typeof priority === 'number' ? priority : PRIORITY[priority as PriorityName];
}

/** Stable sort by priority. */
export function sortHooks(hooks: readonly Hook[]): Hook[] {
  return hooks
    .map((hook, index) => ({ hook, index }))
    .sort((a, b) => a.hook.priority - b.hook.priority || a.index - b.index)
    .map(({ hook }) => hook);
}
