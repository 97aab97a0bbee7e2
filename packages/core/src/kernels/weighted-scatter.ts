/**
 * out[to[e]] += weights[e] * rows[from[e]] over every entry e: the sparse product RoIAlign's
 * forward (sampling points into bins) and backward (bins back into pixels) are made of.
 *
 * With tfjs ops this is gatherND, a multiply and scatterND, each through a full [entries, C]
 * temporary. On wasm this kernel accumulates in place, four channels per vector, reading the
 * entries and rows where they lie on the heap. Entries may come in any order.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { FunctionBuilder } from './wasm-emitter.js';
import { ensureWasmKernel, kernelModule } from './wasm-backend.js';

export const WEIGHTED_SCATTER_KERNEL = 'TsdetWeightedScatter';

const PARAMS = ['rows', 'out', 'from', 'to', 'weights', 'count', 'channelBytes'] as const;

/** scatter(rows, out, from, to, weights, count, C*4): the entries' arrays are i32 / f32 on the heap. */
function buildScatter(fn: FunctionBuilder): void {
  const [rows, out, from, to, weights, count, channelBytes] = fn.params as [never, never, never, never, never, never, never];
  const e = fn.local('i32');
  const src = fn.local('i32');
  const dst = fn.local('i32');
  const c4 = fn.local('i32');
  const w = fn.local('v128');
  fn.i32(0).set(e);
  fn.forLoop(e, count, 1, () => {
    // src = rows + from[e] * C4; dst = out + to[e] * C4; w = splat(weights[e])
    fn.get(rows).get(from).get(e).i32(4).mul().add().i32Load().get(channelBytes).mul().add().set(src);
    fn.get(out).get(to).get(e).i32(4).mul().add().i32Load().get(channelBytes).mul().add().set(dst);
    fn.get(weights).get(e).i32(4).mul().add().f32Load().f32x4Splat().set(w);
    fn.i32(0).set(c4);
    fn.forLoop(c4, channelBytes, 16, () => {
      fn.get(dst).get(c4).add();
      fn.get(dst).get(c4).add().v128Load();
      fn.get(src).get(c4).add().v128Load().get(w).f32x4Mul();
      fn.f32x4Add().v128Store();
    });
  });
}

interface ScatterModule {
  scatter(...args: number[]): void;
}

const FUNCTIONS = [{ name: 'scatter', params: PARAMS.map(() => 'i32' as const), build: buildScatter }];

function scatterKernel(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo {
  const { backend, memory, exports: module } = kernelModule<ScatterModule>(args.backend, 'weighted-scatter', FUNCTIONS);
  const outRows = args.attrs['outRows'] as number;
  const groups = args.attrs['groups'] as number;
  const input = (name: string, g: number) => args.inputs[`${name}${g}`]!;
  const channels = input('rows', 0).shape[1]!;
  const out = backend.makeOutput([outRows, channels], 'float32');
  const outPtr = backend.getMemoryOffset(out.dataId);
  new Uint8Array(memory.buffer, outPtr, outRows * channels * 4).fill(0);
  const ptr = (t: tf.TensorInfo) => backend.getMemoryOffset(t.dataId);
  for (let g = 0; g < groups; g++) {
    module.scatter(ptr(input('rows', g)), outPtr, ptr(input('from', g)), ptr(input('to', g)), ptr(input('weights', g)), input('from', g).shape[0]!, channels * 4);
  }
  return out;
}

/** Whether weightedScatterAdd runs here: the wasm backend and channels divisible by 4. */
export function weightedScatterAddApplies(channels: number): boolean {
  return tf.getBackend() === 'wasm' && channels % 4 === 0;
}

/** One set of entries: out[to[e]] += weights[e] * rows[from[e]]. */
export interface ScatterEntries {
  rows: tf.Tensor2D;
  from: Int32Array;
  to: Int32Array;
  weights: Float32Array;
}

/**
 * [outRows, C] with out[to[e]] += weights[e] * rows[from[e]] (wasm; see weightedScatterAddApplies).
 * Several sets of entries (e.g. one per feature level, each with its own rows) accumulate into the
 * same output in one kernel, without a temporary per set. Indices are checked against rows and
 * outRows first: the kernel writes where they point.
 */
export function weightedScatterAdd(sets: readonly ScatterEntries[], outRows: number): tf.Tensor2D {
  if (sets.length === 0) throw new Error('weightedScatterAdd: no entries given (pass at least one set, possibly empty)');
  const channels = sets[0]!.rows.shape[1];
  if (!weightedScatterAddApplies(channels)) throw new Error(`weightedScatterAdd: runs on the wasm backend with channels divisible by 4 (backend ${tf.getBackend()}, ${channels} channels); see weightedScatterAddApplies`);
  sets.forEach(({ rows, from, to, weights }, g) => {
    const where = sets.length > 1 ? `set ${g}: ` : '';
    if (rows.shape[1] !== channels) throw new Error(`weightedScatterAdd: ${where}rows have ${rows.shape[1]} channels, set 0 has ${channels}`);
    if (from.length !== to.length || from.length !== weights.length) throw new Error(`weightedScatterAdd: ${where}${from.length} sources, ${to.length} targets and ${weights.length} weights`);
    checkIndices(from, rows.shape[0], 'source rows', where);
    checkIndices(to, outRows, 'output rows', where);
  });
  ensureWasmKernel(WEIGHTED_SCATTER_KERNEL, scatterKernel);
  return tf.tidy(() => {
    const inputs: Record<string, tf.Tensor> = {};
    sets.forEach(({ rows, from, to, weights }, g) => {
      inputs[`rows${g}`] = rows;
      inputs[`from${g}`] = tf.tensor1d(from, 'int32');
      inputs[`to${g}`] = tf.tensor1d(to, 'int32');
      inputs[`weights${g}`] = tf.tensor1d(weights);
    });
    return tf.engine().runKernel(WEIGHTED_SCATTER_KERNEL, inputs as tf.NamedTensorMap, { outRows, groups: sets.length }) as tf.Tensor2D;
  });
}

function checkIndices(indices: Int32Array, limit: number, what: string, where: string): void {
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i]!;
    if (index < 0 || index >= limit) throw new Error(`weightedScatterAdd: ${where}entry ${i} points at ${what.slice(0, -1)} ${index}, outside 0..${limit - 1}`);
  }
}
