/**
 * mmdet's SingleRoIExtractor tests (mmdet-reference §4.7, §6.5) plus the level mapping at its
 * boundaries, roi order across levels, roi_scale_factor, gradients to every level and config
 * errors through the MODELS registry.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, withoutLeaks } from '@tsdet/core';
import { referenceRoiAlign, type Nhwc } from '../roi-align/roi-align-reference.test.js';
import { buildModel, expectAllClose, expectSchemaError, scoped } from '../test-support.test.js';
import { seededRandom as seededUniform } from '@tsdet/core';
import { mapRoiLevels, rescaleRois, SingleRoIExtractor } from './single-roi-extractor.js';

const MMDET_TEST_CFG = {
  type: 'SingleRoIExtractor',
  roi_layer: { type: 'RoIAlign', output_size: 7, sampling_ratio: 2 },
  out_channels: 16,
  featmap_strides: [4, 8, 16, 32],
};

const build = (cfg: Record<string, unknown> = {}) => buildModel<SingleRoIExtractor>({ ...MMDET_TEST_CFG, ...cfg });

function randomNhwc(shape: Nhwc['shape'], seed: number): Nhwc {
  const uniform = seededUniform(seed);
  return { shape, data: Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => uniform() * 2 - 1) };
}

const tensorOf = (t: Nhwc) => tf.tensor4d(Float32Array.from(t.data), t.shape);

/** A roi of scale sqrt(w * h) = `scale` at (x, y). */
const roiOfScale = (batch: number, x: number, y: number, scale: number) => [batch, x, y, x + scale, y + scale];

