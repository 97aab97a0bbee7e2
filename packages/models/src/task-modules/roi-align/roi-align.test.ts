/**
 * RoIAlign forward and backward against a direct transcription of mmcv's kernels, the backward
 * against the exact transpose of the forward and against finite differences, on cpu and wasm:
 * aligned true/false, sampling_ratio 0/2, rois partly or fully outside the map, sub-pixel and
 * zero-size rois, several images and levels, and the chunked scatter.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, withoutLeaks, type BackendName } from '@tsdet/core';
import { expectAllClose, scoped } from '../test-support.test.js';
import { seededRandom as seededUniform } from '@tsdet/core';
import { referenceRoiAlign, referenceRoiAlignBackward, type Nhwc, type ReferenceOptions } from './roi-align-reference.test.js';
import { multiLevelRoiAlign, roiAlign, weightedScatter, type RoiAlignOptions } from './roi-align.js';
import { buildSamplingPlan } from './sampling-plan.js';

function randomNhwc(shape: Nhwc['shape'], seed: number): Nhwc {
  const uniform = seededUniform(seed);
  return { shape, data: Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => uniform() * 2 - 1) };
}

function tensorOf(t: Nhwc): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(t.data), t.shape);
}

/** Image-pixel rois for features of 9 x 11 at spatial scale 0.5 (an 18 x 22 image), batch 2. */
const ROIS: number[][] = [
  [0, 2.3, 3.1, 14.7, 12.9], // inside
  [1, -6.2, -4.5, 8.3, 7.7], // partly outside, top left
  [1, 12.4, 8.2, 30.6, 25.1], // partly outside, bottom right
  [0, 5.13, 6.27, 5.61, 6.52], // sub-pixel
  [0, 7, 7, 7, 7], // zero size
  [1, 0, 0, 22, 18], // the whole image
  [0, 40, 40, 50, 50], // entirely outside
  [1, 3.7, 1.2, 19.9, 4.4], // wide and flat
];

const SHAPE: Nhwc['shape'] = [2, 9, 11, 3];
/** Channels divisible by 4: on wasm the sparse products run as core's weightedScatterAdd kernel, not tfjs ops. */
const VECTOR_SHAPE: Nhwc['shape'] = [2, 9, 11, 8];

const VARIANTS: { name: string; options: RoiAlignOptions }[] = [
  { name: 'aligned, adaptive sampling', options: { outputSize: [3, 4], spatialScale: 0.5, samplingRatio: 0, aligned: true } },
  { name: 'aligned, sampling_ratio 2', options: { outputSize: [3, 4], spatialScale: 0.5, samplingRatio: 2, aligned: true } },
  { name: 'not aligned, adaptive sampling', options: { outputSize: [4, 3], spatialScale: 0.5, samplingRatio: 0, aligned: false } },
  { name: 'not aligned, sampling_ratio 2', options: { outputSize: 2, spatialScale: 0.5, samplingRatio: 2, aligned: false } },
];

function referenceOptions(o: RoiAlignOptions): ReferenceOptions {
  const [outH, outW] = typeof o.outputSize === 'number' ? [o.outputSize, o.outputSize] : o.outputSize;
  return { outH, outW, spatialScale: o.spatialScale ?? 1, samplingRatio: o.samplingRatio ?? 0, aligned: o.aligned ?? true };
}

/** Output and d(sum(output * projection))/d features of our RoIAlign. */
function forwardAndGrad(features: Nhwc, rois: number[][], options: RoiAlignOptions, projection: Float64Array): { out: Float32Array; grad: Float32Array; roiGrad: Float32Array } {
  return scoped(() => {
    const x = tensorOf(features);
    const r = tf.tensor2d(rois.flat(), [rois.length, 5]);
    const out = roiAlign(x, r, options);
    const proj = tf.tensor(Float32Array.from(projection), out.shape);
    const [grad, roiGrad] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(roiAlign(a as tf.Tensor4D, b as tf.Tensor2D, options), proj)))([x, r]);
    return { out: out.dataSync() as Float32Array, grad: grad!.dataSync() as Float32Array, roiGrad: roiGrad!.dataSync() as Float32Array };
  });
}

