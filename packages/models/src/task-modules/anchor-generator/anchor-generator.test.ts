/**
 * mmdet's AnchorGenerator tests (mmdet-reference §4.2, §6.5): base anchors of Faster R-CNN and
 * RetinaNet, grid order and strides, valid flags, and config errors through the registry.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, withoutLeaks } from '@tsdet/core';
import { buildTaskUtil, expectAllClose, expectSchemaError } from '../test-support.test.js';
import { AnchorGenerator } from './anchor-generator.js';

const build = (cfg: Record<string, unknown>) => buildTaskUtil<AnchorGenerator>({ type: 'AnchorGenerator', ...cfg });

const FASTER_RCNN = { scales: [8], ratios: [0.5, 1.0, 2.0], strides: [4, 8, 16, 32, 64] };

describe('AnchorGenerator', () => {
  before(() => initBackend({ backend: 'wasm', threads: 1, verbose: false }));

  it('has 3 base priors per level for scales [8] and ratios [0.5, 1, 2]', () => {
    const generator = build({ scales: [8], ratios: [0.5, 1, 2], strides: [4, 8] });
    expect(generator.numBasePriors).to.deep.equal([3, 3]);
    expect(generator.numLevels).to.equal(2);
    expect(generator.baseSizes).to.deep.equal([4, 8]);
  });

  it("gives Faster R-CNN's base anchors: ratio-major, doubling per level", () => {
    const generator = build(FASTER_RCNN);
    const stride4 = [-22.6274, -11.3137, 22.6274, 11.3137, -16, -16, 16, 16, -11.3137, -22.6274, 11.3137, 22.6274];
    generator.baseAnchors.forEach((anchors, level) => expectAllClose(anchors, stride4.map((v) => v * 2 ** level), 1e-4 * 2 ** level));
  });

  it("gives RetinaNet's octave base anchors (octave_base_scale 4, 3 scales per octave)", () => {
    const generator = build({ octave_base_scale: 4, scales_per_octave: 3, ratios: [0.5, 1, 2], strides: [8, 16, 32, 64, 128] });
    const half = (w: number, h: number) => [-w, -h, w, h];
    const stride8 = [
      ...half(22.6274, 11.3137),
      ...half(28.5088, 14.2544),
      ...half(35.9188, 17.9594),
      ...half(16, 16),
      ...half(20.1587, 20.1587),
      ...half(25.3984, 25.3984),
      ...half(11.3137, 22.6274),
      ...half(14.2544, 28.5088),
      ...half(17.9594, 35.9188),
    ];
    expect(generator.numBasePriors).to.deep.equal([9, 9, 9, 9, 9]);
    generator.baseAnchors.forEach((anchors, level) => expectAllClose(anchors, stride8.map((v) => v * 2 ** level), 1e-4 * 2 ** level));
    const sizes: [number, number][] = [80, 40, 20, 10, 5].map((s) => [s, s]);
    const sums = sizes.map((size, level) => generator.levelValidFlags(size, [640, 640], level).reduce((a, b) => a + b, 0));
    expect(sums).to.deep.equal([57600, 14400, 3600, 900, 225]);
  });

  it('orders scale-major anchors with the scale as the outer loop', () => {
    const generator = build({ scales: [1, 2], ratios: [0.25, 1], strides: [10], scale_major: false });
    // Index s * R + r: (s 1, r 0.25), (s 1, r 1), (s 2, r 0.25), (s 2, r 1); w = 10 s / sqrt(r), h = 10 s sqrt(r).
    expectAllClose(generator.baseAnchors[0]!, [-10, -2.5, 10, 2.5, -5, -5, 5, 5, -20, -5, 20, 5, -10, -10, 10, 10], 1e-5);
  });

  it('shifts base anchors over the grid in (y, x, a) order, x fastest, with [w, h] strides', async () => {
    await withoutLeaks(() => {
      const square = build({ strides: [10], ratios: [1], scales: [1], base_sizes: [10] });
      const [priors] = square.gridPriors([[2, 2]]);
      expect(priors!.shape).to.deep.equal([4, 4]);
      expect(priors!.arraySync()).to.deep.equal([
        [-5, -5, 5, 5],
        [5, -5, 15, 5],
        [-5, 5, 5, 15],
        [5, 5, 15, 15],
      ]);
      const tall = build({ strides: [[10, 20]], ratios: [1], scales: [1], base_sizes: [10] });
      expect(Array.from(tall.levelPriors([2, 2], 0))).to.deep.equal([-5, -5, 5, 5, 5, -5, 15, 5, -5, 15, 5, 25, 5, 15, 15, 25]);
      tf.dispose(priors!);
    });
  });

  it('puts row (y * W + x) * A + a at anchor a of location (y, x)', () => {
    const generator = build(FASTER_RCNN);
    const priors = generator.levelPriors([3, 5], 1);
    const [y, x, a] = [2, 3, 1];
    const row = (y * 5 + x) * 3 + a;
    const base = generator.baseAnchors[1]!;
    expect(Array.from(priors.subarray(4 * row, 4 * row + 4))).to.deep.equal([base[4]! + 8 * x, base[5]! + 8 * y, base[6]! + 8 * x, base[7]! + 8 * y]);
  });

  it('centres base anchors with center_offset, or at given centers', () => {
    expect(Array.from(build({ strides: [8], ratios: [1], scales: [1], center_offset: 0.5 }).baseAnchors[0]!)).to.deep.equal([0, 0, 8, 8]);
    expect(Array.from(build({ strides: [8], ratios: [1], scales: [1], centers: [[3, 5]] }).baseAnchors[0]!)).to.deep.equal([-1, 1, 7, 9]);
  });

  it('flags locations over the batch padding invalid, per anchor', async () => {
    const generator = build({ strides: [10], ratios: [0.5, 2], scales: [1] });
    // pad 15 x 25 on a 3 x 4 map: valid rows ceil(1.5) = 2, valid columns ceil(2.5) = 3.
    const flags = generator.levelValidFlags([3, 4], [15, 25], 0);
    const locations = [1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0];
    expect(Array.from(flags)).to.deep.equal(locations.flatMap((v) => [v, v]));
    await withoutLeaks(() => {
      const [tensor] = generator.validFlags([[3, 4]], [15, 25]);
      expect(tensor!.dtype).to.equal('bool');
      expect(Array.from(tensor!.dataSync())).to.deep.equal(Array.from(flags));
      tensor!.dispose();
    });
  });

  it('checks the number of feature maps against the levels', () => {
    expect(() => build(FASTER_RCNN).gridPriors([[2, 2]])).to.throw(/1 feature maps for 5 levels/);
  });

  describe('config errors', () => {
    it('rejects center_offset outside [0, 1], non-positive strides and unknown keys in the schema', () => {
      expectSchemaError(() => build({ ...FASTER_RCNN, center_offset: 1.5 }), /center_offset: must be <= 1/);
      expectSchemaError(() => build({ ...FASTER_RCNN, strides: [4, 0] }), /strides\.1/);
      expectSchemaError(() => build({ ...FASTER_RCNN, ratio: [1] }), /unknown key for AnchorGenerator.*ratios/);
      expectSchemaError(() => build({ ratios: [1], scales: [8] }), /missing required key 'strides'/);
      expectSchemaError(() => build({ ...FASTER_RCNN, use_box_type: true }), /use_box_type/);
    });

    it('requires octave_base_scale and scales_per_octave together', () => {
      expectSchemaError(() => build({ ratios: [1], strides: [8], octave_base_scale: 4 }), /scales_per_octave/);
    });

    it('requires exactly one of scales and the octave pair', () => {
      expect(() => build({ ratios: [1], strides: [8] })).to.throw(/test \(AnchorGenerator\): .*either scales or both octave_base_scale and scales_per_octave/);
      expect(() => build({ ratios: [1], strides: [8], scales: [1], octave_base_scale: 4, scales_per_octave: 3 })).to.throw(/either scales or both/);
    });

    it('rejects centers together with a center_offset, and per-level lists of the wrong length', () => {
      expect(() => build({ ratios: [1], strides: [8], scales: [1], center_offset: 0.5, centers: [[0, 0]] })).to.throw(/centers must be null/);
      expect(() => build({ ratios: [1], strides: [8, 16], scales: [1], base_sizes: [8] })).to.throw(/1 base_sizes for 2 strides/);
      expect(() => build({ ratios: [1], strides: [8, 16], scales: [1], centers: [[0, 0]] })).to.throw(/1 centers for 2 strides/);
    });
  });
});
