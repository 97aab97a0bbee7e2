/**
 * MaxIoUAssigner (mmdet-reference §4.6): the reference vectors (plain, ignore, no gt, no
 * priors), tuple negative thresholds, low-quality matching by hand and config errors.
 */
import { expect } from 'chai';
import { TASK_UTILS } from '@tsdet/core';
import { expectAllClose, expectSchemaError } from '../test-support.test.js';
import { registerModels } from '../../register.js';
import { MaxIoUAssigner } from './index.js';


const build = (cfg: Record<string, unknown> = {}) => {
  registerModels();
  return TASK_UTILS.build<MaxIoUAssigner>({ type: 'MaxIoUAssigner', pos_iou_thr: 0.5, neg_iou_thr: 0.5, ...cfg }, { path: 'test' });
};

const PRIORS = [0, 0, 10, 10, 10, 10, 20, 20, 5, 5, 15, 15, 32, 32, 38, 42];
const GTS = [0, 0, 10, 9, 0, 10, 10, 19];
const LABELS = [2, 3];

describe('MaxIoUAssigner', () => {
  it("assigns mmdet's test vector: gt_inds [1, 0, 2, 0] (neg 0.5 or [0, 0.5])", () => {
    for (const neg of [0.5, [0, 0.5]]) {
      const r = build({ neg_iou_thr: neg }).assign(PRIORS, GTS, LABELS);
      expect(r.numGts).to.equal(2);
      expect(Array.from(r.gtInds)).to.deep.equal([1, 0, 2, 0]);
      expect(Array.from(r.labels)).to.deep.equal([2, -1, 3, -1]);
      // prior 2 vs gt 1: inter 25, union 100 + 90 - 25.
      expectAllClose(r.maxOverlaps, [0.9, 0, 25 / 165, 0], 1e-6);
      expect(r.gtInds).to.be.instanceOf(Int32Array);
      expect(r.maxOverlaps).to.be.instanceOf(Float32Array);
    }
  });

  it('ignores priors by IoF against ignore boxes: [1, 0, 2, -1]', () => {
    const priors = [...PRIORS.slice(0, 12), 30, 32, 40, 42];
    const assigner = build({ ignore_iof_thr: 0.5, ignore_wrt_candidates: false });
    const r = assigner.assign(priors, GTS, LABELS, [30, 30, 40, 40]);
    expect(Array.from(r.gtInds)).to.deep.equal([1, 0, 2, -1]);
    expect(r.maxOverlaps[3]).to.equal(-1);
    expect(r.labels[3]).to.equal(-1);
    // Disabled threshold, or no ignore boxes: the prior is an ordinary negative.
    expect(Array.from(build().assign(priors, GTS, LABELS, [30, 30, 40, 40]).gtInds)).to.deep.equal([1, 0, 2, 0]);
    expect(Array.from(assigner.assign(priors, GTS, LABELS, []).gtInds)).to.deep.equal([1, 0, 2, 0]);
  });

  it('measures IoF relative to the prior with ignore_wrt_candidates, else relative to the ignore box', () => {
    // Prior [30,30,50,50] (area 400) contains the ignore box (area 100): IoF 0.25 vs 1.
    const priors = [...PRIORS.slice(0, 12), 30, 30, 50, 50];
    const ignore = [30, 30, 40, 40];
    expect(Array.from(build({ ignore_iof_thr: 0.5 }).assign(priors, GTS, LABELS, ignore).gtInds)).to.deep.equal([1, 0, 2, 0]);
    expect(Array.from(build({ ignore_iof_thr: 0.5, ignore_wrt_candidates: false }).assign(priors, GTS, LABELS, ignore).gtInds)).to.deep.equal([1, 0, 2, -1]);
  });

  it('makes every prior negative without gts, and returns empty results without priors', () => {
    const none = build().assign(PRIORS, [], []);
    expect(none.numGts).to.equal(0);
    expect(Array.from(none.gtInds)).to.deep.equal([0, 0, 0, 0]);
    expect(Array.from(none.maxOverlaps)).to.deep.equal([0, 0, 0, 0]);
    expect(Array.from(none.labels)).to.deep.equal([-1, -1, -1, -1]);
    for (const ignore of [undefined, [30, 30, 40, 40]]) {
      const empty = build({ ignore_iof_thr: 0.5 }).assign([], GTS, LABELS, ignore);
      expect(empty.numGts).to.equal(2);
      expect([empty.gtInds.length, empty.maxOverlaps.length, empty.labels.length]).to.deep.equal([0, 0, 0]);
    }
  });

  it('uses tuple negative thresholds lo <= IoU < hi', () => {
    // Without low-quality matching: prior 1 (IoU 0) is below lo and stays ignored, prior 2 (0.15) is negative.
    expect(Array.from(build({ neg_iou_thr: [0.1, 0.5], match_low_quality: false }).assign(PRIORS, GTS, LABELS).gtInds)).to.deep.equal([1, -1, 0, -1]);
    expect(Array.from(build({ neg_iou_thr: 0.5, match_low_quality: false }).assign(PRIORS, GTS, LABELS).gtInds)).to.deep.equal([1, 0, 0, 0]);
    expect(Array.from(build({ neg_iou_thr: [0.2, 0.3], match_low_quality: false }).assign(PRIORS, GTS, LABELS).gtInds)).to.deep.equal([1, -1, -1, -1]);
  });

  describe('low-quality matching', () => {
    // gt [5,0,25,10] overlaps both priors by 50: IoU 50 / 250 = 0.2 each, a tie.
    const priors = [0, 0, 10, 10, 20, 0, 30, 10, 100, 100, 110, 110];
    const gt = [5, 0, 25, 10];
    const cfg = { pos_iou_thr: 0.5, neg_iou_thr: 0.1 };

    it('gives every tied prior to the gt with gt_max_assign_all, only the first argmax without', () => {
      expect(Array.from(build(cfg).assign(priors, gt, [7]).gtInds)).to.deep.equal([1, 1, 0]);
      expect(Array.from(build(cfg).assign(priors, gt, [7]).labels)).to.deep.equal([7, 7, -1]);
      expect(Array.from(build({ ...cfg, gt_max_assign_all: false }).assign(priors, gt, [7]).gtInds)).to.deep.equal([1, -1, 0]);
    });

    it('needs best IoU >= min_pos_iou, and is off with match_low_quality false', () => {
      expect(Array.from(build({ ...cfg, min_pos_iou: 0.3 }).assign(priors, gt, [7]).gtInds)).to.deep.equal([-1, -1, 0]);
      expect(Array.from(build({ ...cfg, min_pos_iou: 0.2 }).assign(priors, gt, [7]).gtInds)).to.deep.equal([1, 1, 0]);
      expect(Array.from(build({ ...cfg, match_low_quality: false }).assign(priors, gt, [7]).gtInds)).to.deep.equal([-1, -1, 0]);
    });

    it('with min_pos_iou 0, gives a gt overlapping nothing every zero-IoU prior (as mmdet)', () => {
      // gt 1 [200,200,210,210] overlaps no prior: its best IoU 0 >= 0 claims every prior (all IoU 0 with it),
      // even those gt 0 just matched, since it comes later.
      const r = build(cfg).assign(priors, [...gt, 200, 200, 210, 210], [7, 8]);
      expect(Array.from(r.gtInds)).to.deep.equal([2, 2, 2]);
      expect(Array.from(build({ ...cfg, min_pos_iou: 0.01 }).assign(priors, [...gt, 200, 200, 210, 210], [7, 8]).gtInds)).to.deep.equal([1, 1, 0]);
    });

    it('lets later gts win ties, and overwrites step-6 positives', () => {
      // Both gts have IoU 0.5 with prior 0 (its argmax is gt 0); gt 1 claims it last.
      const p = [0, 0, 10, 10, 100, 100, 110, 110];
      const tie = build({ pos_iou_thr: 0.7, neg_iou_thr: 0.3 }).assign(p, [0, 0, 10, 20, 0, -10, 10, 10], [4, 5]);
      expect(Array.from(tie.gtInds)).to.deep.equal([2, 0]);
      expect(Array.from(tie.labels)).to.deep.equal([5, -1]);
      // Prior 0 is positive for gt 0 (IoU 1) in step 6, then gt 1 (best IoU 100/120 at prior 0) takes it.
      const over = build().assign(p, [0, 0, 10, 10, 0, 0, 10, 12], [4, 5]);
      expect(Array.from(over.gtInds)).to.deep.equal([2, 0]);
      expect(over.maxOverlaps[0]).to.equal(1);
      expect(Array.from(build({ match_low_quality: false }).assign(p, [0, 0, 10, 10, 0, 0, 10, 12], [4, 5]).gtInds)).to.deep.equal([1, 0]);
    });
  });

  describe('config', () => {
    it('fills every default of mmdet', () => {
      const a = build();
      expect([a.minPosIou, a.gtMaxAssignAll, a.ignoreIofThr, a.ignoreWrtCandidates, a.matchLowQuality, a.gpuAssignThr]).to.deep.equal([0, true, -1, true, true, -1]);
      // gpu_assign_thr and the default iou_calculator are accepted.
      expect(build({ gpu_assign_thr: 512, iou_calculator: { type: 'BboxOverlaps2D' }, perm_repeat_gt_cfg: null }).gpuAssignThr).to.equal(512);
    });

    it('names the config path of each error', () => {
      registerModels();
      expectSchemaError(() => TASK_UTILS.build({ type: 'MaxIoUAssigner', pos_iou_thr: 0.7 }, { path: 'test' }), /missing required key 'neg_iou_thr'/);
      expectSchemaError(() => build({ neg_iou_thr: [-0.1, 0.3] }), /test\.neg_iou_thr/);
      expectSchemaError(() => build({ neg_iou_thr: [0.1, 0.3, 0.5] }), /test\.neg_iou_thr/);
      expectSchemaError(() => build({ neg_iou_thr: 'low' }), /test\.neg_iou_thr/);
      expectSchemaError(() => build({ iou_calculator: { type: 'BboxOverlaps3D' } }), /test\.iou_calculator\.type/);
      expectSchemaError(() => build({ min_pos_iou: '0.3' }), /test\.min_pos_iou/);
      expectSchemaError(() => build({ pos_iou: 0.7 }), /unknown key for MaxIoUAssigner/);
      expectSchemaError(() => build({ perm_repeat_gt_cfg: { iou_thr: 0.7 } }), /test\.perm_repeat_gt_cfg/);
    });

    it('rejects label counts that do not match the gts', () => {
      expect(() => build().assign(PRIORS, GTS, [1])).to.throw(/1 gt labels for 2 gt boxes/);
    });
  });
});