/** The dense forward matrix A (outputs x inputs), column i = forward of the i-th unit map. */
function denseForwardMatrix(shape: Nhwc['shape'], rois: number[][], options: RoiAlignOptions): Float32Array[] {
  const size = shape.reduce((a, b) => a * b, 1);
  const columns: Float32Array[] = [];
  for (let i = 0; i < size; i++) {
    const unit: Nhwc = { shape, data: new Float64Array(size) };
    unit.data[i] = 1;
    columns.push(scoped(() => roiAlign(tensorOf(unit), tf.tensor2d(rois.flat(), [rois.length, 5]), options).dataSync() as Float32Array));
  }
  return columns;
}

for (const backend of ['cpu', 'wasm'] as BackendName[]) {
  describe(`roiAlign (${backend})`, () => {
    before(() => initBackend({ backend, threads: 1, verbose: false }));

    for (const [shape, { name, options }] of [SHAPE, VECTOR_SHAPE].flatMap((s) => VARIANTS.map((v) => [s, v] as const))) {
      describe(`${name}, ${shape[3]} channels`, () => {
        const features = randomNhwc(shape, 11);
        const reference = referenceRoiAlign(features, ROIS, referenceOptions(options));
        const projection = randomNhwc(reference.shape, 12).data;

        it('forward equals mmcv (reference transcription) and has shape [K, outH, outW, C]', async () => {
          const { out } = await withoutLeaks(() => forwardAndGrad(features, ROIS, options, projection));
          expectAllClose(out, reference.data, 1e-5);
          // The roi outside the band and the zero-size roi (adaptive grid 0) pool to zeros; the others do not.
          const cells = reference.shape[1] * reference.shape[2] * reference.shape[3];
          expect(out.subarray(6 * cells, 7 * cells).every((v) => v === 0)).to.equal(true);
          expect(out.subarray(0, cells).some((v) => v !== 0)).to.equal(true);
        });

        it('backward equals mmcv roi_align_backward; the rois get a zero gradient', async () => {
          const { grad, roiGrad } = await withoutLeaks(() => forwardAndGrad(features, ROIS, options, projection));
          expectAllClose(grad, referenceRoiAlignBackward(projection, shape, ROIS, referenceOptions(options)), 1e-5);
          expect(Array.from(roiGrad)).to.deep.equal(new Array(ROIS.length * 5).fill(0));
        });
      });
    }

    it('backward is the exact transpose of the forward (dense probe, every variant)', async () => {
      const shape: Nhwc['shape'] = [1, 4, 5, 2];
      const rois = [[0, -1.3, 0.4, 6.2, 5.1], [0, 2.2, 1.7, 2.9, 2.05], [0, 3.5, -2, 12, 9.5]];
      for (const { options } of VARIANTS) {
        const a = denseForwardMatrix(shape, rois, { ...options, spatialScale: 1 });
        const projection = randomNhwc([rois.length, 4, 4, 2], 5).data.subarray(0, a[0]!.length);
        const transpose = a.map((column) => column.reduce((sum, v, j) => sum + v * projection[j]!, 0));
        const { grad } = await withoutLeaks(() => forwardAndGrad(randomNhwc(shape, 3), rois, { ...options, spatialScale: 1 }, projection));
        expectAllClose(grad, transpose, 1e-6);
        expect(transpose.some((v) => v !== 0)).to.equal(true);
      }
    });

    it('backward agrees with central finite differences', async () => {
      const shape: Nhwc['shape'] = [1, 5, 6, 2];
      const rois = [[0, 0.6, 1.1, 9.4, 8.2], [0, 4.4, 3.3, 5.1, 4.0]];
      const options: RoiAlignOptions = { outputSize: 2, spatialScale: 0.6, samplingRatio: 0, aligned: true };
      const features = randomNhwc(shape, 8);
      const projection = randomNhwc([2, 2, 2, 2], 9).data;
      const loss = (values: Float64Array) => {
        const out = tf.tidy(() => roiAlign(tensorOf({ shape, data: values }), tf.tensor2d(rois.flat(), [2, 5]), options));
        const sum = Array.from(out.dataSync()).reduce((s, v, i) => s + v * projection[i]!, 0);
        out.dispose();
        return sum;
      };
      const eps = 0.25;
      const numeric = Array.from(features.data, (_, i) => {
        const [plus, minus] = [Float64Array.from(features.data), Float64Array.from(features.data)];
        plus[i]! += eps;
        minus[i]! -= eps;
        return (loss(plus) - loss(minus)) / (2 * eps);
      });
      const { grad } = await withoutLeaks(() => forwardAndGrad(features, rois, options, projection));
      expectAllClose(grad, numeric, 1e-4);
    });

    it('pools several levels in one op, each roi from its own level, in roi order', async () => {
      const fine = randomNhwc([2, 12, 14, 3], 21);
      const coarse = randomNhwc([2, 6, 7, 3], 22);
      const levelOf = [1, 0, 1, 0, 0];
      const rois = [[1, 2, 3, 20, 19], [0, 1.5, 2.5, 9, 7], [0, 10, 0, 27, 11], [1, 4, 4, 6.5, 5], [0, 25, 20, 30, 24]];
      const options = { outputSize: 3, samplingRatio: 0, aligned: true } as const;
      const out = await withoutLeaks(() => {
        const result = tf.tidy(() => multiLevelRoiAlign([tensorOf(fine), tensorOf(coarse)], tf.tensor2d(rois.flat(), [5, 5]), levelOf, [0.5, 0.25], options));
        const values = result.dataSync() as Float32Array;
        result.dispose();
        return values;
      });
      const cells = 3 * 3 * 3;
      rois.forEach((roi, k) => {
        const [map, scale] = levelOf[k] === 0 ? [fine, 0.5] : [coarse, 0.25];
        const expected = referenceRoiAlign(map, [roi], { outH: 3, outW: 3, spatialScale: scale, samplingRatio: 0, aligned: true });
        expectAllClose(out.subarray(k * cells, (k + 1) * cells), expected.data, 1e-5);
      });
    });

    it('counts samples exactly on y = -1 and y = H (snapped into the map) and drops those just beyond', async () => {
      // f[y][x] = 10 y + x on a 4 x 5 map; not aligned, one sample per bin, at x = 0.5.
      const map: Nhwc = { shape: [1, 4, 5, 1], data: Float64Array.from({ length: 20 }, (_, i) => 10 * Math.floor(i / 5) + (i % 5)) };
      const rois = [
        [0, 0, 3, 1, 5], // sample y = 3 + 0.5 * 2 = 4 = H: the last row
        [0, 0, -3, 1, 1], // sample y = -3 + 0.5 * 4 = -1: clamped onto row 0
        [0, 0, -3.2, 1, 1], // sample y = -1.1: outside, contributes 0
      ];
      const options: RoiAlignOptions = { outputSize: 1, samplingRatio: 1, aligned: false };
      const { out } = await withoutLeaks(() => forwardAndGrad(map, rois, options, new Float64Array(3)));
      expectAllClose(out, [30.5, 0.5, 0], 1e-6);
      expectAllClose(out, referenceRoiAlign(map, rois, referenceOptions(options)).data, 1e-6);
    });

    it('takes zero rois: [0, outH, outW, C] out, a zero gradient back', async () => {
      await withoutLeaks(() => {
        tf.tidy(() => {
          const x = tensorOf(randomNhwc([1, 4, 4, 2], 1));
          const rois = tf.zeros([0, 5]) as tf.Tensor2D;
          expect(roiAlign(x, rois, { outputSize: 7 }).shape).to.deep.equal([0, 7, 7, 2]);
          const grad = tf.grad((f: tf.Tensor) => tf.sum(roiAlign(f as tf.Tensor4D, rois, { outputSize: 7 })))(x);
          expect(Array.from(grad.dataSync()).every((v) => v === 0)).to.equal(true);
        });
      });
    });

    it('rejects a negative roi size when aligned (as mmcv), bad batch indices and bad roi shapes', () => {
      tf.tidy(() => {
        const x = tensorOf(randomNhwc([1, 4, 4, 1], 1));
        expect(() => roiAlign(x, tf.tensor2d([[0, 3, 0, 1, 2]]), { outputSize: 2 })).to.throw(RangeError, /roi 0 has a negative size/);
        expect(roiAlign(x, tf.tensor2d([[0, 3, 0, 1, 2]]), { outputSize: 2, aligned: false }).shape).to.deep.equal([1, 2, 2, 1]);
        expect(() => roiAlign(x, tf.tensor2d([[1, 0, 0, 1, 1]]), { outputSize: 2 })).to.throw(RangeError, /batch index 1, the features have 1 image/);
        expect(() => roiAlign(x, tf.tensor2d([[0, 0, 1, 1]]), { outputSize: 2 })).to.throw(/rois must be \[K, 5\]/);
      });
    });

    it('chunks the scatter into output bands, also when one output row has more entries than a chunk', async () => {
      const rows = tf.tensor2d([1, 2, 10, 20, 100, 200, 1000, 2000], [4, 2]);
      // Entries sorted by destination; destination 2 has 5 entries (more than a chunk of 3).
      const to = Int32Array.from([0, 0, 2, 2, 2, 2, 2, 5, 7]);
      const from = Int32Array.from([0, 1, 0, 1, 2, 3, 3, 2, 0]);
      const weights = Float32Array.from([1, 2, 1, 1, 1, 1, -1, 0.5, 3]);
      const expected = new Float64Array(8 * 2);
      to.forEach((t, e) => [0, 1].forEach((c) => (expected[t * 2 + c]! += weights[e]! * [1, 2, 10, 20, 100, 200, 1000, 2000][from[e]! * 2 + c]!)));
      await withoutLeaks(() => {
        for (const chunk of [1, 2, 3, 4, 100]) {
          const out = weightedScatter([{ rows, from, to, weights }], 8, chunk);
          expect(out.shape).to.deep.equal([8, 2]);
          expectAllClose(out.dataSync(), expected, 1e-4);
          out.dispose();
        }
      });
      rows.dispose();
    });

    it('matches the reference with more entries than one chunk (65536)', async () => {
      const features = randomNhwc([1, 40, 40, 2], 31);
      const uniform = seededUniform(32);
      const rois = Array.from({ length: 240 }, () => {
        const [x, y, s] = [uniform() * 70, uniform() * 70, 12 + uniform() * 20];
        return [0, x, y, x + s, y + s * (0.5 + uniform())];
      });
      const options: RoiAlignOptions = { outputSize: 7, spatialScale: 0.5, samplingRatio: 0, aligned: true };
      const plan = buildSamplingPlan(Float32Array.from(rois.flat()), new Int32Array(rois.length), [{ batch: 1, height: 40, width: 40, spatialScale: 0.5 }], options);
      expect(plan.levels[0]!.cells.length).to.be.above(65536);
      const reference = referenceRoiAlign(features, rois, referenceOptions(options));
      const projection = randomNhwc(reference.shape, 33).data;
      const { out, grad } = await withoutLeaks(() => forwardAndGrad(features, rois, options, projection));
      expectAllClose(out, reference.data, 1e-5);
      expectAllClose(grad, referenceRoiAlignBackward(projection, features.shape, rois, referenceOptions(options)), 1e-4);
    });
  });
}
