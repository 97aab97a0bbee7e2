/**
 * What tsdet's own wasm kernels use of tfjs-backend-wasm: its heap (the emscripten module's
 * memory, shared in the threaded build), tensors' heap offsets, and allocation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { encodeModule, instantiate, type ExportedFunction, type WasmMemory } from './wasm-emitter.js';

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

const compiled = new WeakMap<object, Map<string, unknown>>();

/**
 * The exports of a kernel module built from `functions` against this backend's heap, compiled once
 * per backend instance (a new wasm backend, e.g. another thread count, has another heap).
 */
export function kernelModule<T>(kernelBackend: tf.KernelBackend, name: string, functions: readonly ExportedFunction[]): { backend: WasmBackend; memory: WasmMemory; exports: T } {
  const { backend, memory } = wasmBackendOf(kernelBackend);
  let modules = compiled.get(backend);
  if (!modules) compiled.set(backend, (modules = new Map()));
  let exports = modules.get(name);
  if (!exports) {
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    exports = instantiate(encodeModule(functions, shared), memory);
    modules.set(name, exports);
  }
  return { backend, memory, exports: exports as T };
}

/** Registers `kernelFunc` as the wasm backend's kernel `name` unless it already is (repeat calls are no-ops). */
export function ensureWasmKernel(name: string, kernelFunc: (args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }) => tf.TensorInfo): void {
  if (tf.getKernel(name, 'wasm')) return;
  tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}
