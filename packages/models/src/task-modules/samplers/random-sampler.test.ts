/**
 * RandomSampler (mmdet-reference §4.6): expected counts, pos_fraction, neg_pos_ub, gts added as
 * proposals, the SamplingResult fields, uniformity and determinism per seed, config errors.
 */
import { expect } from 'chai';
import { TASK_UTILS, seededRandom } from '@tsdet/core';
import { AssignResult, MaxIoUAssigner } from '../assigners/index.js';
import { registerModels } from '../../register.js';
import { expectSchemaError } from '../test-support.test.js';
import { RandomSampler, SamplingResult, randomChoice } from './index.js';

const build = (cfg: Record<string, unknown> = {}) => {
  registerModels();
  return TASK_UTILS.build<RandomSampler>({ type: 'RandomSampler', num: 20, pos_fraction: 0.25, ...cfg }, { path: 'test' });
};

/** n priors [i, i, i + 1, i + 1]; gtInds from `assign` (index -> value). */
function fixture(n: number, assign: (i: number) => number, numGts = 2) {
  const priors = Float32Array.from({ length: 4 * n }, (_, k) => Math.floor(k / 4) + (k % 4 >= 2 ? 1 : 0));
  const gtInds = Int32Array.from({ length: n }, (_, i) => assign(i));
  const labels = Int32Array.from(gtInds, (g) => (g > 0 ? 10 + g : -1));
  const gtBboxes = Float32Array.from({ length: 4 * numGts }, (_, k) => 1000 + k);
  const gtLabels = Int32Array.from({ length: numGts }, (_, g) => 11 + g);
  const result = () => new AssignResult(numGts, gtInds.slice(), new Float32Array(n), labels.slice());
  return { priors, gtBboxes, gtLabels, result };
}

const sorted = (a: Int32Array) => Array.from(a).every((v, i, all) => i === 0 || all[i - 1]! < v);

