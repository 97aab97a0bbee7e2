/**
 * Helpers for the plugin tests: NCHW arrays in plain JS (float64), so each plugin can be checked
 * against a direct transcription of mmcv's NCHW code, independent of the NHWC tensor code under
 * test. Also the schema-validated build of a plugin config, without touching the global
 * registry (which other packages' tests share).
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigValidationError,
  initBackend,
  tfjsToTorch,
  torchShapeOf,
  torchToTfjs,
  validateComponent,
  withoutLeaks,
  type ComponentConfig,
  type Module,
} from '@tsdet/core';
import { seededRandom } from '@tsdet/core';
import { PLUGIN_DESCRIPTORS } from './index.js';

/** A float64 NCHW tensor in plain JS. */
export interface Nchw {
  shape: [number, number, number, number];
  data: Float64Array;
}

export function nchwZeros(shape: [number, number, number, number]): Nchw {
  return { shape, data: new Float64Array(shape.reduce((a, b) => a * b, 1)) };
}

/** Flat index of (n, c, y, x). */
export function idx(t: Nchw, n: number, c: number, y: number, x: number): number {
  const [, channels, h, w] = t.shape;
  return ((n * channels + c) * h + y) * w + x;
}

/** Standard normal samples from a seeded uniform source (Box-Muller). */
export function gaussianSource(seed: number): () => number {
  const uniform = seededRandom(seed);
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

export function randomNchw(shape: [number, number, number, number], seed: number, scale = 1): Nchw {
  const normal = gaussianSource(seed);
  const t = nchwZeros(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = normal() * scale;
  return t;
}

/** The NHWC tensor holding the same values (what the port computes on). */
export function toNhwc(t: Nchw): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(t.data), t.shape), [0, 2, 3, 1]));
}

/** Reads an NHWC tensor back as NCHW (float64 copy). */
export function fromNhwc(t: tf.Tensor4D): Nchw {
  const [n, h, w, c] = t.shape;
  const nchw = tf.tidy(() => tf.transpose(t, [0, 3, 1, 2]));
  const data = Float64Array.from(nchw.dataSync());
  nchw.dispose();
  return { shape: [n, c, h, w], data };
}

/** A parameter in PyTorch layout, as float64. */
export interface TorchParam {
  shape: number[];
  data: Float64Array;
}

/**
 * Every parameter of a module in PyTorch layout (what mmcv's code indexes). Buffers are left
 * out: the references need none, and GeneralizedAttention's local_constraint_map is large.
 */
export function torchParams(module: Module): Map<string, TorchParam> {
  const out = new Map<string, TorchParam>();
  for (const [key, p] of module.namedParameters()) {
    const torch = tfjsToTorch(p.layout, { shape: p.variable.shape, data: Float32Array.from(p.variable.dataSync()) });
    out.set(key, { shape: torch.shape, data: Float64Array.from(torch.data) });
  }
  return out;
}

/**
 * Replaces every parameter (not buffer) with N(0, scale^2) values drawn in PyTorch layout, so
 * a reference indexing PyTorch shapes sees the same numbers whatever the tfjs layout is.
 */
export function randomizeParameters(module: Module, seed: number, scale = 0.5): void {
  const normal = gaussianSource(seed);
  for (const [, p] of module.namedParameters()) {
    const shape = torchShapeOf(p.layout, p.variable.shape);
    const torch = { shape, data: Float32Array.from({ length: p.variable.size }, () => normal() * scale) };
    const converted = torchToTfjs(p.layout, torch);
    tf.tidy(() => p.variable.assign(tf.tensor(converted.data, converted.shape)));
  }
}

/** out[n, o, p] = sum_i W[o, i] x[n, i, p] + b[o], W as PyTorch's [O, I, 1, 1]. */
export function conv1x1(x: Nchw, weight: TorchParam, bias?: TorchParam): Nchw {
  const [n, cin, h, w] = x.shape;
  const cout = weight.shape[0]!;
  const out = nchwZeros([n, cout, h, w]);
  const plane = h * w;
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < cout; o++) {
      for (let p = 0; p < plane; p++) {
        let sum = bias ? bias.data[o]! : 0;
        for (let i = 0; i < cin; i++) sum += weight.data[o * cin + i]! * x.data[(b * cin + i) * plane + p]!;
        out.data[(b * cout + o) * plane + p] = sum;
      }
    }
  }
  return out;
}

