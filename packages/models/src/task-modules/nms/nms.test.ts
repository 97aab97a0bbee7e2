/**
 * NMS with mmcv semantics: strict IoU > threshold, areas without +1, score order; mmcv's
 * batched_nms (offset trick and split path) and mmdet's multiclass_nms. Also pins down why
 * tf.image.nonMaxSuppression is not used: it suppresses at IoU == threshold.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, withoutLeaks } from '@tsdet/core';
import { scoped } from '../test-support.test.js';
import { seededRandom as seededUniform } from '@tsdet/core';
import { batchedNmsIndices, multiclassNmsArrays, nmsIndices, offsetBoxesByGroup } from './nms-core.js';
import { batchedNms, multiclassNms, nms } from './nms.js';

const flat = (rows: number[][]) => Float32Array.from(rows.flat());

/** Clusters of jittered boxes with distinct scores, like the fixture's. */
function clusteredBoxes(seed: number, clusters: number, perCluster: number): { boxes: Float32Array; scores: Float32Array; labels: Int32Array } {
  const uniform = seededUniform(seed);
  const rows: number[][] = [];
  for (let c = 0; c < clusters; c++) {
    const [cx, cy, w, h] = [uniform() * 200, uniform() * 200, 20 + uniform() * 40, 20 + uniform() * 40];
    for (let i = 0; i < perCluster; i++) {
      const [x, y] = [cx + (uniform() - 0.5) * w * 0.6, cy + (uniform() - 0.5) * h * 0.6];
      const [bw, bh] = [w * (0.8 + uniform() * 0.4), h * (0.8 + uniform() * 0.4)];
      rows.push([x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2]);
    }
  }
  const scores = Float32Array.from(rows, () => uniform());
  return { boxes: flat(rows), scores, labels: Int32Array.from(rows, () => Math.floor(uniform() * 3)) };
}

describe('nmsIndices (mmcv nms)', () => {
  it('keeps boxes in descending score order, suppressing overlaps above the threshold', () => {
    const boxes = flat([
      [0, 0, 10, 10],
      [1, 1, 11, 11], // IoU with box 0: 81 / 119 = 0.68, with box 3: 72 / 118 = 0.61
      [20, 20, 30, 30],
      [0, 0, 10, 9], // IoU with box 0: 0.9
    ]);
    // Score order 1, 3, 0, 2.
    const scores = [0.5, 0.9, 0.3, 0.6];
    expect(Array.from(nmsIndices(boxes, scores, 0.5))).to.deep.equal([1, 2]);
    expect(Array.from(nmsIndices(boxes, scores, 0.65))).to.deep.equal([1, 3, 2]);
    // Box 0 survives box 1 at 0.7 but not box 3, which is kept before it.
    expect(Array.from(nmsIndices(boxes, scores, 0.7))).to.deep.equal([1, 3, 2]);
    expect(Array.from(nmsIndices(boxes, scores, 0.95))).to.deep.equal([1, 3, 0, 2]);
  });

  it('does not suppress at IoU exactly equal to the threshold (strictly greater), unlike tf.image.nonMaxSuppression', async () => {
    await initBackend({ backend: 'cpu', verbose: false });
    // IoU = 2 / 4 = 0.5 exactly, in float32 too.
    const boxes = flat([
      [0, 0, 2, 2],
      [0, 0, 2, 1],
    ]);
    const scores = [0.9, 0.8];
    expect(Array.from(nmsIndices(boxes, scores, 0.5))).to.deep.equal([0, 1]);
    const tfjs = await withoutLeaks(() => scoped(() => Array.from(tf.image.nonMaxSuppression(tf.tensor2d(boxes, [2, 4]), tf.tensor1d(scores), 10, 0.5).dataSync())));
    expect(tfjs, 'tfjs suppresses at IoU >= threshold').to.deep.equal([0]);
  });

  it('computes areas without +1 by default and with it for offset 1', () => {
    // Without +1: IoU = 1 / 1 = 1 for identical unit boxes; touching boxes do not overlap.
    const boxes = flat([
      [0, 0, 1, 1],
      [1, 0, 2, 1],
    ]);
    expect(Array.from(nmsIndices(boxes, [0.9, 0.8], 0.1))).to.deep.equal([0, 1]);
    // With +1 the touching boxes share a column: IoU = 2 / (4 + 4 - 2) = 1/3.
    expect(Array.from(nmsIndices(boxes, [0.9, 0.8], 0.3, { offset: 1 }))).to.deep.equal([0]);
  });

  it('breaks score ties by index and handles empty input', () => {
    const boxes = flat([
      [0, 0, 1, 1],
      [5, 5, 6, 6],
      [10, 10, 11, 11],
    ]);
    expect(Array.from(nmsIndices(boxes, [0.5, 0.7, 0.5], 0.5))).to.deep.equal([1, 0, 2]);
    expect(Array.from(nmsIndices(new Float32Array(0), [], 0.5))).to.deep.equal([]);
  });

  it('applies score_threshold (strictly above) before NMS and max_num after', () => {
    const boxes = flat([
      [0, 0, 10, 10],
      [0, 0, 10, 10],
      [20, 20, 30, 30],
      [40, 40, 50, 50],
    ]);
    // Box 0 is below the score threshold, so it cannot suppress its twin, box 1.
    expect(Array.from(nmsIndices(boxes, [0.05, 0.5, 0.9, 0.1], 0.5, { scoreThreshold: 0.1 }))).to.deep.equal([2, 1]);
    expect(Array.from(nmsIndices(boxes, [0.05, 0.5, 0.9, 0.1], 0.5, { maxNum: 2 }))).to.deep.equal([2, 1]);
  });

  it('agrees with tf.image.nonMaxSuppression when no IoU equals the threshold (random clusters)', async () => {
    await initBackend({ backend: 'cpu', verbose: false });
    for (const seed of [1, 2, 3]) {
      const { boxes, scores } = clusteredBoxes(seed, 12, 15);
      for (const threshold of [0.3, 0.5, 0.7]) {
        const ours = Array.from(nmsIndices(boxes, scores, threshold));
        const tfjs = scoped(() => Array.from(tf.image.nonMaxSuppression(tf.tensor2d(boxes, [scores.length, 4]), tf.tensor1d(scores), scores.length, threshold).dataSync()));
        expect(ours, `seed ${seed}, IoU ${threshold}`).to.deep.equal(tfjs);
        expect(ours.length).to.be.within(12, scores.length - 1);
        // maxNum stops the greedy walk early: still the first maxNum of the full result.
        const firstTen = scoped(() => Array.from(tf.image.nonMaxSuppression(tf.tensor2d(boxes, [scores.length, 4]), tf.tensor1d(scores), 10, threshold).dataSync()));
        expect(Array.from(nmsIndices(boxes, scores, threshold, { maxNum: 10 })), `seed ${seed}, IoU ${threshold}, maxNum 10`).to.deep.equal(firstTen);
      }
    }
  });

  it('rejects boxes and scores of different lengths', () => {
    expect(() => nmsIndices(new Float32Array(8), [1], 0.5)).to.throw(/2 boxes .* but 1 scores/);
  });
});

