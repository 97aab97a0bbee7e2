/**
 * x[:, begin:begin + size] of a 2-D float32 tensor. tfjs-wasm's Slice copies a strided 2-D block
 * element by element (~110 ms for half the columns of the RoI head's [1000, 12544] input, as long
 * as the matMul it feeds); this kernel copies each row's run with vector loads and stores.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { FunctionBuilder } from './wasm-emitter.js';
import { ensureWasmKernel, kernelModule } from './wasm-backend.js';

export const SLICE_COLUMNS_KERNEL = 'TsdetSliceColumns';

/** copy(src, dst, rows, srcRowBytes, runBytes): dst row r = runBytes bytes at src + r * srcRowBytes. */
function buildCopy(fn: FunctionBuilder): void {
  const [src, dst, rows, srcRowBytes, runBytes] = fn.params as [never, never, never, never, never];
  const r = fn.local('i32');
  const from = fn.local('i32');
  const to = fn.local('i32');
  const b = fn.local('i32');
  fn.get(src).set(from);
  fn.get(dst).set(to);
  fn.i32(0).set(r);
  fn.forLoop(r, rows, 1, () => {
    fn.i32(0).set(b);
    fn.forLoop(b, runBytes, 16, () => {
      fn.get(to).get(b).add();
      fn.get(from).get(b).add().v128Load();
      fn.v128Store();
    });
    fn.increment(from, srcRowBytes);
    fn.increment(to, runBytes);
  });
}

interface CopyModule {
  copy(...args: number[]): void;
}

const FUNCTIONS = [{ name: 'copy', params: ['i32', 'i32', 'i32', 'i32', 'i32'] as const, build: buildCopy }];

function sliceColumnsKernel(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo {
  const { backend, exports: module } = kernelModule<CopyModule>(args.backend, 'slice-columns', FUNCTIONS);
  const x = args.inputs['x']!;
  const [rows, cols] = x.shape as [number, number];
  const begin = args.attrs['begin'] as number;
  const size = args.attrs['size'] as number;
  const out = backend.makeOutput([rows, size], 'float32');
  module.copy(backend.getMemoryOffset(x.dataId) + 4 * begin, backend.getMemoryOffset(out.dataId), rows, 4 * cols, 4 * size);
  return out;
}

/** x[:, begin:begin + size] for a float32 [rows, cols] tensor; tf.slice where the kernel does not apply. */
export function sliceColumns(x: tf.Tensor2D, begin: number, size: number): tf.Tensor2D {
  const [rows, cols] = x.shape;
  if (begin < 0 || size < 0 || begin + size > cols) throw new Error(`sliceColumns: columns ${begin}..${begin + size} of a [${rows}, ${cols}] tensor`);
  if (tf.getBackend() !== 'wasm' || x.dtype !== 'float32' || size % 4 !== 0 || begin % 4 !== 0) return tf.slice(x, [0, begin], [rows, size]);
  ensureWasmKernel(SLICE_COLUMNS_KERNEL, sliceColumnsKernel);
  return tf.engine().runKernel(SLICE_COLUMNS_KERNEL, { x }, { begin, size }) as tf.Tensor2D;
}
