/**
 * The training checkpoint: mmengine's layout in PyTorch's `.pth` zip format.
 *
 *   meta:             tsdet_version, time, epoch (completed), iter (completed), seed, cfg (JSON text),
 *                     dataset_meta {classes}, rng {global_random}, loop {epoch_in_progress, next_batch},
 *                     experiment_name, backend
 *   state_dict:       OrderedDict of the model's tensors, mmdet names and PyTorch layouts
 *   optimizer:        {state: {<param name>: {momentum_buffer} (SGD) | {step, exp_avg, exp_avg_sq} (Adam/AdamW)}, param_groups: [{params: [names], lr, initial_lr, ...}]}
 *   param_schedulers: [{type, last_step, global_step, base_values, last_value}]
 *   message_hub:      {runtime_info: {best_score, best_ckpt, keep_ckpt_ids, ...}}
 *
 * Any reader of mmdet checkpoints takes `state_dict` (core's loadCheckpoint, tools/test.ts,
 * tools/infer.ts, mmdet's load_from). The optimiser state is keyed by parameter name rather than
 * torch's index, so PyTorch's optimizer.load_state_dict cannot resume from it.
 */
import { loadPth, CheckpointError, type RawTensor } from '@tsdet/core';
import { OrderedDict, TensorValue, type PickleValue } from '../checkpoint/pickle-writer.js';
import type { RuntimeInfoValue } from '../logging/message-hub.js';
import type { OptimizerState } from '../optim/sgd.js';
import type { SchedulerState } from '../schedulers/param-scheduler.js';

export interface CheckpointMeta {
  tsdet_version: string;
  time: string;
  /** Completed epochs (mmengine's meta.epoch). */
  epoch: number;
  /** Completed iterations (mmengine's meta.iter). */
  iter: number;
  seed: number;
  experiment_name: string;
  /** The resolved config, as JSON text. */
  cfg: string;
  dataset_meta: { classes?: readonly string[] } | null;
  /** State of the process-wide training stream (globalRandom). */
  rng: { global_random: number };
  /** Where the train loop resumes: the epoch in progress and its next batch (0 at an epoch boundary). */
  loop: { epoch_in_progress: number; next_batch: number };
  backend: string;
}

export interface CheckpointObject {
  meta: CheckpointMeta;
  state_dict: Map<string, RawTensor>;
  optimizer?: OptimizerState;
  param_schedulers?: SchedulerState[];
  message_hub: { runtime_info: Record<string, RuntimeInfoValue> };
}

/** The pickle tree of a checkpoint. */
export function checkpointToPickle(checkpoint: CheckpointObject): PickleValue {
  const out: Record<string, PickleValue> = {
    meta: checkpoint.meta as unknown as PickleValue,
    state_dict: new OrderedDict(new Map([...checkpoint.state_dict].map(([key, tensor]) => [key, new TensorValue(tensor)]))),
    message_hub: checkpoint.message_hub as unknown as PickleValue,
  };
  if (checkpoint.optimizer) {
    const state = Object.fromEntries(
      Object.entries(checkpoint.optimizer.state).map(([name, entry]) => [name, Object.fromEntries(Object.entries(entry).map(([key, tensor]) => [key, new TensorValue(tensor)]))]),
    );
    out['optimizer'] = { state, param_groups: checkpoint.optimizer.param_groups as unknown as PickleValue };
  }
  if (checkpoint.param_schedulers) out['param_schedulers'] = checkpoint.param_schedulers as unknown as PickleValue;
  return out;
}

/** Reads a checkpoint written by tsdet; a missing part is an error naming it and the file. */
export function readTrainingCheckpoint(file: string): CheckpointObject {
  const top = loadPth(file) as Record<string, unknown>;
  if (typeof top !== 'object' || top === null) throw new CheckpointError(file, 'not a checkpoint: the top level is not a dict');
  const meta = top['meta'] as CheckpointMeta | undefined;
  if (!meta || typeof meta.epoch !== 'number' || typeof meta.iter !== 'number') {
    throw new CheckpointError(file, 'cannot resume from it: it has no training meta (epoch, iter); use load_from to start from its weights instead');
  }
  const stateDict = top['state_dict'] as Record<string, RawTensor> | undefined;
  if (!stateDict) throw new CheckpointError(file, 'has no state_dict');
  return {
    meta,
    state_dict: new Map(Object.entries(stateDict)),
    optimizer: top['optimizer'] as OptimizerState | undefined,
    param_schedulers: top['param_schedulers'] as SchedulerState[] | undefined,
    message_hub: (top['message_hub'] as CheckpointObject['message_hub'] | undefined) ?? { runtime_info: {} },
  };
}
