/**
 * One call selects the compute backend: `auto` | `tensorflow` | `wasm` | `cpu`.
 *
 * `auto` tries @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node (both optional: their
 * install needs a download this project cannot assume), then multi-threaded SIMD wasm, then cpu.
 * The choice may also come from the environment (TSDET_BACKEND, TSDET_THREADS) or a config's
 * `backend` key; an explicit argument wins over the environment.
 */
import os from 'node:os';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { installTrainingKernels } from '../autograd/index.js';
import { shareWasmIdentityBuffers } from './wasm-identity.js';
import { installWasmThreadShims, withReportedCores } from './wasm-node-threads.js';

const require = createRequire(import.meta.url);

export const BACKEND_NAMES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendOptions {
  /** Which backend; default `auto`, or `$TSDET_BACKEND`. */
  backend?: BackendName;
  /** wasm threads; default min(cores, 2)... i.e. every core, or `$TSDET_THREADS`. 1 = single-threaded build. */
  threads?: number;
  /** Print one line saying what was chosen (default true). */
  verbose?: boolean;
}

export interface BackendInfo {
  /** tfjs backend name actually active: `tensorflow`, `wasm` or `cpu`. */
  name: string;
  /** Threads the backend computes with (wasm: XNNPACK pool size as reported by tfjs). */
  threads: number;
  simd: boolean;
  /** Wall time of the whole selection, in ms. */
  startupMs: number;
  /** One line per backend that was tried and not taken, and why. */
  skipped: string[];
}

let active: BackendInfo | undefined;

export class BackendError extends Error {
  override name = 'BackendError';
}

/** Reads the backend choice from options, then the environment, then the default `auto`. */
export function resolveBackendOptions(options: BackendOptions = {}, env = process.env): Required<BackendOptions> {
  const backend = options.backend ?? (env['TSDET_BACKEND'] as BackendName | undefined) ?? 'auto';
  if (!BACKEND_NAMES.includes(backend)) {
    throw new BackendError(`backend: expected one of ${BACKEND_NAMES.join(', ')}, got '${backend}' (from ${options.backend ? 'the caller' : 'TSDET_BACKEND'})`);
  }
  const threads = options.threads ?? (env['TSDET_THREADS'] ? Number(env['TSDET_THREADS']) : os.cpus().length);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new BackendError(`threads: expected an integer >= 1, got '${options.threads ?? env['TSDET_THREADS']}'`);
  }
  return { backend, threads, verbose: options.verbose ?? true };
}

/**
 * Selects and initialises the backend once per process; later calls with the same choice return
 * the same info, a different choice switches backend.
 */
export async function initBackend(options: BackendOptions = {}): Promise<BackendInfo> {
  const { backend, threads, verbose } = resolveBackendOptions(options);
  if (active && (backend === 'auto' || backend === active.name) && (active.name !== 'wasm' || active.threads === threads)) {
    return active;
  }
  quietTfjsLogs();
  await registerGradients();
  const start = performance.now();
  const skipped: string[] = [];
  const order: BackendName[] = backend === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [backend];
  for (const candidate of order) {
    const reason = await tryBackend(candidate, threads);
    if (reason === undefined) {
      // wasm lacks some gradient kernels and cpu's are slow or wrong: ours replace them.
      if (candidate !== 'tensorflow') installTrainingKernels();
      active = { ...(await describeActive(threads)), startupMs: performance.now() - start, skipped };
      if (verbose) console.log(formatBackendInfo(active));
      return active;
    }
    skipped.push(`${candidate}: ${reason}`);
  }
  throw new BackendError(`no backend could start: ${skipped.join('; ')}`);
}

/** The active backend, or an error telling the caller to run initBackend first. */
export function activeBackend(): BackendInfo {
  if (!active) throw new BackendError('no backend selected yet: call initBackend() first');
  return active;
}

export function formatBackendInfo(info: BackendInfo): string {
  const simd = info.name === 'wasm' ? `, simd ${info.simd ? 'on' : 'off'}` : '';
  const notes = info.skipped.length ? ` (skipped ${info.skipped.join('; ')})` : '';
  return `tsdet backend: ${info.name}, ${info.threads} thread(s)${simd}, ready in ${info.startupMs.toFixed(0)} ms${notes}`;
}

