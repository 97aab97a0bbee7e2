/**
 * What tsdet's own wasm kernels use of tfjs-backend-wasm: its heap (the emscripten module's
 * memory, shared in the threaded build), tensors' heap offsets, and allocation.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { WasmMemory } from './wasm-emitter.js';

interface WasmModule {
  /** Set by emscripten's threaded build (its workers need it). */
  wasmMemory?: WasmMemory;
  /** The single-threaded builds export their memory instead. */
  asm?: { memory?: WasmMemory };
  _malloc(bytes: number): number;
  _free(ptr: number): void;
}

export interface WasmBackend extends tf.KernelBackend {
  wasm: WasmModule;
  getMemoryOffset(dataId: object): number;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object): boolean;
}

/** The wasm backend handed to a kernel, with its heap. */
export function wasmBackendOf(backend: tf.KernelBackend): { backend: WasmBackend; memory: WasmMemory } {
  const wasm = backend as WasmBackend;
  const memory = wasm.wasm?.wasmMemory ?? wasm.wasm?.asm?.memory;
  if (!memory) throw new Error("tsdet wasm kernels: cannot find the wasm backend's memory (not tfjs-backend-wasm 4.x?)");
  return { backend: wasm, memory };
}
