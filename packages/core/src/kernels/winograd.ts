/**
 * Winograd F(2x2, 3x3) convolution for inference on the wasm backend.
 *
 * A 3x3 stride-1 convolution computes each 2x2 output block from a 4x4 input tile with 16 products
 * per channel pair instead of 36 (Lavin & Gray 2016): the input tiles are transformed (V = Bᵀ d B),
 * multiplied channel-wise with the transformed filter (U = G g Gᵀ, once per filter) as 16
 * independent GEMMs [tiles, C] x [C, K], and the products transformed back (Aᵀ M A). The GEMMs run
 * on XNNPACK as 1x1 convolutions, so their packed weights are cached per filter as for any conv;
 * the transforms are tsdet's own wasm SIMD kernels (winograd-wasm.ts) working in place on the heap.
 * F(2x2, 3x3)'s float32 error stays within ~2x that of the direct convolution (F(4x4, 3x3) would
 * save more but is ~30x noisier than direct, beyond the parity tolerances).
 *
 * The work goes in bands of tile rows so that the transformed tiles and products held at once stay
 * small (the whole map's would be 8x its size) and are re-read while still in cache.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WasmMemory } from './wasm-emitter.js';
import { ensureWasmKernel, kernelModule, type WasmBackend } from './wasm-backend.js';
import { WINOGRAD_FUNCTIONS, type WinogradTransforms } from './winograd-wasm.js';

export const WINOGRAD_KERNEL = 'TsdetWinogradConv2D';

/** G of F(2x2, 3x3): U = G g Gᵀ. */
const G = [
  [1, 0, 0],
  [0.5, 0.5, 0.5],
  [0.5, -0.5, 0.5],
  [0, 0, 1],
] as const;

/** The 16 transformed filters U[a][b] as [1, 1, C, K] tensors, from an HWIO [3, 3, C, K] filter. */
export function winogradFilter(filter: tf.Tensor4D): tf.Tensor4D[] {
  const [kh, kw, inChannels, outChannels] = filter.shape;
  if (kh !== 3 || kw !== 3) throw new Error(`winogradFilter: expected a 3x3 filter, got ${kh}x${kw}`);
  const g = filter.dataSync() as Float32Array;
  const pairs = inChannels * outChannels;
  const planes = Array.from({ length: 16 }, () => new Float32Array(pairs));
  const r = new Float64Array(12);
  for (let e = 0; e < pairs; e++) {
    // r[a][j] = sum_i G[a][i] g[i][j]; U[a][b] = sum_j r[a][j] G[b][j]; in float64, rounded once.
    for (let a = 0; a < 4; a++) {
      for (let j = 0; j < 3; j++) {
        r[a * 3 + j] = G[a]![0]! * g[(0 * 3 + j) * pairs + e]! + G[a]![1]! * g[(1 * 3 + j) * pairs + e]! + G[a]![2]! * g[(2 * 3 + j) * pairs + e]!;
      }
    }
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 4; b++) {
        planes[a * 4 + b]![e] = r[a * 3]! * G[b]![0]! + r[a * 3 + 1]! * G[b]![1]! + r[a * 3 + 2]! * G[b]![2]!;
      }
    }
  }
  return planes.map((plane) => tf.tensor4d(plane, [1, 1, inChannels, outChannels]));
}

export interface WinogradConvArgs {
  x: tf.Tensor4D;
  /** From winogradFilter. */
  transformedFilter: readonly tf.Tensor4D[];
  bias?: tf.Tensor1D;
  /** Zero padding above/left; the output size decides what lies below/right. */
  padTop: number;
  padLeft: number;
  outHeight: number;
  outWidth: number;
  activation: 'linear' | 'relu';
}

