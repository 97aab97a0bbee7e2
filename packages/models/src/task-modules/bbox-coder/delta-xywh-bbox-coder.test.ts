/**
 * mmdet's DeltaXYWHBBoxCoder tests (mmdet-reference §4.3, §6.5): the decode vectors, the
 * add_ctr_clamp vector, batched decode, empty input, the dw/dh clamp, class-specific deltas,
 * encode/decode round trips and config errors.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, withoutLeaks } from '@tsdet/core';
import { buildTaskUtil, expectAllClose, expectSchemaError, scoped } from '../test-support.test.js';
import { DeltaXYWHBBoxCoder } from './delta-xywh-bbox-coder.js';

const build = (cfg: Record<string, unknown> = {}) => buildTaskUtil<DeltaXYWHBBoxCoder>({ type: 'DeltaXYWHBBoxCoder', ...cfg });

const ROIS = [
  [0, 0, 1, 1],
  [0, 0, 1, 1],
  [0, 0, 1, 1],
  [5, 5, 5, 5],
];
const DELTAS = [
  [0, 0, 0, 0],
  [1, 1, 1, 1],
  [0, 0, 2, -1],
  [0.7, -1.9, -0.5, 0.3],
];
const DECODED = [
  [0, 0, 1, 1],
  [0.1409, 0.1409, 2.8591, 2.8591],
  [0, 0.3161, 4.1945, 0.6839],
  [5, 5, 5, 5],
];

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`DeltaXYWHBBoxCoder (${backend})`, () => {
    before(() => initBackend({ backend, threads: 1, verbose: false }));

    it("decodes mmdet's test vector (max_shape 32 x 32)", async () => {
      const out = await withoutLeaks(() => scoped(() => Array.from(build().decode(tf.tensor2d(ROIS), tf.tensor2d(DELTAS), { maxShape: [32, 32] }).dataSync())));
      expectAllClose(out, DECODED.flat(), 1e-4);
    });

    it('clamps the centre shift with add_ctr_clamp, and dw only from above', () => {
      const coder = build({ add_ctr_clamp: true, ctr_clamp: 2 });
      const out = scoped(() => Array.from(coder.decode(tf.tensor2d([[0, 0, 6, 6]]), tf.tensor2d([[1, 1, 2, 2]]), { maxShape: [32, 32] }).dataSync()));
      expectAllClose(out, [0, 0, 27.1672, 27.1672], 1e-4);
      // Without the clamp dw = -10 would be raised to -4.135; with it only the upper bound applies.
      const shrunk = scoped(() => Array.from(coder.decode(tf.tensor2d([[0, 0, 6, 6]]), tf.tensor2d([[0, 0, -10, 0]])).dataSync()));
      expectAllClose([shrunk[2]! - shrunk[0]!], [6 * Math.exp(-10)], 1e-6);
    });

    it('clamps dw, dh to |log(wh_ratio_clip)| (default 16/1000; per call or per config)', () => {
      const roi = tf.tensor2d([[0, 0, 10, 10]]);
      const deltas = tf.tensor2d([[0, 0, 10, -10]]);
      const width = (boxes: tf.Tensor) => {
        const [x1, y1, x2, y2] = Array.from(boxes.dataSync());
        boxes.dispose();
        return [x2! - x1!, y2! - y1!];
      };
      expectAllClose(width(build().decode(roi, deltas)), [10 * 62.5, 10 / 62.5], 1e-3, 1e-5);
      expectAllClose(width(build().decode(roi, deltas, { whRatioClip: 0.1 })), [100, 1], 1e-3, 1e-5);
      expectAllClose(width(build({ wh_ratio_clip: 0.1 }).decode(roi, deltas)), [100, 1], 1e-3, 1e-5);
      tf.dispose([roi, deltas]);
    });

    it('clips to [0, W] x [0, H] only with clip_border and a max shape', () => {
      const boxes = (coder: DeltaXYWHBBoxCoder, maxShape?: [number, number]) =>
        scoped(() => Array.from(coder.decode(tf.tensor2d([[-4, -4, 40, 20]]), tf.tensor2d([[0, 0, 0, 0]]), { maxShape }).dataSync()));
      expect(boxes(build(), [16, 32])).to.deep.equal([0, 0, 32, 16]);
      expect(boxes(build())).to.deep.equal([-4, -4, 40, 20]);
      expect(boxes(build({ clip_border: false }), [16, 32])).to.deep.equal([-4, -4, 40, 20]);
    });

    it('decodes class-specific deltas [N, 4 * C] against the same roi', () => {
      const coder = build();
      const out = scoped(() => Array.from(coder.decode(tf.tensor2d([ROIS[2]!]), tf.tensor2d([[...DELTAS[1]!, ...DELTAS[2]!]]), { maxShape: [32, 32] }).dataSync()));
      expectAllClose(out, [...DECODED[1]!, ...DECODED[2]!], 1e-4);
    });

    it('decodes batched [B, N, 4] input per image, with one max shape or one per image', () => {
      const coder = build();
      scoped(() => {
        const rois = tf.tensor3d([ROIS, ROIS]);
        const deltas = tf.tensor3d([DELTAS, DELTAS]);
        const single = coder.decode(rois, deltas, { maxShape: [32, 32] });
        const perImage = coder.decode(rois, deltas, { maxShape: [[32, 32], [32, 32]] });
        expect(single.shape).to.deep.equal([2, 4, 4]);
        expectAllClose(single.dataSync(), [...DECODED.flat(), ...DECODED.flat()], 1e-4);
        expect(Array.from(perImage.dataSync())).to.deep.equal(Array.from(single.dataSync()));
        expect(() => coder.decode(rois, deltas, { maxShape: [[32, 32], [32, 32], [32, 32]] })).to.throw(/3 max shapes for a batch of 2/);
      });
    });

    it('returns [0, 4] for no boxes', () => {
      scoped(() => {
        const coder = build();
        expect(coder.decode(tf.zeros([0, 4]) as tf.Tensor2D, tf.zeros([0, 4]) as tf.Tensor2D, { maxShape: [32, 32] }).shape).to.deep.equal([0, 4]);
        expect(coder.encode(tf.zeros([0, 4]) as tf.Tensor2D, tf.zeros([0, 4]) as tf.Tensor2D).shape).to.deep.equal([0, 4]);
      });
    });

    it('encodes (gx - px) / pw and log(gw / pw), normalised by means and stds, and decode inverts it', async () => {
      const coder = build({ target_means: [0.1, 0, 0, -0.1], target_stds: [0.1, 0.1, 0.2, 0.2] });
      const proposals = [
        [0, 0, 10, 20],
        [5, 5, 9, 7],
      ];
      const gts = [
        [2, 4, 14, 16],
        [4, 6, 10, 7],
      ];
      await withoutLeaks(() =>
        scoped(() => {
          const deltas = coder.encode(tf.tensor2d(proposals), tf.tensor2d(gts));
          const [dx, dy, dw, dh] = [(8 - 5) / 10, (10 - 10) / 20, Math.log(12 / 10), Math.log(12 / 20)];
          expectAllClose(deltas.dataSync().subarray(0, 4), [(dx - 0.1) / 0.1, dy / 0.1, dw / 0.2, (dh + 0.1) / 0.2], 1e-5);
          expectAllClose(coder.decode(tf.tensor2d(proposals), deltas).dataSync(), gts.flat(), 1e-4);
        }),
      );
    });

    it('passes a gradient from decoded boxes to the deltas', () => {
      scoped(() => {
        const coder = build();
        const rois = tf.tensor2d([[0, 0, 10, 20]]);
        const grad = tf.grad((d: tf.Tensor) => tf.sum(coder.decode(rois, d as tf.Tensor2D)))(tf.tensor2d([[0.1, 0.2, 0.3, 0.4]]));
        // x1 + x2 = 2 (cx + w dx): d/d dx = 2 w = 20; w terms cancel in the sum.
        expectAllClose(grad.dataSync(), [20, 40, 0, 0], 1e-4);
      });
    });
  });
}

describe('DeltaXYWHBBoxCoder config errors', () => {
  it('rejects malformed means and stds, a zero std and unknown keys', () => {
    expectSchemaError(() => build({ target_stds: [1, 1, 1] }), /target_stds: must NOT have fewer than 4 items/);
    expectSchemaError(() => build({ target_stds: [1, 0, 1, 1] }), /target_stds\.1: must be > 0/);
    expectSchemaError(() => build({ target_mean: [0, 0, 0, 0] }), /unknown key for DeltaXYWHBBoxCoder.*target_means/);
    expectSchemaError(() => build({ wh_ratio_clip: 2 }), /wh_ratio_clip: must be < 1/);
  });

  it('fills the defaults of mmdet', () => {
    const coder = build();
    expect([coder.means, coder.stds, coder.clipBorder, coder.addCtrClamp, coder.ctrClamp, coder.whRatioClip]).to.deep.equal([[0, 0, 0, 0], [1, 1, 1, 1], true, false, 32, 0.016]);
  });
});