/**
 * Releases the backend's worker threads. With the threaded wasm build a port of emscripten's
 * pthread pool can stay referenced after a computation, so command-line tools end with
 * `exitAfter` (process.exit) rather than waiting for the event loop to drain.
 */
export function shutdownBackend(): void {
  if (active?.name === 'wasm') {
    const workers = wasmWorkers();
    try {
      removeKeepingFactory('wasm');
    } catch {
      // An aborted wasm module (out of memory) cannot dispose itself; its workers still end below.
    }
    // tfjs returns the busy XNNPACK pthread to the pool instead of terminating it, which keeps
    // Node alive; end every worker emscripten created.
    for (const worker of workers) void worker.terminate();
  }
  active = undefined;
}

/** tf.removeBackend also forgets the factory; register it again so the backend can restart. */
function removeKeepingFactory(name: string): void {
  const factory = tf.findBackendFactory(name);
  tf.removeBackend(name);
  if (factory) tf.registerBackend(name, factory, WASM_PRIORITY);
}

/** The priority tfjs-backend-wasm registers with. */
const WASM_PRIORITY = 2;

interface EmscriptenWorker {
  terminate(): unknown;
}

function wasmWorkers(): EmscriptenWorker[] {
  type PThreadState = { runningWorkers?: EmscriptenWorker[]; unusedWorkers?: EmscriptenWorker[]; pthreads?: Record<string, EmscriptenWorker> };
  const backend = tf.findBackend('wasm') as { wasm?: { PThread?: PThreadState } } | null;
  const pthread = backend?.wasm?.PThread;
  return [...new Set([...(pthread?.runningWorkers ?? []), ...(pthread?.unusedWorkers ?? []), ...Object.values(pthread?.pthreads ?? {})])];
}

/** Returns undefined when the backend is now active, else a one-line reason. */
async function tryBackend(name: BackendName, threads: number): Promise<string | undefined> {
  try {
    if (name === 'tensorflow') return await startNative();
    if (name === 'wasm') return await startWasm(threads);
    return (await tf.setBackend('cpu')) ? undefined : 'tf.setBackend(cpu) failed';
  } catch (error) {
    return firstLine(error);
  }
}

async function startNative(): Promise<string | undefined> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require(pkg);
      if (await tf.setBackend('tensorflow')) return undefined;
    } catch {
      // Absent, or present without its native library (its install script downloads one).
    }
  }
  return 'neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed with its native library';
}

async function startWasm(threads: number): Promise<string | undefined> {
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  if (threads > 1) {
    installWasmThreadShims();
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  } else {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  }
  wasm.setThreadsCount(threads);
  // A wasm instance keeps the thread count it started with: drop it to start a new one.
  if (tf.findBackend('wasm')) removeKeepingFactory('wasm');
  if (!tf.findBackendFactory('wasm')) return 'the wasm backend did not register';
  const ok = await withReportedCores(threads, () => tf.setBackend('wasm'));
  if (ok) shareWasmIdentityBuffers();
  return ok ? undefined : 'tf.setBackend(wasm) failed';
}

async function describeActive(requestedThreads: number): Promise<Omit<BackendInfo, 'startupMs' | 'skipped'>> {
  const name = tf.getBackend();
  if (name !== 'wasm') return { name, threads: name === 'cpu' ? 1 : requestedThreads, simd: false };
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  return { name, threads: wasm.getThreadsCount(), simd };
}

/**
 * tfjs-core alone registers no gradients in Node: the gradient table ships in the umbrella
 * package's Node bundle, which registers into the same tfjs-core instance.
 */
async function registerGradients(): Promise<void> {
  if (tf.getGradient('Conv2D')) return;
  require('@tensorflow/tfjs');
  if (!tf.getGradient('Conv2D')) throw new BackendError('gradients did not register: is @tensorflow/tfjs installed at the same version as @tensorflow/tfjs-core?');
}

/** tfjs prints a banner recommending tfjs-node on every cpu start; we report the backend ourselves. */
function quietTfjsLogs(): void {
  tf.env().set('PROD', true);
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0] ?? text;
}

/** Ends a command-line tool: releases the backend, then exits with `code` (see shutdownBackend). */
export function exitAfter(code: number): never {
  shutdownBackend();
  process.exit(code);
}