/** In-place softmax of a row. */
export function softmaxRow(row: Float64Array | number[]): void {
  const max = Math.max(...row);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += row[i] = Math.exp(row[i]! - max);
  for (let i = 0; i < row.length; i++) row[i]! /= sum;
}

/** |actual - expected| <= atol + rtol * |expected| everywhere; the message names the worst entry. */
export function expectClose(actual: Nchw, expected: Nchw, atol = 1e-4, rtol = 1e-4): void {
  expect(actual.shape).to.deep.equal(expected.shape);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const excess = Math.abs(actual.data[i]! - expected.data[i]!) - (atol + rtol * Math.abs(expected.data[i]!));
    if (!(excess <= worstExcess)) [worst, worstExcess] = [i, Number.isNaN(excess) ? Infinity : excess];
  }
  if (worst >= 0) expect.fail(`element ${worst}: got ${actual.data[worst]}, expected ${expected.data[worst]} (atol ${atol}, rtol ${rtol})`);
}

/** Max |value| of an NCHW array: lets tests assert that a term really contributes. */
export function maxAbsDiff(a: Nchw, b: Nchw): number {
  return a.data.reduce((m, v, i) => Math.max(m, Math.abs(v - b.data[i]!)), 0);
}

const pluginLookup: Parameters<typeof validateComponent>[3] = {
  find: (kind, type) => (kind === 'MODELS' ? PLUGIN_DESCRIPTORS.find((d) => d.type === type) : undefined),
  types: (kind) => (kind === 'MODELS' ? PLUGIN_DESCRIPTORS.map((d) => d.type) : []),
};

/**
 * What MODELS.build does for a plugin config: schema validation with defaults, then the
 * descriptor's builder; on the plugin descriptors only, so no global registry is touched.
 */
export function buildFromConfig<T>(cfg: ComponentConfig): T {
  const { issues, value } = validateComponent('MODELS', cfg, 'plugin', pluginLookup);
  if (issues.length) throw new ConfigValidationError(issues, 'plugin');
  const config = value as ComponentConfig;
  const descriptor = pluginLookup.find('MODELS', config.type)!;
  return descriptor.build(config, { path: 'plugin', build: () => expect.fail('plugins build no nested components') }) as T;
}

/** Asserts that building `cfg` fails on schema validation, with a message mentioning `pattern`. */
export function expectConfigError(cfg: ComponentConfig, pattern: RegExp): void {
  expect(() => buildFromConfig(cfg))
    .to.throw(ConfigValidationError)
    .with.property('message')
    .that.matches(pattern);
}

describe('plugin test helpers (NCHW reference)', () => {
  before(() => initBackend({ backend: 'cpu', verbose: false }));

  it('round-trips NCHW data through the NHWC layout', async () => {
    await withoutLeaks(() => {
      const x = randomNchw([2, 3, 5, 7], 1);
      const t = toNhwc(x);
      expect(t.shape).to.deep.equal([2, 5, 7, 3]);
      // NHWC [n, y, x, c] holds NCHW [n, c, y, x].
      expect(t.arraySync()[1]![4]![6]![2]).to.be.closeTo(x.data[idx(x, 1, 2, 4, 6)]!, 1e-6);
      expectClose(fromNhwc(t), x, 1e-6, 0);
      t.dispose();
    });
  });

  it('conv1x1 on NCHW arrays agrees with the NHWC Conv2d loaded from the same PyTorch weights', async () => {
    const { Conv2d } = await import('../layers/conv2d.js');
    const conv = new Conv2d({ inChannels: 3, outChannels: 4, kernelSize: 1, bias: true, init: 'torch' });
    const x = randomNchw([1, 3, 3, 5], 2);
    await withoutLeaks(() => {
      const out = tf.tidy(() => conv.forward(toNhwc(x)));
      const p = torchParams(conv);
      expectClose(fromNhwc(out), conv1x1(x, p.get('weight')!, p.get('bias')!), 1e-5);
      out.dispose();
    });
    conv.dispose();
  });

  it('expectClose fails on a real difference', () => {
    const a = randomNchw([1, 1, 2, 2], 3);
    const b: Nchw = { shape: a.shape, data: a.data.map((v, i) => (i === 2 ? v + 0.1 : v)) };
    expect(() => expectClose(b, a, 1e-3)).to.throw(/element 2/);
  });
});
