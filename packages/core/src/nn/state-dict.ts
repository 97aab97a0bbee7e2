/**
 * Saving and loading module state in PyTorch's state-dict form: mmdet/torchvision key names,
 * PyTorch layouts and dtypes (int64 `num_batches_tracked`), so real checkpoints load unchanged.
 */
import * as tf from '@tensorflow/tfjs-core';
import { toFloat32, toInt32, type RawTensor } from '../checkpoint/raw-tensor.js';
import type { Module } from './module.js';
import { tfjsShapeOf, tfjsToTorch, torchToTfjs, type TorchLayout } from './torch-layout.js';

export type StateDict = Map<string, RawTensor>;

export interface ShapeMismatch {
  key: string;
  /** Shapes in PyTorch layout, as a PyTorch user would read them. */
  expected: number[];
  got: number[];
}

export interface LoadReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
  mismatched: ShapeMismatch[];
}

export interface LoadOptions {
  /** Throw one error listing every problem (default), or warn and load what fits. */
  strict?: boolean;
  /** The file (or other origin) named in errors and warnings. */
  source?: string;
}

/** Keys PyTorch added later; old checkpoints lack them and PyTorch tolerates that. */
const OPTIONAL_SUFFIXES = ['num_batches_tracked'];

export class StateDictError extends Error {
  override name = 'StateDictError';
  constructor(
    message: string,
    readonly report: LoadReport,
  ) {
    super(message);
  }
}

interface Slot {
  variable: tf.Variable;
  layout: TorchLayout;
}

/** The module's state in PyTorch layout: parameters, then buffers, in registration order. */
export function stateDictOf(module: Module): StateDict {
  const out: StateDict = new Map();
  for (const [key, slot] of slotsOf(module)) out.set(key, exportSlot(slot));
  return out;
}

/** Loads a PyTorch-layout state dict into `module`, reporting missing/unexpected/mismatched keys. */
export function loadStateDict(module: Module, stateDict: StateDict | Record<string, RawTensor>, options: LoadOptions = {}): LoadReport {
  const entries = normaliseKeys(stateDict instanceof Map ? stateDict : new Map(Object.entries(stateDict)));
  const slots = slotsOf(module);
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [] };
  const pending: [Slot, RawTensor][] = [];
  for (const [key, slot] of slots) {
    const value = entries.get(key);
    if (!value) {
      if (!OPTIONAL_SUFFIXES.some((s) => key.endsWith(s))) report.missing.push(key);
    } else if (!fits(slot, value)) {
      report.mismatched.push({ key, expected: torchShape(slot), got: [...value.shape] });
    } else {
      pending.push([slot, value]);
      report.loaded.push(key);
    }
  }
  report.unexpected = [...entries.keys()].filter((key) => !slots.has(key));
  const problems = describeProblems(report);
  const strict = options.strict ?? true;
  if (problems && strict) throw new StateDictError(`${loadHeader(module, options)} failed:\n${problems}`, report);
  if (problems) console.warn(`${loadHeader(module, options)}: loaded ${report.loaded.length} tensors, ignored:\n${problems}`);
  for (const [slot, value] of pending) assignSlot(slot, value);
  return report;
}

function loadHeader(module: Module, options: LoadOptions): string {
  return `loading ${options.source ? `'${options.source}' ` : ''}into ${module.typeName}`;
}

/** Strips the `module.` prefix that DataParallel/DistributedDataParallel put on every key. */
function normaliseKeys(entries: StateDict): StateDict {
  const keys = [...entries.keys()];
  if (!keys.length || !keys.every((k) => k.startsWith('module.'))) return entries;
  return new Map([...entries].map(([k, v]) => [k.slice('module.'.length), v]));
}

function slotsOf(module: Module): Map<string, Slot> {
  return new Map<string, Slot>([...module.namedParameters(), ...module.namedBuffers()]);
}

function torchShape(slot: Slot): number[] {
  return tfjsToTorch(slot.layout, { shape: slot.variable.shape, data: new Float32Array(0) }).shape;
}

function fits(slot: Slot, value: RawTensor): boolean {
  const shape = tfjsShapeOf(slot.layout, value.shape);
  const sameShape = shape.length === slot.variable.rank && shape.every((d, i) => d === slot.variable.shape[i]);
  return sameShape && value.dtype !== 'bool';
}

function assignSlot(slot: Slot, value: RawTensor): void {
  tf.tidy(() => {
    if (slot.variable.dtype === 'int32') {
      slot.variable.assign(tf.tensor(toInt32(value), slot.variable.shape, 'int32'));
      return;
    }
    const converted = torchToTfjs(slot.layout, { shape: value.shape, data: toFloat32(value) });
    slot.variable.assign(tf.tensor(converted.data, converted.shape, 'float32'));
  });
}

function exportSlot(slot: Slot): RawTensor {
  const values = slot.variable.dataSync();
  if (slot.variable.dtype === 'int32') {
    // PyTorch keeps integer buffers (num_batches_tracked) as int64.
    return { dtype: 'int64', shape: [...slot.variable.shape], data: BigInt64Array.from(values, (v) => BigInt(v)) };
  }
  const torch = tfjsToTorch(slot.layout, { shape: slot.variable.shape, data: Float32Array.from(values) });
  return { dtype: 'float32', shape: torch.shape, data: torch.data };
}

function describeProblems(report: LoadReport): string {
  const lines: string[] = [];
  if (report.missing.length) lines.push(`  missing keys (${report.missing.length}): ${report.missing.join(', ')}`);
  if (report.unexpected.length) lines.push(`  unexpected keys (${report.unexpected.length}): ${report.unexpected.join(', ')}`);
  for (const m of report.mismatched) {
    lines.push(`  shape mismatch for ${m.key}: checkpoint has [${m.got.join(', ')}], the model needs [${m.expected.join(', ')}]`);
  }
  return lines.join('\n');
}
