/**
 * Makes the multi-threaded wasm build of tfjs work in Node.
 *
 * tfjs turns threads off in Node on purpose (tfjs issue #3830) and three things break when the
 * flag is forced on. Each shim below fixes one of them, at run time, without patching files:
 *  1. tfjs hands `blob:` URLs to the pthread workers; `worker_threads` cannot load those, so the
 *     Blob's text is written to a temp file and `URL.createObjectURL` returns its path.
 *  2. The emscripten "main script" tfjs builds is the factory's `toString()` taken from the rollup
 *     bundle, which refers to rollup's `require$$N` aliases and fails inside a worker; the worker
 *     is pointed at the original UMD glue in `wasm-out/` instead.
 *  3. The XNNPACK pool is capped at `os.cpus().length / 2` (1 thread on a 2-core machine), so
 *     `os.cpus()` reports twice the cores while the backend initialises.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const THREADED_FACTORY_PREFIX = 'var WasmBackendModuleThreadedSimd';
const WORKER_MARKER = 'if(typeof e.data.urlOrBlob=="string")';

let installed = false;

/** Installs shims 1 and 2 once per process. */
export function installWasmThreadShims(): void {
  if (installed) return;
  installed = true;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdet-wasm-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const glue = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const blobTexts = new WeakMap<Blob, string>();

  const OriginalBlob = globalThis.Blob;
  class RecordingBlob extends OriginalBlob {
    constructor(...args: ConstructorParameters<typeof Blob>) {
      super(...args);
      const parts = args[0];
      if (Array.isArray(parts) && parts.every((p) => typeof p === 'string')) blobTexts.set(this, parts.join(''));
    }
  }
  globalThis.Blob = RecordingBlob as typeof Blob;

  const originalCreateObjectURL = URL.createObjectURL.bind(URL);
  let counter = 0;
  URL.createObjectURL = (blob: Blob): string => {
    let text = blobTexts.get(blob);
    if (text === undefined) return originalCreateObjectURL(blob);
    if (text.startsWith(THREADED_FACTORY_PREFIX)) text = fs.readFileSync(glue, 'utf8');
    else if (text.includes(WORKER_MARKER)) text = redirectWorkerToGlue(text, glue);
    const file = path.join(dir, `blob${counter++}.js`);
    fs.writeFileSync(file, text);
    return file;
  };
}

/** The worker script imports whatever it is handed; make a non-string (blob) main script the glue file. */
function redirectWorkerToGlue(workerSource: string, gluePath: string): string {
  const fallback = `if(typeof e.data.urlOrBlob!="string"){e.data.urlOrBlob=${JSON.stringify(gluePath)}}`;
  return workerSource.replace(WORKER_MARKER, fallback + WORKER_MARKER);
}

/** Shim 3: runs `init` while `os.cpus()` reports at least 2 * threads cores. */
export async function withReportedCores<T>(threads: number, init: () => Promise<T>): Promise<T> {
  const originalCpus = os.cpus;
  const real = originalCpus.call(os);
  const wanted = Math.max(real.length, 2 * threads);
  os.cpus = () => Array.from({ length: wanted }, (_, i) => real[i % real.length]!);
  try {
    return await init();
  } finally {
    os.cpus = originalCpus;
  }
}
