/**
 * ONNX Runtime sessions in Node (onnxruntime-node), set up as the measurements in
 * docs/performance.md were taken: all graph optimisations, sequential execution, intra-op
 * threads as asked (default: TSDET_THREADS, then every core), one inter-op thread.
 *
 * Execution providers: 'cpu' by default. onnxruntime-node ships the CPU binaries; the CUDA
 * provider's libraries are a separate download its install script does only when asked
 * (docs/onnx.md says how), after which `providers: ['cuda', 'cpu']` or
 * TSDET_ORT_PROVIDERS=cuda,cpu uses it.
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';

export interface OrtSessionOptions {
  /** Intra-op threads (default TSDET_THREADS, then os.availableParallelism()). */
  threads?: number;
  /** Execution providers in order of preference (default TSDET_ORT_PROVIDERS, then ['cpu']). */
  providers?: string[];
  /** ORT's log level: 0 verbose, 1 info, 2 warning (default), 3 error. */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

export function defaultThreads(): number {
  const fromEnv = Number.parseInt(process.env['TSDET_THREADS'] ?? '', 10);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : os.availableParallelism();
}

function defaultProviders(): string[] {
  const fromEnv = process.env['TSDET_ORT_PROVIDERS'];
  return fromEnv ? fromEnv.split(',').map((p) => p.trim()).filter(Boolean) : ['cpu'];
}

/** An ORT session for a model file or its bytes. */
export async function createOrtSession(model: string | Uint8Array, options: OrtSessionOptions = {}): Promise<ort.InferenceSession> {
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: options.providers ?? defaultProviders(),
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: options.threads ?? defaultThreads(),
    interOpNumThreads: 1,
    logSeverityLevel: options.logSeverityLevel ?? 2,
  };
  try {
    return typeof model === 'string' ? await ort.InferenceSession.create(model, sessionOptions) : await ort.InferenceSession.create(model, sessionOptions);
  } catch (error) {
    const what = typeof model === 'string' ? model : 'the exported model';
    throw new Error(`ONNX Runtime cannot load ${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

export { ort };
