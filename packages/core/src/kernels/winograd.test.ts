import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { discrepancy } from '../autograd/grad-check.js';
import { tensorsLeakedBy } from '../testing/leaks.js';
import { setWinogradBandBytes, winogradApplies, winogradConv2d, winogradFilter, withWinogradMode, WINOGRAD_KERNEL } from './winograd.js';

/** Direct 3x3 convolution in float64 (NHWC, HWIO), zero padding pad above/left, output outH x outW. */
function referenceConv(x: tf.Tensor4D, filter: tf.Tensor4D, bias: Float32Array | undefined, pad: number, outH: number, outW: number, relu: boolean): Float64Array {
  const [n, h, w, c] = x.shape;
  const k = filter.shape[3];
  const xs = x.dataSync();
  const fs = filter.dataSync();
  const out = new Float64Array(n * outH * outW * k);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        for (let o = 0; o < k; o++) {
          let sum = bias ? bias[o]! : 0;
          for (let i = 0; i < 3; i++) {
            const iy = oy - pad + i;
            if (iy < 0 || iy >= h) continue;
            for (let j = 0; j < 3; j++) {
              const ix = ox - pad + j;
              if (ix < 0 || ix >= w) continue;
              for (let ci = 0; ci < c; ci++) sum += xs[((b * h + iy) * w + ix) * c + ci]! * fs[((i * 3 + j) * c + ci) * k + o]!;
            }
          }
          out[((b * outH + oy) * outW + ox) * k + o] = relu ? Math.max(sum, 0) : sum;
        }
      }
    }
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('kernels/winograd F(2x2, 3x3) on wasm', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', threads: 2, verbose: false });
  });
  afterEach(() => setWinogradBandBytes(8 * 1024 * 1024));

  const cases = [
    { name: 'odd sizes, padding 1, ReLU, bias', n: 1, h: 7, w: 9, c: 8, k: 12, pad: 1, relu: true, bias: true },
    { name: 'batch 2, even sizes, linear, no bias', n: 2, h: 6, w: 8, c: 4, k: 8, pad: 1, relu: false, bias: false },
    { name: 'padding 0 (valid), odd output', n: 1, h: 9, w: 6, c: 12, k: 4, pad: 0, relu: false, bias: true },
    { name: 'a 1x1 image', n: 1, h: 1, w: 1, c: 4, k: 4, pad: 1, relu: true, bias: true },
    { name: 'wide channels', n: 1, h: 5, w: 5, c: 64, k: 36, pad: 1, relu: true, bias: true },
  ];
  for (const t of cases) {
    it(`matches a float64 direct convolution within 4x the direct conv's float32 error: ${t.name}`, () => {
      const x = tf.randomNormal([t.n, t.h, t.w, t.c], 0, 1, 'float32', 1) as tf.Tensor4D;
      const filter = tf.randomNormal([3, 3, t.c, t.k], 0, Math.sqrt(2 / (9 * t.c)), 'float32', 2) as tf.Tensor4D;
      const bias = t.bias ? (tf.randomNormal([t.k], 0, 1, 'float32', 3) as tf.Tensor1D) : undefined;
      const outH = t.h + 2 * t.pad - 2;
      const outW = t.w + 2 * t.pad - 2;
      const planes = winogradFilter(filter);
      const reference = referenceConv(x, filter, bias?.dataSync() as Float32Array | undefined, t.pad, outH, outW, t.relu);
      const ours = winogradConv2d({ x, transformedFilter: planes, bias, padTop: t.pad, padLeft: t.pad, outHeight: outH, outWidth: outW, activation: t.relu ? 'relu' : 'linear' });
      const direct = tf.fused.conv2d({ x, filter, bias, strides: 1, pad: [[0, 0], [t.pad, t.pad], [t.pad, t.pad], [0, 0]], activation: t.relu ? 'relu' : 'linear' });
      expect(ours.shape).to.deep.equal([t.n, outH, outW, t.k]);
      const directError = maxAbsDiff(direct.dataSync(), reference);
      const ourError = maxAbsDiff(ours.dataSync(), reference);
      // F(2x2, 3x3) adds a few roundings per output; 1e-6 floors the bound where direct is exact.
      expect(ourError).to.be.below(Math.max(4 * directError, 1e-6));
      tf.dispose([x, filter, ours, direct, ...planes]);
      bias?.dispose();
    });
  }

  it('gives the same result however the tile rows are split into bands', () => {
    const x = tf.randomNormal([2, 13, 10, 16], 0, 1, 'float32', 4) as tf.Tensor4D;
    const filter = tf.randomNormal([3, 3, 16, 8], 0, 0.2, 'float32', 5) as tf.Tensor4D;
    const planes = winogradFilter(filter);
    const run = () => winogradConv2d({ x, transformedFilter: planes, padTop: 1, padLeft: 1, outHeight: 13, outWidth: 10, activation: 'linear' });
    const whole = run();
    setWinogradBandBytes(1); // one tile row per band
    const banded = run();
    expect(discrepancy(banded, whole).maxAbs).to.equal(0);
    tf.dispose([x, filter, whole, banded, ...planes]);
  });

  it('leaves no tensors behind and records one kernel', async () => {
    const x = tf.randomNormal([1, 12, 12, 32], 0, 1, 'float32', 6) as tf.Tensor4D;
    const filter = tf.randomNormal([3, 3, 32, 32], 0, 0.1, 'float32', 7) as tf.Tensor4D;
    const planes = winogradFilter(filter);
    const leaked = tensorsLeakedBy(() => {
      tf.dispose(winogradConv2d({ x, transformedFilter: planes, padTop: 1, padLeft: 1, outHeight: 12, outWidth: 12, activation: 'relu' }));
    });
    expect(leaked).to.equal(0);
    const profile = await tf.profile(() => winogradConv2d({ x, transformedFilter: planes, padTop: 1, padLeft: 1, outHeight: 12, outWidth: 12, activation: 'relu' }));
    expect(profile.kernelNames).to.deep.equal([WINOGRAD_KERNEL]);
    tf.dispose([x, filter, ...planes]);
  });

  it('refuses arguments the kernels would write past a buffer with, naming them', () => {
    const leaked = tensorsLeakedBy(() => {
      tf.tidy(() => {
        const x = tf.zeros([1, 4, 4, 8]) as tf.Tensor4D;
        const planes = winogradFilter(tf.zeros([3, 3, 8, 8]) as tf.Tensor4D);
        const args = { x, transformedFilter: planes, padTop: 1, padLeft: 1, outHeight: 4, outWidth: 4, activation: 'linear' as const };
        const odd = tf.zeros([1, 4, 4, 6]) as tf.Tensor4D;
        const oddPlanes = winogradFilter(tf.zeros([3, 3, 6, 8]) as tf.Tensor4D);
        expect(() => winogradConv2d({ ...args, x: odd, transformedFilter: oddPlanes })).to.throw(/channels must be divisible by 4, got 6 in and 8 out/);
        expect(() => winogradConv2d({ ...args, x: odd })).to.throw(/transformed filter 0 is \[1, 1, 8, 8\], expected \[1, 1, 6, 8\]/);
        expect(() => winogradConv2d({ ...args, transformedFilter: planes.slice(1) })).to.throw(/expected 16 transformed filters, got 15/);
        expect(() => winogradConv2d({ ...args, bias: tf.zeros([4]) as tf.Tensor1D })).to.throw(/bias is \[4\], expected \[8\]/);
        expect(() => winogradConv2d({ ...args, outHeight: 0 })).to.throw(/outHeight must be an integer >= 1, got 0/);
        expect(() => winogradConv2d({ ...args, padLeft: 0.5 })).to.throw(/padLeft must be an integer >= 0, got 0.5/);
      });
    });
    expect(leaked).to.equal(0);
  });

  it('winogradFilter refuses a filter that is not 3x3', () => {
    const filter = tf.zeros([5, 5, 4, 4]) as tf.Tensor4D;
    expect(() => winogradFilter(filter)).to.throw(/expected a 3x3 filter, got 5x5/);
    filter.dispose();
  });

  describe('winogradApplies', () => {
    const geometry = (filterShape: number[], stride = 1, dilation = 1) => ({ filterShape, strides: [stride, stride] as const, dilations: [dilation, dilation] as const });

    it('auto: 3x3 stride-1 undilated convs with at least 32 channels (divisible by 4) in and out', () => {
      expect(winogradApplies(geometry([3, 3, 256, 256]))).to.equal(true);
      expect(winogradApplies(geometry([3, 3, 64, 32]))).to.equal(true);
      expect(winogradApplies(geometry([3, 3, 16, 16])), 'narrow: direct is faster').to.equal(false);
      expect(winogradApplies(geometry([3, 3, 256, 256], 2)), 'stride 2').to.equal(false);
      expect(winogradApplies(geometry([3, 3, 256, 256], 1, 2)), 'dilation 2').to.equal(false);
      expect(winogradApplies(geometry([1, 1, 256, 256])), '1x1').to.equal(false);
      expect(winogradApplies(geometry([3, 3, 258, 256])), 'channels not divisible by 4').to.equal(false);
    });

    it("'always' takes every eligible conv, 'never' none", () => {
      withWinogradMode('always', () => {
        expect(winogradApplies(geometry([3, 3, 16, 16]))).to.equal(true);
        expect(winogradApplies(geometry([3, 3, 6, 16]))).to.equal(false);
      });
      withWinogradMode('never', () => expect(winogradApplies(geometry([3, 3, 256, 256]))).to.equal(false));
    });
  });
});

describe('kernels/winograd on the single-threaded wasm build (unshared memory)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', threads: 1, verbose: false });
  });
  after(async () => {
    await initBackend({ backend: 'wasm', threads: 2, verbose: false });
  });

  it('gives the direct convolution within float32 noise', () => {
    const x = tf.randomNormal([1, 9, 7, 32], 0, 1, 'float32', 8) as tf.Tensor4D;
    const filter = tf.randomNormal([3, 3, 32, 32], 0, 0.1, 'float32', 9) as tf.Tensor4D;
    const planes = winogradFilter(filter);
    const ours = winogradConv2d({ x, transformedFilter: planes, padTop: 1, padLeft: 1, outHeight: 9, outWidth: 7, activation: 'relu' });
    const direct = tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', activation: 'relu' });
    expect(discrepancy(ours, direct).maxAbs).to.be.below(1e-4);
    tf.dispose([x, filter, ours, direct, ...planes]);
  });
});

describe('kernels/winograd on cpu', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', verbose: false });
  });
  it('never applies: the kernels are wasm code working on its heap', () => {
    expect(winogradApplies({ filterShape: [3, 3, 256, 256], strides: [1, 1], dilations: [1, 1] })).to.equal(false);
  });
});