describe('mapRoiLevels', () => {
  it('maps scale < 112 to 0, [112, 224) to 1, [224, 448) to 2, larger to 3 (finest_scale 56)', () => {
    const scales = [0, 20, 111.9, 112, 223.9, 224, 447.9, 448, 2000];
    const rois = Float32Array.from(scales.flatMap((s) => roiOfScale(0, 3, 5, s)));
    expect(Array.from(mapRoiLevels(rois, 4))).to.deep.equal([0, 0, 0, 1, 1, 2, 2, 3, 3]);
    expect(Array.from(mapRoiLevels(rois, 2))).to.deep.equal([0, 0, 0, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(mapRoiLevels(rois, 4, 28))).to.deep.equal([0, 0, 1, 2, 2, 3, 3, 3, 3]);
  });

  it('uses sqrt(w * h), not the longer side', () => {
    expect(Array.from(mapRoiLevels(Float32Array.from([0, 0, 0, 400, 30]), 4))).to.deep.equal([0]);
  });
});

describe('rescaleRois', () => {
  it('scales each roi about its centre and keeps the batch index', () => {
    expect(Array.from(rescaleRois(Float32Array.from([1, 10, 20, 30, 60]), 2))).to.deep.equal([1, 0, 0, 40, 80]);
  });
});

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`SingleRoIExtractor (${backend})`, () => {
    before(() => initBackend({ backend, threads: 1, verbose: false }));

    it("runs mmdet's test: empty rois, one level, four levels, roi_scale_factor 2", async () => {
      const extractor = build();
      const roi = [[0, 587.8285, 52.1405, 886.2484, 341.5644]];
      await withoutLeaks(() =>
        scoped(() => {
          const single = [tf.zeros([1, 200, 336, 16]) as tf.Tensor4D];
          expect(extractor.forward(single, tf.zeros([0, 5]) as tf.Tensor2D).shape).to.deep.equal([0, 7, 7, 16]);
          expect(extractor.forward(single, tf.tensor2d(roi)).shape).to.deep.equal([1, 7, 7, 16]);
          const sizes: [number, number][] = [[200, 336], [100, 168], [50, 84], [25, 42]];
          const feats = sizes.map(([h, w], i) => tf.fill([1, h, w, 16], i + 1) as tf.Tensor4D);
          const pooled = extractor.forward(feats, tf.tensor2d(roi));
          expect(pooled.shape).to.deep.equal([1, 7, 7, 16]);
          // sqrt(298.4 * 289.4) = 293.9 px: level 2 (constant 3), well inside the map.
          expectAllClose(pooled.dataSync(), new Array(7 * 7 * 16).fill(3), 1e-6);
          expect(extractor.forward(feats, tf.tensor2d(roi), 2).shape).to.deep.equal([1, 7, 7, 16]);
        }),
      );
      expect(extractor.numInputs).to.equal(4);
      expect(extractor.namedParameters()).to.deep.equal([]);
    });

    it('pools each roi from its level at 1 / stride, keeping the rois in order', async () => {
      const extractor = build({ out_channels: 2, roi_layer: { type: 'RoIAlign', output_size: [2, 3], sampling_ratio: 0 } });
      const maps = [randomNhwc([2, 40, 48, 2], 1), randomNhwc([2, 20, 24, 2], 2), randomNhwc([2, 10, 12, 2], 3), randomNhwc([2, 5, 6, 2], 4)];
      const rois = [roiOfScale(1, 10, 20, 300), roiOfScale(0, 5, 6, 40), roiOfScale(1, 60, 30, 150), roiOfScale(0, -20, 100, 500), roiOfScale(0, 30, 40, 120)];
      const out = await withoutLeaks(() => scoped(() => extractor.forward(maps.map(tensorOf), tf.tensor2d(rois)).dataSync() as Float32Array));
      const levels = [2, 0, 1, 3, 1];
      rois.forEach((roi, k) => {
        const expected = referenceRoiAlign(maps[levels[k]!]!, [roi], { outH: 2, outW: 3, spatialScale: 1 / [4, 8, 16, 32][levels[k]!]!, samplingRatio: 0, aligned: true });
        expectAllClose(out.subarray(k * 12, (k + 1) * 12), expected.data, 1e-5);
      });
    });

    it('maps levels on the original rois and pools the rescaled ones with roi_scale_factor', () => {
      const extractor = build({ out_channels: 1, roi_layer: { type: 'RoIAlign', output_size: 2, sampling_ratio: 2 } });
      const maps = [randomNhwc([1, 40, 40, 1], 5), randomNhwc([1, 20, 20, 1], 6)];
      // Scale 100 -> level 0; rescaled by 1.5 it would be 150 (level 1), but mapping comes first.
      const roi = roiOfScale(0, 20, 30, 100);
      const out = scoped(() => Array.from(extractor.forward(maps.map(tensorOf), tf.tensor2d([roi]), 1.5).dataSync()));
      const expected = referenceRoiAlign(maps[0]!, [Array.from(rescaleRois(Float32Array.from(roi), 1.5))], { outH: 2, outW: 2, spatialScale: 0.25, samplingRatio: 2, aligned: true });
      expectAllClose(out, expected.data, 1e-5);
      // mmdet ignores roi_scale_factor when a single level is given.
      const single = scoped(() => Array.from(extractor.forward([tensorOf(maps[0]!)], tf.tensor2d([roi]), 1.5).dataSync()));
      const unscaled = referenceRoiAlign(maps[0]!, [roi], { outH: 2, outW: 2, spatialScale: 0.25, samplingRatio: 2, aligned: true });
      expectAllClose(single, unscaled.data, 1e-5);
    });

    it('sends gradients to the levels that pooled rois and zeros to the others', async () => {
      const extractor = build({ out_channels: 2, roi_layer: { type: 'RoIAlign', output_size: 2, sampling_ratio: 0 } });
      const maps = [randomNhwc([1, 16, 16, 2], 7), randomNhwc([1, 8, 8, 2], 8), randomNhwc([1, 4, 4, 2], 9), randomNhwc([1, 2, 2, 2], 10)];
      const rois = tf.tensor2d([roiOfScale(0, 4, 4, 50), roiOfScale(0, 2, 8, 160)]);
      const sums = await withoutLeaks(() =>
        scoped(() => {
          const grads = tf.grads((...feats: tf.Tensor[]) => tf.sum(extractor.forward(feats as tf.Tensor4D[], rois)))(maps.map(tensorOf));
          return grads.map((g) => Array.from(g.dataSync()).reduce((a, b) => a + Math.abs(b), 0));
        }),
      );
      rois.dispose();
      expect(sums[0]).to.be.above(0);
      expect(sums[1]).to.be.above(0);
      expect(sums.slice(2)).to.deep.equal([0, 0]);
    });

    it('checks the feature maps and rois it is given', () => {
      const extractor = build({ out_channels: 2 });
      scoped(() => {
        const map = tf.zeros([1, 8, 8, 2]) as tf.Tensor4D;
        const rois = tf.tensor2d([[0, 1, 1, 5, 5]]);
        expect(() => extractor.forward([], rois)).to.throw(/got 0 feature maps for 4 featmap_strides/);
        expect(() => extractor.forward([map, map, map, map, map], rois)).to.throw(/got 5 feature maps/);
        expect(() => extractor.forward([tf.zeros([1, 8, 8, 3]) as tf.Tensor4D], rois)).to.throw(/3 channels, out_channels is 2/);
        expect(() => extractor.forward([map], tf.tensor2d([[1, 1, 5, 5]]))).to.throw(/rois must be \[K, 5\]/);
      });
    });
  });
}

describe('SingleRoIExtractor config', () => {
  it('fills the defaults of mmdet and mmcv RoIAlign', () => {
    const extractor = build();
    expect([extractor.finestScale, extractor.roiLayer.aligned, extractor.roiLayer.samplingRatio, extractor.outputSize]).to.deep.equal([56, true, 2, [7, 7]]);
  });

  it('rejects other roi layers and pool modes, a spatial_scale in roi_layer and missing keys', () => {
    expectSchemaError(() => build({ roi_layer: { type: 'RoIPool', output_size: 7 } }), /roi_layer\.type: must be equal to constant/);
    expectSchemaError(() => build({ roi_layer: { type: 'RoIAlign', output_size: 7, pool_mode: 'max' } }), /roi_layer\.pool_mode/);
    expectSchemaError(() => build({ roi_layer: { type: 'RoIAlign', output_size: 7, spatial_scale: 0.25 } }), /roi_layer\.spatial_scale: unknown key/);
    expectSchemaError(() => buildModel({ type: 'SingleRoIExtractor', roi_layer: { type: 'RoIAlign', output_size: 7 }, featmap_strides: [4] }), /missing required key 'out_channels'/);
    expectSchemaError(() => build({ featmap_strides: [] }), /featmap_strides: must NOT have fewer than 1 items/);
  });
});
