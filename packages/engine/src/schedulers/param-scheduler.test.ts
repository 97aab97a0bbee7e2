/** Schedules against closed forms from mmdet-reference §4.10 and the SGDR paper (not our formulas). */
import { expect } from 'chai';
import { registerEngine, PARAM_SCHEDULER_DESCRIPTORS, type ParamGroup, type ParamScheduler, type ParamSchedulerFactory } from '@tsdet/engine';
import { PARAM_SCHEDULERS } from '@tsdet/core';

function groups(lr = 0.02): ParamGroup[] {
  return [{ params: ['w'], lr, momentum: 0.9, dampening: 0, weight_decay: 0, nesterov: false }];
}

function build(cfg: Record<string, unknown>, g: ParamGroup[], context = { epochLength: 100, maxEpochs: 12, maxIters: 1200 }): ParamScheduler {
  return PARAM_SCHEDULERS.build<ParamSchedulerFactory>(cfg, { path: 'param_scheduler.0' }).create(g, context);
}

describe('param schedulers (mmengine semantics)', () => {
  before(() => registerEngine());

  it('registers LinearLR, MultiStepLR, StepLR, ConstantLR, CosineAnnealingLR, ExponentialLR, PolyLR', () => {
    expect(PARAM_SCHEDULER_DESCRIPTORS.map((d) => d.type)).to.have.members(['LinearLR', 'MultiStepLR', 'StepLR', 'ConstantLR', 'CosineAnnealingLR', 'ExponentialLR', 'PolyLR']);
  });

  it("mmdet's schedule_1x: warm-up factor 0.001 + 0.999 t / 499 for t < 500, then x0.1 at epochs 8 and 11", () => {
    const g = groups();
    const warmup = build({ type: 'LinearLR', start_factor: 0.001, by_epoch: false, begin: 0, end: 500 }, g);
    const steps = build({ type: 'MultiStepLR', begin: 0, end: 12, by_epoch: true, milestones: [8, 11], gamma: 0.1 }, g);
    const lrAt: number[] = [];
    for (let t = 0; t < 600; t++) {
      lrAt.push(g[0]!.lr);
      warmup.step();
    }
    for (const t of [0, 1, 250, 498, 499]) expect(lrAt[t]).to.be.closeTo(0.02 * (0.001 + (0.999 * t) / 499), 1e-12);
    expect(lrAt[500]).to.be.closeTo(0.02, 1e-12);
    expect(lrAt[599]).to.be.closeTo(0.02, 1e-12);
    const byEpoch: number[] = [];
    for (let epoch = 0; epoch < 12; epoch++) {
      byEpoch.push(g[0]!.lr);
      steps.step();
    }
    expect(byEpoch.map((lr) => Number(lr.toPrecision(6)))).to.deep.equal([0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.002, 0.002, 0.002, 0.0002]);
  });

  it('convert_to_iter_based scales begin, end and milestones by the epoch length; a missing end is max_epochs', () => {
    const g = groups(1);
    const s = build({ type: 'MultiStepLR', milestones: [2], convert_to_iter_based: true }, g, { epochLength: 10, maxEpochs: 4, maxIters: 40 });
    expect([s.begin, s.end, s.byEpoch]).to.deep.equal([0, 40, false]);
    const lrs: number[] = [];
    for (let t = 0; t < 25; t++) {
      lrs.push(g[0]!.lr);
      s.step();
    }
    expect(lrs[19]).to.equal(1);
    expect(lrs[20]).to.be.closeTo(0.1, 1e-12);
  });

  it('CosineAnnealingLR follows eta_min + (base - eta_min)(1 + cos(pi t / T)) / 2', () => {
    const g = groups(1);
    const s = build({ type: 'CosineAnnealingLR', T_max: 10, eta_min: 0.1, by_epoch: false, begin: 0, end: 10 }, g);
    for (let t = 0; t < 10; t++) {
      expect(g[0]!.lr).to.be.closeTo(0.1 + (0.9 * (1 + Math.cos((Math.PI * t) / 10))) / 2, 1e-9);
      s.step();
    }
  });

  it('StepLR, ConstantLR, ExponentialLR and PolyLR', () => {
    const run = (cfg: Record<string, unknown>, n: number): number[] => {
      const g = groups(1);
      const s = build({ by_epoch: false, ...cfg }, g);
      return Array.from({ length: n }, () => {
        const lr = g[0]!.lr;
        s.step();
        return Number(lr.toPrecision(8));
      });
    };
    expect(run({ type: 'StepLR', step_size: 2, gamma: 0.5 }, 5)).to.deep.equal([1, 1, 0.5, 0.5, 0.25]);
    // mmengine: total_iters = end - begin - 1, so the factor holds for steps 0 and 1 (torch's ConstantLR(total_iters=2))
    expect(run({ type: 'ConstantLR', factor: 0.5, end: 3 }, 5)).to.deep.equal([0.5, 0.5, 1, 1, 1]);
    expect(run({ type: 'ExponentialLR', gamma: 0.5 }, 3)).to.deep.equal([1, 0.5, 0.25]);
    // PolyLR power 1 over [0, 5): lr_t = (1 - t / 4) (torch's PolynomialLR with total_iters 4)
    expect(run({ type: 'PolyLR', power: 1, eta_min: 0, end: 5 }, 5)).to.deep.equal([1, 0.75, 0.5, 0.25, 0]);
  });

  it('a saved state continues where it stopped', () => {
    const g1 = groups();
    const s1 = build({ type: 'LinearLR', start_factor: 0.1, by_epoch: false, end: 10 }, g1);
    for (let t = 0; t < 4; t++) s1.step();
    const state = s1.stateDict();
    const lrNow = g1[0]!.lr;
    const g2 = groups();
    const s2 = build({ type: 'LinearLR', start_factor: 0.1, by_epoch: false, end: 10 }, g2);
    s2.loadStateDict(state);
    g2[0]!.lr = lrNow; // the optimizer state carries the group's lr
    for (let t = 0; t < 6; t++) {
      s1.step();
      s2.step();
      expect(g2[0]!.lr).to.equal(g1[0]!.lr);
    }
    expect(() => build({ type: 'StepLR', step_size: 1, by_epoch: false }, groups()).loadStateDict(state, 'c.pth')).to.throw(/c\.pth is a LinearLR, the config builds a StepLR/);
  });

  it('rejects end <= begin and keys of other schedulers, naming the config path', () => {
    expect(() => build({ type: 'LinearLR', begin: 5, end: 5, by_epoch: false }, groups())).to.throw(/end must be larger than begin/);
    expect(() => build({ type: 'LinearLR', milestones: [1] }, groups())).to.throw(/param_scheduler\.0\.milestones: unknown key for LinearLR/);
  });
});
