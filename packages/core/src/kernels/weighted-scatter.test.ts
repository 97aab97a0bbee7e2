import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { tensorsLeakedBy } from '../testing/leaks.js';
import { seededRandom } from '../random/seeded-random.js';
import { weightedScatterAdd, weightedScatterAddApplies } from './weighted-scatter.js';

describe('kernels/weighted-scatter on wasm', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', threads: 2, verbose: false });
  });

  it('out[to[e]] += w[e] * rows[from[e]] for entries in any order, repeated targets included', () => {
    const uniform = seededRandom(3);
    const [numRows, channels, outRows, count] = [37, 12, 23, 500];
    const rowData = Float32Array.from({ length: numRows * channels }, () => uniform() * 2 - 1);
    const from = Int32Array.from({ length: count }, () => Math.floor(uniform() * numRows));
    const to = Int32Array.from({ length: count }, () => Math.floor(uniform() * outRows));
    const weights = Float32Array.from({ length: count }, () => uniform() * 2 - 1);
    const expected = new Float64Array(outRows * channels);
    for (let e = 0; e < count; e++) for (let c = 0; c < channels; c++) expected[to[e]! * channels + c]! += weights[e]! * rowData[from[e]! * channels + c]!;
    const rows = tf.tensor2d(rowData, [numRows, channels]);
    const leaked = tensorsLeakedBy(() => {
      const out = weightedScatterAdd([{ rows, from, to, weights }], outRows);
      expect(out.shape).to.deep.equal([outRows, channels]);
      const got = out.dataSync();
      const worst = Math.max(...Array.from(got, (v, i) => Math.abs(v - expected[i]!)));
      expect(worst).to.be.below(1e-5);
      out.dispose();
    });
    expect(leaked).to.equal(0);
    rows.dispose();
  });

  it('rows no entry points at are zero, and no entries give all zeros', () => {
    const rows = tf.ones([2, 4]) as tf.Tensor2D;
    const out = weightedScatterAdd([{ rows, from: Int32Array.of(1), to: Int32Array.of(2), weights: Float32Array.of(3) }], 4);
    expect(Array.from(out.dataSync())).to.deep.equal([0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 0, 0, 0, 0]);
    const none = weightedScatterAdd([{ rows, from: new Int32Array(0), to: new Int32Array(0), weights: new Float32Array(0) }], 3);
    expect(Array.from(none.dataSync()).every((v) => v === 0)).to.equal(true);
    tf.dispose([rows, out, none]);
  });

  it('refuses indices outside the rows or the output, naming the entry, before writing anything', () => {
    const rows = tf.ones([2, 4]) as tf.Tensor2D;
    const set = (from: number[], to: number[], weights: number[]) => ({ rows, from: Int32Array.from(from), to: Int32Array.from(to), weights: Float32Array.from(weights) });
    expect(() => weightedScatterAdd([set([0, 2], [0, 0], [1, 1])], 3)).to.throw(/entry 1 points at source row 2, outside 0\.\.1/);
    expect(() => weightedScatterAdd([set([0], [-1], [1])], 3)).to.throw(/entry 0 points at output row -1, outside 0\.\.2/);
    expect(() => weightedScatterAdd([set([0], [0, 1], [1])], 3)).to.throw(/1 sources, 2 targets and 1 weights/);
    expect(() => weightedScatterAdd([set([0], [0], [1]), set([0], [3], [1])], 3)).to.throw(/set 1: entry 0 points at output row 3/);
    const narrow = tf.ones([2, 3]) as tf.Tensor2D;
    expect(() => weightedScatterAdd([{ rows: narrow, from: Int32Array.of(0), to: Int32Array.of(0), weights: Float32Array.of(1) }], 1)).to.throw(/channels divisible by 4 \(backend wasm, 3 channels\)/);
    narrow.dispose();
    rows.dispose();
  });

  it('accumulates several sets, each with its own rows, into one output', () => {
    const a = tf.tensor2d([1, 2, 3, 4], [1, 4]);
    const b = tf.tensor2d([10, 20, 30, 40, 50, 60, 70, 80], [2, 4]);
    const out = weightedScatterAdd([{ rows: a, from: Int32Array.of(0), to: Int32Array.of(1), weights: Float32Array.of(2) }, { rows: b, from: Int32Array.of(1, 0), to: Int32Array.of(1, 0), weights: Float32Array.of(0.5, 1) }], 2);
    expect(Array.from(out.dataSync())).to.deep.equal([10, 20, 30, 40, 27, 34, 41, 48]);
    tf.dispose([a, b, out]);
  });

  it('applies on wasm to channel counts divisible by 4 only', () => {
    expect(weightedScatterAddApplies(256)).to.equal(true);
    expect(weightedScatterAddApplies(3)).to.equal(false);
  });
});