describe('batchedNmsIndices (mmcv batched_nms)', () => {
  const boxes = flat([
    [0, 0, 10, 10],
    [0, 0, 10, 10],
    [1, 0, 10, 10],
    [30, 30, 40, 40],
  ]);
  const scores = [0.9, 0.8, 0.7, 0.6];

  it('suppresses only within a group', () => {
    const { keep, scores: kept } = batchedNmsIndices(boxes, scores, [0, 1, 1, 0], { iou_threshold: 0.5 });
    expect(Array.from(keep)).to.deep.equal([0, 1, 3]);
    expect(Array.from(kept)).to.deep.equal([0.9, 0.8, 0.6].map(Math.fround));
  });

  it('ignores groups when class_agnostic (argument or config key)', () => {
    expect(Array.from(batchedNmsIndices(boxes, scores, [0, 1, 1, 0], { iou_threshold: 0.5 }, true).keep)).to.deep.equal([0, 3]);
    expect(Array.from(batchedNmsIndices(boxes, scores, [0, 1, 1, 0], { iou_threshold: 0.5, class_agnostic: true }).keep)).to.deep.equal([0, 3]);
  });

  it('only sorts by score without a config', () => {
    expect(Array.from(batchedNmsIndices(boxes, [0.1, 0.4, 0.3, 0.2], [0, 0, 0, 0], null).keep)).to.deep.equal([1, 2, 3, 0]);
  });

  it('shifts groups apart by idx * (max coordinate + 1)', () => {
    expect(Array.from(offsetBoxesByGroup(flat([[1, 2, 3, 4], [1, 2, 3, 4]]), [0, 2]))).to.deep.equal([1, 2, 3, 4, 11, 12, 13, 14]);
  });

  it('gives the same result through the split path (per-group NMS, re-sorted) as through the offset trick', () => {
    for (const seed of [4, 5]) {
      const data = clusteredBoxes(seed, 10, 12);
      for (const threshold of [0.3, 0.7]) {
        const offset = batchedNmsIndices(data.boxes, data.scores, data.labels, { iou_threshold: threshold });
        const split = batchedNmsIndices(data.boxes, data.scores, data.labels, { iou_threshold: threshold, split_thr: 1 });
        expect(Array.from(split.keep)).to.deep.equal(Array.from(offset.keep));
        expect(Array.from(batchedNmsIndices(data.boxes, data.scores, data.labels, { iou_threshold: threshold, split_thr: 1, max_num: 5 }).keep)).to.deep.equal(Array.from(offset.keep.slice(0, 5)));
      }
    }
  });

  it('returns nothing for no boxes', () => {
    expect(batchedNmsIndices(new Float32Array(0), [], [], { iou_threshold: 0.5 }).keep).to.have.length(0);
  });
});

