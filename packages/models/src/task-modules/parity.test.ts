/**
 * The two task-module fixtures from mmdetection (anchors_coder, roi_align_nms) through runCase,
 * on wasm and on cpu: every stored tensor within the case's tolerance, NMS indices equal, no
 * tensor leaked.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, withoutLeaks, type BackendName } from '@tsdet/core';
import { formatComparison } from '../parity/compare.js';
import { fixturesDir } from '../parity/fixture-case.js';
import { REPO_ROOT } from '../parity/repo-root.js';
import { runCase } from '../parity/run-case.js';
import '../parity/runners.js';
import { registerModels } from '../register.js';

const FIXTURES = fixturesDir(REPO_ROOT);

/** Tensors each case must compare (so a runner that silently skips part of the case fails). */
const EXPECTED_COMPARISONS: Record<string, number> = {
  // base anchors, 5 x (anchors + valid flags), 2 coders x (encode + 3 decodes)
  anchors_coder: 1 + 5 * 2 + 2 * 4,
  // roi levels + roi feats, 2 thresholds x (nms, batched) x (keep, dets), multiclass dets + labels
  roi_align_nms: 2 + 2 * 2 * 2 + 2,
};

for (const backend of ['wasm', 'cpu'] as BackendName[]) {
  describe(`parity: task-module fixtures from mmdetection (${backend})`, () => {
    before(async () => {
      await initBackend({ backend, threads: 1, verbose: false });
      registerModels();
    });

    for (const [name, count] of Object.entries(EXPECTED_COMPARISONS)) {
      it(name, async () => {
        const dir = path.join(FIXTURES, name);
        expect(fs.existsSync(dir), `no fixture case ${dir}`).to.equal(true);
        const report = await withoutLeaks(() => runCase(dir), name);
        const failures = report.comparisons.filter((c) => !c.ok).map(formatComparison);
        expect(failures, failures.join('\n')).to.deep.equal([]);
        expect(report.comparisons.map((c) => c.name)).to.have.length(count);
        expect(tf.getBackend()).to.equal(backend);
      });
    }
  });
}
