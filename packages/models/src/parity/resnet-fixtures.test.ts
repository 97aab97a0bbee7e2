/**
 * Parity with mmdetection on every ResNet fixture (../shared/fixtures/resnet*): eval outputs,
 * and in train mode the loss, every gradient and every BN buffer after the forward, within each
 * case's tolerance; frozen parameters get no gradient (the runner fails if ours and the
 * reference disagree on which parameters train).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@tsdet/core';
import { registerModels } from '../register.js';
import { formatComparison } from './compare.js';
import { fixturesDir } from './fixture-case.js';
import { REPO_ROOT } from './repo-root.js';
import { runCase, type RunCaseOptions } from './run-case.js';

const FIXTURES = fixturesDir(REPO_ROOT);
const RESNET_CASES = fs.existsSync(FIXTURES) ? fs.readdirSync(FIXTURES).filter((name) => name.startsWith('resnet')).sort() : [];

describe('parity: ResNet fixtures from mmdetection (wasm)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', verbose: false });
    registerModels();
  });

  it('finds the fixture folder', () => {
    expect(RESNET_CASES.length, `no resnet* cases in ${FIXTURES}`).to.be.at.least(7);
  });

  function expectCasePasses(name: string, options: RunCaseOptions = {}): void {
    const before = tf.memory().numTensors;
    const report = runCase(path.join(FIXTURES, name), options);
    const failures = report.comparisons.filter((c) => !c.ok).map(formatComparison);
    expect(failures, failures.join('\n')).to.deep.equal([]);
    expect(report.comparisons.length).to.be.at.least(4);
    expect(tf.memory().numTensors, 'tensors leaked by the case').to.equal(before);
  }

  for (const name of RESNET_CASES) it(name, () => expectCasePasses(name));

  // with_cp recomputes each block in the backward pass: the same loss, gradients and BN buffers
  // (updated once, not twice as PyTorch's checkpoint does) must come out.
  for (const name of RESNET_CASES.filter((n) => n.includes('train'))) {
    it(`${name} with with_cp: true`, () => expectCasePasses(name, { componentOverrides: { with_cp: true } }));
  }
});
