/**
 * tools/export-onnx.ts and tools/infer.ts --runtime onnx as a user runs them: the tiny Faster
 * R-CNN with an mmdetection checkpoint (classes person, car, dog in its meta) is exported, loads
 * in onnxruntime-node without a single warning, and the ONNX inference writes the same
 * detections as tsdet's tfjs path on the same image.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { initBackend, prepareConfig } from '@tsdet/core';
import { createInferenceSession, detectImage, registerData, type DetectionRecord } from '@tsdet/data';
import { matchInstanceSets, registerModels } from '@tsdet/models';
import { registerEngine } from '@tsdet/engine';
import { REPO_ROOT } from '../testing/repo-root.js';

const TINY_CONFIG = path.join(REPO_ROOT, 'tests', 'infer', 'faster-rcnn_r50_fpn_tiny.json');
const MMDET_PTH = path.join(REPO_ROOT, 'tests', 'infer', 'faster-rcnn_r50_fpn_tiny_mmdet.pth');
const LOW_SCORE_THR = 'model.test_cfg.rcnn.score_thr=0.0';

interface ToolRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs tools/<name>.ts with tsx from the repository root, as the docs show. */
function runTool(name: string, args: readonly string[]): Promise<ToolRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', path.join(REPO_ROOT, 'tools', `${name}.ts`), ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let [stdout, stderr] = ['', ''];
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function writePattern(file: string, width: number, height: number): Promise<void> {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 13 + Math.floor(i / (width * 3)) * 7) % 256;
  await sharp(data, { raw: { width, height, channels: 3 } }).png().toFile(file);
}

describe('tools/export-onnx.ts and tools/infer.ts --runtime onnx', function () {
  this.timeout(180_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdet-onnx-tools-'));
  const model = path.join(dir, 'tiny.onnx');
  const image = path.join(dir, 'street.png');

  before(async () => {
    await writePattern(image, 200, 150);
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('exports the detector with its .json, and ORT loads it without warnings', async () => {
    const run = await runTool('export-onnx', [TINY_CONFIG, MMDET_PTH, '--out', model, '--dynamic', '--cfg-options', LOW_SCORE_THR]);
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/wrote .*tiny\.onnx .*detector, dynamic input size/);
    expect(run.stdout).to.match(/onnxruntime-node loads it in/);
    // ORT prints warnings (unknown ops, shape-inference trouble, unused initializers) as "[W:onnxruntime".
    expect(run.stderr).to.not.match(/\[W:onnxruntime|\[E:onnxruntime/);
    const info = JSON.parse(fs.readFileSync(`${model}.json`, 'utf8')) as { class_names: string[]; input_size: unknown; preprocess: { bgr_to_rgb: boolean } };
    expect(info.class_names).to.deep.equal(['person', 'car', 'dog']);
    expect(info.input_size).to.equal(null);
    expect(info.preprocess.bgr_to_rgb).to.equal(true);
  });

  it('infer --runtime onnx writes the detections the tfjs path finds', async () => {
    const out = path.join(dir, 'out');
    const run = await runTool('infer', [TINY_CONFIG, model, image, '--out', out, '--runtime', 'onnx', '--threads', '1']);
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/runtime: onnxruntime-node/);
    const record = JSON.parse(fs.readFileSync(path.join(out, 'street.json'), 'utf8')) as DetectionRecord;
    // Named from the checkpoint's meta kept in the .json, not the config's cat/dog/bird.
    expect(record.class_names.every((name) => ['person', 'car', 'dog'].includes(name))).to.equal(true);
    expect(fs.statSync(path.join(out, 'street.png')).size).to.be.greaterThan(1000);

    registerModels();
    registerData();
    registerEngine();
    await initBackend({ backend: 'cpu', verbose: false });
    const session = createInferenceSession(await prepareConfig(TINY_CONFIG, { cfgOptions: [LOW_SCORE_THR] }), MMDET_PTH);
    try {
      const { detections } = await detectImage(session, image);
      expect(detections.scores.length, 'the tfjs path finds boxes (else this proves nothing)').to.be.greaterThan(10);
      const ours = { bboxes: Float32Array.from(record.bboxes.flat()), scores: Float32Array.from(record.scores), labels: Int32Array.from(record.labels) };
      expect(ours.scores.length).to.equal(detections.scores.length);
      // The JSON rounds boxes to 0.01 px and scores to 1e-4: compare at that precision.
      const match = matchInstanceSets(ours, detections, 0.01 + 1e-3, 1e-4 + 1e-5);
      expect(match.unmatched, `max box dev ${match.maxBoxDev}, max score dev ${match.maxScoreDev}`).to.equal(0);
    } finally {
      session.dispose();
    }
  });

  it('names what is wrong with an unusable --input-shape', async () => {
    const run = await runTool('export-onnx', [TINY_CONFIG, MMDET_PTH, '--out', path.join(dir, 'bad.onnx'), '--input-shape', '100,128']);
    expect(run.status).to.equal(1);
    expect(run.stderr).to.match(/100x128 must be a multiple of pad_size_divisor 32/);
  });
});
