/**
 * The inference fixtures again with every eligible conv forced through Winograd F(2x2, 3x3)
 * (the 'auto' rule skips convs narrower than 32 channels, which most of these small cases are):
 * its float32 error must stay within mmdetection's tolerances, not only at the sizes where it
 * is chosen by default.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, WINOGRAD_KERNEL, withWinogradMode } from '@tsdet/core';
import { registerModels } from '../register.js';
import { formatComparison } from './compare.js';
import { fixturesDir } from './fixture-case.js';
import { REPO_ROOT } from './repo-root.js';
import { runCase } from './run-case.js';
import './runners.js';

const FIXTURES = fixturesDir(REPO_ROOT);
const INFERENCE_CASES = fs.existsSync(FIXTURES) ? fs.readdirSync(FIXTURES).filter((name) => /_eval$|^fpn_(default|on)|_infer$/.test(name)).sort() : [];

describe('parity: inference fixtures with Winograd forced on every eligible conv (wasm)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', verbose: false });
    registerModels();
  });

  it('finds the inference cases', () => {
    expect(INFERENCE_CASES.length, `inference cases in ${FIXTURES}`).to.be.at.least(7);
  });

  for (const name of INFERENCE_CASES) {
    it(name, async () => {
      const before = tf.memory().numTensors;
      let report: ReturnType<typeof runCase> | undefined;
      const profile = await tf.profile(() => void withWinogradMode('always', () => (report = runCase(path.join(FIXTURES, name)))));
      const failures = report!.comparisons.filter((c) => !c.ok).map(formatComparison);
      expect(failures, failures.join('\n')).to.deep.equal([]);
      expect(profile.kernelNames, 'Winograd ran').to.include(WINOGRAD_KERNEL);
      expect(tf.memory().numTensors, 'tensors leaked by the case').to.equal(before);
    });
  }
});