describe('multiclassNmsArrays (mmdet multiclass_nms)', () => {
  // Two boxes, 2 classes + background; class-specific boxes [N, 4 * 2].
  const bboxes = flat([
    [0, 0, 10, 10, 50, 50, 60, 60],
    [1, 1, 10, 10, 50, 50, 61, 60],
  ]);
  // [N, 2 + 1] scores, background last (its 0.96 is ignored).
  const scores = Float32Array.from([0.9, 0.04, 0.06, 0.3, 0.5, 0.96]);

  it('thresholds strictly, drops the background column, runs per-class NMS and sorts by score', () => {
    const result = multiclassNmsArrays(bboxes, scores, 2, 0.05, { iou_threshold: 0.5 });
    // Candidates: (0, c0) 0.9, (1, c0) 0.3 suppressed by (0, c0) (IoU 0.81), (1, c1) 0.5; (0, c1) 0.04 is under the threshold.
    expect(Array.from(result.labels)).to.deep.equal([0, 1]);
    expect(Array.from(result.inds)).to.deep.equal([0, 3]);
    expect(Array.from(result.dets)).to.deep.equal([0, 0, 10, 10, Math.fround(0.9), 50, 50, 61, 60, Math.fround(0.5)]);
  });

  it('keeps at most max_num and applies score factors after the threshold', () => {
    expect(multiclassNmsArrays(bboxes, scores, 2, 0.05, { iou_threshold: 0.5 }, { maxNum: 1 }).labels).to.have.length(1);
    // Factor 0.5 on box 0: (0, c0) scores 0.45, still above (1, c0) at 0.3, but now below (1, c1).
    const result = multiclassNmsArrays(bboxes, scores, 2, 0.05, { iou_threshold: 0.5 }, { scoreFactors: [0.5, 1] });
    expect(Array.from(result.labels)).to.deep.equal([1, 0]);
    expect(result.dets[4]).to.equal(Math.fround(0.5));
    expect(result.dets[9]).to.equal(Math.fround(Math.fround(0.9) * 0.5));
  });

  it('shares [N, 4] boxes between classes and returns empty results when nothing passes', () => {
    const shared = multiclassNmsArrays(flat([[0, 0, 10, 10]]), Float32Array.from([0.6, 0.7, 0.1]), 1, 0.05, { iou_threshold: 0.5 });
    expect(Array.from(shared.labels)).to.deep.equal([1, 0]);
    const none = multiclassNmsArrays(bboxes, scores, 2, 0.95, { iou_threshold: 0.5 });
    expect([none.dets.length, none.labels.length, none.inds.length]).to.deep.equal([0, 0, 0]);
  });
});

describe('nms / batchedNms / multiclassNms on tensors', () => {
  before(() => initBackend({ backend: 'wasm', threads: 1, verbose: false }));

  it('return dets [k, 5], int32 keep and labels, and leak nothing', async () => {
    await withoutLeaks(() =>
      scoped(() => {
        const boxes = tf.tensor2d([0, 0, 10, 10, 1, 1, 10, 10, 20, 20, 30, 30], [3, 4]);
        const scores = tf.tensor1d([0.5, 0.9, 0.3]);
        const single = nms(boxes, scores, 0.5);
        expect(single.dets.shape).to.deep.equal([2, 5]);
        expect(single.keep.dtype).to.equal('int32');
        expect(Array.from(single.keep.dataSync())).to.deep.equal([1, 2]);
        expect(Array.from(single.dets.dataSync())).to.deep.equal([1, 1, 10, 10, Math.fround(0.9), 20, 20, 30, 30, Math.fround(0.3)]);
        const batched = batchedNms(boxes, scores, tf.tensor1d([0, 1, 0], 'int32'), { iou_threshold: 0.5 });
        expect(Array.from(batched.keep.dataSync())).to.deep.equal([1, 0, 2]);
        const multi = multiclassNms(boxes, tf.tensor2d([0.9, 0.1, 0.8, 0.1, 0.2, 0.1], [3, 2]), 0.05, { iou_threshold: 0.5 }, 10);
        expect(multi.dets.shape).to.deep.equal([2, 5]);
        expect(Array.from(multi.labels.dataSync())).to.deep.equal([0, 0]);
        expect(multi.labels.dtype).to.equal('int32');
      }),
    );
  });

  it('rejects boxes that are not [N, 4]', () => {
    scoped(() => expect(() => nms(tf.zeros([2, 5]) as tf.Tensor2D, tf.zeros([2]) as tf.Tensor1D, 0.5)).to.throw(/boxes must be \[N, 4\]/));
  });
});
