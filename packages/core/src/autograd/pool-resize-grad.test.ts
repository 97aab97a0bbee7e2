import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { discrepancy, numericGradient } from './grad-check.js';
import { tensorsLeakedBy } from '../testing/leaks.js';
import { installTrainingKernels } from './index.js';
import type { PoolOptions } from './pool-grad.js';

type Shape4D = [number, number, number, number];

/**
 * Distinct values 0.01 apart in a seeded shuffled order, centred on 0 so that some windows are
 * all negative: max-pool is then differentiable with margin 0.005 around every element.
 */
function separatedValues(shape: Shape4D, seed: number): tf.Tensor4D {
  const size = shape.reduce((a, b) => a * b);
  const order = Array.from({ length: size }, (_, i) => i);
  let state = seed;
  for (let i = size - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const j = state % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return tf.tensor4d(order.map((k) => (k - size / 2) * 0.01), shape);
}

/** Plain-loop max-pool gradient with PyTorch's rule: each window's dy goes to its first max. */
function referenceMaxPoolGrad(x: tf.Tensor4D, dy: tf.Tensor4D, options: PoolOptions): Float32Array {
  const info = tf.backend_util.computePool2DInfo(x.shape, options.filterSize, options.strides, 1, options.pad, options.dimRoundingMode);
  const [n, h, w, c] = x.shape;
  const xv = x.dataSync();
  const dyv = dy.dataSync();
  const dx = new Float32Array(x.size);
  const at = (b: number, r: number, q: number, ch: number): number => ((b * h + r) * w + q) * c + ch;
  for (let b = 0; b < n; b++) for (let p = 0; p < info.outHeight; p++) for (let q = 0; q < info.outWidth; q++) for (let ch = 0; ch < c; ch++) {
    let best = -Infinity;
    let bestAt = -1;
    for (let i = 0; i < info.filterHeight; i++) for (let j = 0; j < info.filterWidth; j++) {
      const r = p * info.strideHeight - info.padInfo.top + i;
      const s = q * info.strideWidth - info.padInfo.left + j;
      if (r < 0 || r >= h || s < 0 || s >= w) continue;
      if (xv[at(b, r, s, ch)]! > best) [best, bestAt] = [xv[at(b, r, s, ch)]!, at(b, r, s, ch)];
    }
    dx[bestAt]! += dyv[((b * info.outHeight + p) * info.outWidth + q) * c + ch]!;
  }
  return dx;
}

interface PoolCase {
  name: string;
  x: Shape4D;
  options: PoolOptions;
}

const MAX_POOL_CASES: PoolCase[] = [
  { name: '3x3 s2 pad 1 (ResNet stem), 7x9 batch 2', x: [2, 7, 9, 3], options: { filterSize: 3, strides: 2, pad: 1 } },
  { name: '3x3 s2 pad 1 on even 8x6', x: [1, 8, 6, 2], options: { filterSize: 3, strides: 2, pad: 1 } },
  { name: '3x3 s2 same', x: [2, 7, 9, 2], options: { filterSize: 3, strides: 2, pad: 'same' } },
  { name: '2x2 s2 valid', x: [2, 6, 7, 2], options: { filterSize: 2, strides: 2, pad: 'valid' } },
  { name: '3x3 s1 same', x: [1, 5, 6, 2], options: { filterSize: 3, strides: 1, pad: 'same' } },
  { name: '1x1 s2 valid (kernel smaller than stride)', x: [1, 5, 6, 2], options: { filterSize: 1, strides: 2, pad: 'valid' } },
  { name: '3x2 strides [1,2] explicit', x: [1, 6, 7, 2], options: { filterSize: [3, 2], strides: [1, 2], pad: [[0, 0], [1, 0], [0, 1], [0, 0]] } },
];

const AVG_POOL_CASES: PoolCase[] = [
  { name: '3x3 s2 pad 1, 7x9 batch 2', x: [2, 7, 9, 3], options: { filterSize: 3, strides: 2, pad: 1 } },
  { name: '3x3 s1 same', x: [1, 6, 5, 2], options: { filterSize: 3, strides: 1, pad: 'same' } },
  { name: '3x3 s2 same', x: [1, 7, 8, 2], options: { filterSize: 3, strides: 2, pad: 'same' } },
  { name: '2x2 s2 valid', x: [2, 6, 8, 2], options: { filterSize: 2, strides: 2, pad: 'valid' } },
];

const RESIZE_SIZES: [number, number][] = [[14, 18], [5, 4], [11, 13]];
const RESIZE_MODES = [
  { alignCorners: false, halfPixelCenters: false },
  { alignCorners: true, halfPixelCenters: false },
  { alignCorners: false, halfPixelCenters: true },
];

const maxPool = (t: tf.Tensor, o: PoolOptions): tf.Tensor4D => tf.maxPool(t as tf.Tensor4D, o.filterSize, o.strides, o.pad, o.dimRoundingMode);
const avgPool = (t: tf.Tensor, o: PoolOptions): tf.Tensor4D => tf.avgPool(t as tf.Tensor4D, o.filterSize, o.strides, o.pad, o.dimRoundingMode);

/** Analytic gradient of sum(f(x) * dy) against central differences; returns the relative error. */
function fdError(f: (t: tf.Tensor) => tf.Tensor, x: tf.Tensor, eps: number): number {
  return tf.tidy(() => {
    const dy = tf.randomNormal(f(x).shape, 0, 1, 'float32', 5);
    const loss = (t: tf.Tensor): tf.Scalar => tf.sum(tf.mul(f(t), dy));
    const analytic = tf.grad(loss)(x);
    return discrepancy(analytic, numericGradient(loss, x, eps)).relative;
  });
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`autograd/pool and resize gradients on ${backend}`, () => {
    before(async () => {
      await initBackend({ backend, threads: backend === 'wasm' ? 2 : 1, verbose: false });
      installTrainingKernels();
    });

    for (const c of MAX_POOL_CASES) {
      it(`maxPool ${c.name}: matches finite differences`, () => {
        const leaked = tensorsLeakedBy(() => {
          const x = separatedValues(c.x, 7);
          // Values are 0.01 apart: eps 4e-3 never changes which element is a window's max.
          expect(fdError((t) => maxPool(t, c.options), x, 4e-3)).to.be.below(1e-3);
          x.dispose();
        });
        expect(leaked, 'tensors leaked').to.equal(0);
      });

      it(`maxPool ${c.name}: ties after ReLU go to the first max, like PyTorch`, () => {
        const leaked = tensorsLeakedBy(() => {
          tf.tidy(() => {
            // Rounded ReLU output: most windows hold repeated values, many are all zero.
            const x = tf.relu(tf.round(tf.randomNormal(c.x, 0, 1, 'float32', 9))) as tf.Tensor4D;
            const dy = tf.randomNormal(maxPool(x, c.options).shape, 0, 1, 'float32', 10) as tf.Tensor4D;
            const [dx] = tf.grads((t: tf.Tensor) => maxPool(t, c.options))([x], dy);
            expect(discrepancy(dx!, referenceMaxPoolGrad(x, dy, c.options)).maxAbs).to.be.below(1e-6);
          });
        });
        expect(leaked, 'tensors leaked').to.equal(0);
      });
    }

    if (backend === 'cpu') {
      it('maxPool gradient equals tfjs\'s cpu MaxPoolGrad kernel', () => {
        tf.tidy(() => {
          for (const c of MAX_POOL_CASES) {
            const x = separatedValues(c.x, 3);
            const y = maxPool(x, c.options);
            const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 4);
            const [ours] = tf.grads((t: tf.Tensor) => maxPool(t, c.options))([x], dy);
            const kernel = tf.engine().runKernel(tf.MaxPoolGrad, { dy, input: x, output: y }, { ...c.options } as unknown as tf.NamedAttrMap) as tf.Tensor;
            // Not bit-equal: overlapping windows add their contributions in a different order.
            expect(discrepancy(ours!, kernel).maxAbs, c.name).to.be.below(1e-6);
          }
        });
      });
    }

    for (const c of AVG_POOL_CASES) {
      it(`avgPool ${c.name}: matches finite differences`, () => {
        const leaked = tensorsLeakedBy(() => {
          const x = tf.randomNormal(c.x, 0, 1, 'float32', 8);
          expect(fdError((t) => avgPool(t, c.options), x, 1)).to.be.below(1e-4);
          x.dispose();
        });
        expect(leaked, 'tensors leaked').to.equal(0);
      });
    }

    for (const size of RESIZE_SIZES) {
      for (const mode of RESIZE_MODES) {
        const label = `${size.join('x')} from 7x9, alignCorners ${mode.alignCorners}, halfPixelCenters ${mode.halfPixelCenters}`;
        it(`resizeBilinear ${label}: matches finite differences`, () => {
          const leaked = tensorsLeakedBy(() => {
            const x = tf.randomNormal([2, 7, 9, 3], 0, 1, 'float32', 6);
            const f = (t: tf.Tensor): tf.Tensor => tf.image.resizeBilinear(t as tf.Tensor4D, size, mode.alignCorners, mode.halfPixelCenters);
            expect(fdError(f, x, 1)).to.be.below(1e-4);
            x.dispose();
          });
          expect(leaked, 'tensors leaked').to.equal(0);
        });

        it(`resizeNearestNeighbor ${label}: matches finite differences`, () => {
          const leaked = tensorsLeakedBy(() => {
            const x = tf.randomNormal([2, 7, 9, 3], 0, 1, 'float32', 6);
            const f = (t: tf.Tensor): tf.Tensor => tf.image.resizeNearestNeighbor(t as tf.Tensor4D, size, mode.alignCorners, mode.halfPixelCenters);
            expect(fdError(f, x, 1)).to.be.below(1e-4);
            x.dispose();
          });
          expect(leaked, 'tensors leaked').to.equal(0);
        });
      }
    }
  });
}