/** Runs the Winograd kernel (wasm backend only; see winogradApplies). */
export function winogradConv2d(args: WinogradConvArgs): tf.Tensor4D {
  checkWinogradArgs(args);
  ensureWasmKernel(WINOGRAD_KERNEL, winogradKernel);
  const { x, transformedFilter, bias, padTop, padLeft, outHeight, outWidth, activation } = args;
  const inputs: Record<string, tf.Tensor> = { x };
  transformedFilter.forEach((u, k) => (inputs[`u${k}`] = u));
  if (bias) inputs['bias'] = bias;
  const attrs = { padTop, padLeft, outHeight, outWidth, activation, bandBytes: bandBytesSetting };
  return tf.engine().runKernel(WINOGRAD_KERNEL, inputs as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/**
 * The kernels write where these numbers point, so they are checked here rather than trusted:
 * a channel count that is not a whole number of vectors would write past a buffer.
 */
function checkWinogradArgs({ x, transformedFilter, bias, padTop, padLeft, outHeight, outWidth }: WinogradConvArgs): void {
  const fail = (what: string): never => {
    throw new Error(`winogradConv2d: ${what}`);
  };
  if (tf.getBackend() !== 'wasm') fail(`runs on the wasm backend only (active: ${tf.getBackend()})`);
  if (x.rank !== 4 || x.dtype !== 'float32') fail(`x must be a float32 NHWC tensor, got ${x.dtype} [${x.shape.join(', ')}]`);
  const inChannels = x.shape[3];
  if (transformedFilter.length !== 16) fail(`expected 16 transformed filters, got ${transformedFilter.length}`);
  const outChannels = transformedFilter[0]!.shape[3];
  transformedFilter.forEach((u, k) => {
    const [a, b, c, d] = u.shape;
    if (a !== 1 || b !== 1 || c !== inChannels || d !== outChannels) fail(`transformed filter ${k} is [${u.shape.join(', ')}], expected [1, 1, ${inChannels}, ${outChannels}] (winogradFilter of a [3, 3, ${inChannels}, K] filter)`);
  });
  if (inChannels % 4 !== 0 || outChannels % 4 !== 0) fail(`channels must be divisible by 4, got ${inChannels} in and ${outChannels} out`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== outChannels)) fail(`bias is [${bias.shape.join(', ')}], expected [${outChannels}]`);
  for (const [name, value, min] of [['padTop', padTop, 0], ['padLeft', padLeft, 0], ['outHeight', outHeight, 1], ['outWidth', outWidth, 1]] as const) {
    if (!Number.isInteger(value) || value < min) fail(`${name} must be an integer >= ${min}, got ${value}`);
  }
}

export type WinogradMode = 'auto' | 'always' | 'never';

let mode: WinogradMode = readModeFromEnv();
let bandBytesSetting = 8 * 1024 * 1024;

function readModeFromEnv(): WinogradMode {
  const value = process.env['TSDET_WINOGRAD'];
  if (value === undefined || value === '' || value === 'auto') return 'auto';
  if (value === '1' || value === 'always') return 'always';
  if (value === '0' || value === 'never') return 'never';
  throw new Error(`TSDET_WINOGRAD: expected auto, always (1) or never (0), got '${value}'`);
}

/** 'auto' (default, or $TSDET_WINOGRAD): where it pays; 'always': every eligible conv; 'never'. */
export function setWinogradMode(next: WinogradMode): WinogradMode {
  const previous = mode;
  mode = next;
  return previous;
}

export function winogradMode(): WinogradMode {
  return mode;
}

/** Runs fn with the mode set, restoring the previous one afterwards. */
export function withWinogradMode<T>(next: WinogradMode, fn: () => T): T {
  const previous = setWinogradMode(next);
  try {
    return fn();
  } finally {
    setWinogradMode(previous);
  }
}

/** Bytes of transformed tiles per band (tuning; default 8 MiB). */
export function setWinogradBandBytes(bytes: number): void {
  bandBytesSetting = bytes;
}

export interface ConvGeometry {
  /** HWIO filter shape. */
  filterShape: readonly number[];
  strides: readonly [number, number];
  dilations: readonly [number, number];
}

/**
 * Whether a conv runs as F(2x2, 3x3) here: wasm backend, 3x3, stride 1, no dilation, channel
 * counts divisible by 4 (the kernels move four channels per vector); in 'auto' mode also at least
 * 32 channels in and out. Measured on wasm with 2 threads (docs/performance.md): from 32 channels
 * on it is ~2x faster than XNNPACK's direct conv at every map size of ResNet-50 and FPN, at 16
 * channels slower. The rule looks at the filter only, so it can be decided (and the transformed
 * filter prepared) when a model switches to eval mode.
 */
export function winogradApplies(geometry: ConvGeometry): boolean {
  if (mode === 'never' || tf.getBackend() !== 'wasm') return false;
  const [kh, kw, inChannels, outChannels] = geometry.filterShape as [number, number, number, number];
  const eligible = kh === 3 && kw === 3 && geometry.strides.every((s) => s === 1) && geometry.dilations.every((d) => d === 1) && inChannels % 4 === 0 && outChannels % 4 === 0;
  if (!eligible || mode === 'always') return eligible;
  return Math.min(inChannels, outChannels) >= AUTO_MIN_CHANNELS;
}

const AUTO_MIN_CHANNELS = 32;

// ---------------------------------------------------------------------------------------------
// The kernel (backend level): transforms in our wasm module, GEMMs through tfjs-wasm's Conv2D.

/** Per backend instance: the compiled transforms and two scratch rows (zeros, and a write sink). */
class WinogradRuntime {
  readonly transforms: WinogradTransforms;
  private zero = 0;
  private dummy = 0;
  private scratchBytes = 0;

  constructor(
    private readonly backend: WasmBackend,
    private readonly memory: WasmMemory,
    transforms: WinogradTransforms,
  ) {
    this.transforms = transforms;
  }

  /** Pointers to a zero row and a scratch row of at least `bytes` each. */
  scratch(bytes: number): { zero: number; dummy: number } {
    if (bytes > this.scratchBytes) {
      if (this.scratchBytes) {
        this.backend.wasm._free(this.zero);
        this.backend.wasm._free(this.dummy);
      }
      this.zero = this.backend.wasm._malloc(bytes);
      this.dummy = this.backend.wasm._malloc(bytes);
      new Uint8Array(this.memory.buffer, this.zero, bytes).fill(0);
      this.scratchBytes = bytes;
    }
    return { zero: this.zero, dummy: this.dummy };
  }
}

const runtimes = new WeakMap<object, WinogradRuntime>();

function runtimeFor(kernelBackend: tf.KernelBackend): WinogradRuntime {
  const { backend, memory, exports } = kernelModule<WinogradTransforms>(kernelBackend, 'winograd', WINOGRAD_FUNCTIONS);
  let runtime = runtimes.get(backend);
  if (!runtime) {
    runtime = new WinogradRuntime(backend, memory, exports);
    runtimes.set(backend, runtime);
  }
  return runtime;
}

interface KernelAttrs {
  padTop: number;
  padLeft: number;
  outHeight: number;
  outWidth: number;
  activation: 'linear' | 'relu';
  bandBytes: number;
}

function winogradKernel(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const attrs = args.attrs as unknown as KernelAttrs;
  const x = args.inputs['x']!;
  const u = Array.from({ length: 16 }, (_, k) => args.inputs[`u${k}`]!);
  const [batch, height, width, inChannels] = x.shape as [number, number, number, number];
  const outChannels = u[0]!.shape[3]!;
  const { outHeight, outWidth } = attrs;
  const tilesHigh = Math.ceil(outHeight / 2);
  const tilesWide = Math.ceil(outWidth / 2);
  const runtime = runtimeFor(backend);
  const { zero, dummy } = runtime.scratch(4 * Math.max(inChannels, outChannels));
  const biasPtr = args.inputs['bias'] ? backend.getMemoryOffset(args.inputs['bias'].dataId) : zero;
  const conv2d = tf.getKernel(tf.Conv2D, 'wasm')!.kernelFunc;
  const out = backend.makeOutput([batch, outHeight, outWidth, outChannels], 'float32');
  const xBase = backend.getMemoryOffset(x.dataId);
  const yBase = backend.getMemoryOffset(out.dataId);
  const outputTransform = attrs.activation === 'relu' ? runtime.transforms.outputTransformRelu : runtime.transforms.outputTransformLinear;
  const rowsPerBand = Math.max(1, Math.min(tilesHigh, Math.floor(attrs.bandBytes / (16 * tilesWide * inChannels * 4))));
  for (let n = 0; n < batch; n++) {
    const xImage = xBase + n * height * width * inChannels * 4;
    const yImage = yBase + n * outHeight * outWidth * outChannels * 4;
    for (let begin = 0; begin < tilesHigh; begin += rowsPerBand) {
      const end = Math.min(tilesHigh, begin + rowsPerBand);
      // Band temporaries live on the backend only (not engine tensors): freed here, also on a throw.
      const temporaries: tf.TensorInfo[] = [];
      try {
        const planes = Array.from({ length: 16 }, () => backend.makeOutput([1, end - begin, tilesWide, inChannels], 'float32'));
        temporaries.push(...planes);
        const planePtrs = planes.map((plane) => backend.getMemoryOffset(plane.dataId));
        runtime.transforms.inputTransform(xImage, zero, height, width, inChannels * 4, tilesWide, attrs.padTop, attrs.padLeft, begin, end, begin, ...planePtrs);
        const products = planes.map((plane, k) => {
          const product = conv2d({ inputs: { x: plane, filter: u[k]! }, backend, attrs: { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1 } }) as tf.TensorInfo;
          temporaries.push(product);
          return product;
        });
        const productPtrs = products.map((product) => backend.getMemoryOffset(product.dataId));
        outputTransform(yImage, dummy, biasPtr, outHeight, outWidth, outChannels * 4, tilesWide, begin, end, begin, ...productPtrs);
      } finally {
        for (const t of temporaries) backend.disposeData(t.dataId);
      }
    }
  }
  return out;
}