describe('RandomSampler', () => {
  // 100 priors: 10 positives (i % 10 === 0, gt 1 or 2), 10 ignored, 80 negatives.
  const many = fixture(100, (i) => (i % 10 === 0 ? 1 + ((i / 10) % 2) : i % 10 === 1 ? -1 : 0));

  it('samples int(num * pos_fraction) positives and fills num with negatives', () => {
    const r = build({ add_gt_as_proposals: false }).sample(many.result(), many.priors, many.gtBboxes, many.gtLabels, seededRandom(1));
    expect([r.posInds.length, r.negInds.length]).to.deep.equal([5, 15]);
    expect(Array.from(r.posInds).every((i) => i % 10 === 0)).to.equal(true);
    expect(Array.from(r.negInds).every((i) => i % 10 >= 2)).to.equal(true);
    expect(sorted(r.posInds) && sorted(r.negInds)).to.equal(true);
    expect([r.numPos, r.numNeg, r.avgFactor]).to.deep.equal([5, 15, 20]);
    // int(10 * 0.33) = 3 positives.
    expect(build({ num: 10, pos_fraction: 0.33, add_gt_as_proposals: false }).sample(many.result(), many.priors, many.gtBboxes, many.gtLabels, seededRandom(1)).posInds.length).to.equal(3);
  });

  it('fills the fields of the SamplingResult from the assign result', () => {
    const r = build({ add_gt_as_proposals: false }).sample(many.result(), many.priors, many.gtBboxes, many.gtLabels, seededRandom(2));
    r.posInds.forEach((i, k) => {
      const g = 1 + ((i / 10) % 2);
      expect(Array.from(r.posPriors.subarray(4 * k, 4 * k + 4))).to.deep.equal([i, i, i + 1, i + 1]);
      expect(r.posAssignedGtInds[k]).to.equal(g - 1);
      expect(r.posGtLabels[k]).to.equal(10 + g);
      expect(Array.from(r.posGtBboxes.subarray(4 * k, 4 * k + 4))).to.deep.equal(Array.from(many.gtBboxes.subarray(4 * (g - 1), 4 * g)));
    });
    expect(Array.from(r.negPriors.subarray(0, 4))).to.deep.equal([r.negInds[0]!, r.negInds[0]!, r.negInds[0]! + 1, r.negInds[0]! + 1]);
    expect(Array.from(r.posIsGt)).to.deep.equal([0, 0, 0, 0, 0]);
    expect(r.priors.length).to.equal(4 * 20);
    expect(r.numGts).to.equal(2);
  });

  it('takes every positive when there are fewer, and gives the rest to negatives', () => {
    const few = fixture(50, (i) => (i < 2 ? 1 : 0), 1);
    const r = build({ add_gt_as_proposals: false }).sample(few.result(), few.priors, few.gtBboxes, few.gtLabels, seededRandom(3));
    expect(Array.from(r.posInds)).to.deep.equal([0, 1]);
    expect(r.negInds.length).to.equal(18);
  });

  it('caps negatives at int(neg_pos_ub * max(1, #pos))', () => {
    const r = build({ add_gt_as_proposals: false, neg_pos_ub: 1.5 }).sample(many.result(), many.priors, many.gtBboxes, many.gtLabels, seededRandom(4));
    expect([r.posInds.length, r.negInds.length]).to.deep.equal([5, 7]);
    const noPos = fixture(30, () => 0, 0);
    const r0 = build({ neg_pos_ub: 2 }).sample(noPos.result(), noPos.priors, noPos.gtBboxes, noPos.gtLabels, seededRandom(4));
    expect([r0.posInds.length, r0.negInds.length]).to.deep.equal([0, 2]);
    expect([r0.numPos, r0.numNeg, r0.avgFactor]).to.deep.equal([1, 2, 3]);
    expect(build({ neg_pos_ub: 0 }).sample(noPos.result(), noPos.priors, noPos.gtBboxes, noPos.gtLabels, seededRandom(4)).negInds.length).to.equal(0);
  });

  it('clamps numPos and numNeg at 1 when nothing is sampled', () => {
    const empty = fixture(0, () => 0, 0);
    const r = build().sample(empty.result(), empty.priors, empty.gtBboxes, empty.gtLabels, seededRandom(5));
    expect([r.posInds.length, r.negInds.length, r.numPos, r.numNeg, r.avgFactor]).to.deep.equal([0, 0, 1, 1, 2]);
    expect([r.posPriors.length, r.posGtBboxes.length]).to.deep.equal([0, 0]);
  });

  it('prepends the gts as proposals with add_gt_as_proposals (the default)', () => {
    const few = fixture(30, (i) => (i === 5 ? 2 : 0));
    const assign = few.result();
    const r = build().sample(assign, few.priors, few.gtBboxes, few.gtLabels, seededRandom(6));
    // The assign result grows in place, as mmdet's add_gt_.
    expect(Array.from(assign.gtInds.subarray(0, 3))).to.deep.equal([1, 2, 0]);
    expect(Array.from(assign.maxOverlaps.subarray(0, 2))).to.deep.equal([1, 1]);
    expect(Array.from(assign.labels.subarray(0, 2))).to.deep.equal([11, 12]);
    expect(assign.numPriors).to.equal(32);
    // Positives: the 2 gts (rows 0, 1) and prior 5 (row 7).
    expect(Array.from(r.posInds)).to.deep.equal([0, 1, 7]);
    expect(Array.from(r.posIsGt)).to.deep.equal([1, 1, 0]);
    expect(Array.from(r.posAssignedGtInds)).to.deep.equal([0, 1, 1]);
    expect(Array.from(r.posGtLabels)).to.deep.equal([11, 12, 12]);
    expect(Array.from(r.posPriors.subarray(0, 8))).to.deep.equal(Array.from(few.gtBboxes));
    expect(Array.from(r.posPriors.subarray(8))).to.deep.equal([5, 5, 6, 6]);
    expect(Array.from(r.posGtBboxes)).to.deep.equal([...few.gtBboxes, ...few.gtBboxes.subarray(4, 8)]);
    expect(r.negInds.length).to.equal(17);
    expect(Array.from(r.negInds).every((i) => i >= 2 && i !== 7)).to.equal(true);
    // Without gts nothing is prepended.
    const none = fixture(10, () => 0, 0);
    const r0 = build().sample(none.result(), none.priors, none.gtBboxes, none.gtLabels, seededRandom(6));
    expect(r0.negInds.length).to.equal(10);
    expect(r0.posIsGt.length).to.equal(0);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const sampler = build({ add_gt_as_proposals: false });
    const run = (seed: number) => {
      const r = sampler.sample(many.result(), many.priors, many.gtBboxes, many.gtLabels, seededRandom(seed));
      return [Array.from(r.posInds), Array.from(r.negInds)];
    };
    expect(run(42)).to.deep.equal(run(42));
    expect(run(42)).to.not.deep.equal(run(43));
  });

  it('picks uniform random subsets', () => {
    const counts = [0, 0, 0, 0, 0];
    const random = seededRandom(7);
    for (let t = 0; t < 2000; t++) for (const i of randomChoice(Int32Array.from([0, 1, 2, 3, 4]), 2, random)) counts[i]!++;
    // Each element is chosen with probability 2/5: 800 of 2000, sd about 22.
    for (const c of counts) expect(c).to.be.within(700, 900);
    expect(Array.from(randomChoice(Int32Array.from([3, 1]), 5, random))).to.deep.equal([1, 3]);
  });

  it('samples what MaxIoUAssigner assigns (RPN settings)', () => {
    const priors: number[] = [];
    for (let y = 0; y < 64; y += 4) for (let x = 0; x < 64; x += 4) priors.push(x, y, x + 16, y + 16);
    const gts = [8, 8, 24, 24, 40, 36, 60, 60];
    const assign = new MaxIoUAssigner({ posIouThr: 0.7, negIouThr: 0.3, minPosIou: 0.3, ignoreIofThr: -1 }).assign(priors, gts, [0, 0]);
    const r = build({ num: 256, pos_fraction: 0.5, neg_pos_ub: -1, add_gt_as_proposals: false }).sample(assign, priors, gts, [0, 0], seededRandom(0));
    const numPos = Array.from(assign.gtInds).filter((g) => g > 0).length;
    const numNeg = Array.from(assign.gtInds).filter((g) => g === 0).length;
    expect(r.posInds.length).to.equal(Math.min(numPos, 128));
    expect(r.negInds.length).to.equal(Math.min(numNeg, 256 - r.posInds.length));
    expect(r).to.be.instanceOf(SamplingResult);
    expect(Array.from(r.posInds).every((i) => assign.gtInds[i]! > 0)).to.equal(true);
  });

  describe('config', () => {
    it('fills the defaults and names the config path of each error', () => {
      const s = build();
      expect([s.num, s.posFraction, s.negPosUb, s.addGtAsProposals]).to.deep.equal([20, 0.25, -1, true]);
      expectSchemaError(() => build({ pos_fraction: 1.5 }), /test\.pos_fraction: must be <= 1/);
      expectSchemaError(() => build({ num: 2.5 }), /test\.num/);
      expectSchemaError(() => build({ add_gt_as_proposals: 'yes' }), /test\.add_gt_as_proposals/);
      expectSchemaError(() => build({ neg_pos_ubs: 3 }), /unknown key for RandomSampler/);
      registerModels();
      expectSchemaError(() => TASK_UTILS.build({ type: 'RandomSampler', num: 256 }, { path: 'test' }), /missing required key 'pos_fraction'/);
    });

    it('rejects inputs of mismatched sizes', () => {
      const f = fixture(10, () => 0);
      expect(() => build().sample(f.result(), f.priors.subarray(4), f.gtBboxes, f.gtLabels, seededRandom(0))).to.throw(/assign result for 10 priors, got 9/);
      expect(() => build().sample(f.result(), f.priors, f.gtBboxes, [1], seededRandom(0))).to.throw(/1 gt labels for 2 gt boxes/);
    });
  });
});
