/**
 * Every backbone, neck, detector and RoIAlign/NMS fixture (../shared/fixtures, PyTorch's
 * numbers) through the ONNX path: export from the tsdet module, run on onnxruntime-node,
 * compare at the case's tolerances (detections and proposals as sets). Fixed input sizes, and
 * dynamic ones for the cases whose graph computes sizes (anchors, plugins, FPN upsampling).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@tsdet/core';
import { fixturesDir, formatComparison, registerModels } from '@tsdet/models';
import { REPO_ROOT } from '../testing/repo-root.js';
import { runCaseOnnx, type OnnxCaseOptions } from './onnx-parity.js';

const FIXTURES = fixturesDir(REPO_ROOT);
/** Cases of the kinds the ONNX path runs (anchors_coder's anchors are checked inside the detector). */
const CASES = fs.existsSync(FIXTURES) ? fs.readdirSync(FIXTURES).filter((name) => /^(resnet|fpn|faster_rcnn|roi_align)/.test(name)).sort() : [];
const DYNAMIC_CASES = ['faster_rcnn_r50_fpn_infer', 'resnet50_plugins_eval', 'fpn_on_input', 'resnet18_pytorch_eval'];

describe('onnx parity: fixtures from mmdetection through export + ONNX Runtime', function () {
  this.timeout(120_000);

  before(async () => {
    await initBackend({ backend: 'cpu', verbose: false });
    registerModels();
  });

  it('finds every backbone, neck, detector and RoIAlign/NMS case', () => {
    expect(CASES.length, `cases in ${FIXTURES}`).to.be.at.least(13);
  });

  async function expectPasses(name: string, options: OnnxCaseOptions): Promise<void> {
    const before = tf.memory().numTensors;
    const report = await runCaseOnnx(path.join(FIXTURES, name), { threads: 1, ...options });
    const failures = report.comparisons.filter((c) => !c.ok).map(formatComparison);
    expect(failures, failures.join('\n')).to.deep.equal([]);
    expect(report.comparisons.length).to.be.at.least(2);
    expect(tf.memory().numTensors, 'tensors left by building, loading and exporting').to.equal(before);
  }

  for (const name of CASES) it(`${name} (fixed input size)`, () => expectPasses(name, {}));
  for (const name of DYNAMIC_CASES) it(`${name} (dynamic input size)`, () => expectPasses(name, { dynamic: true }));
});
