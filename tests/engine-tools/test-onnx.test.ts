/**
 * tools/test.ts --runtime onnx: the same detector evaluated by tfjs and, exported with
 * tools/export-onnx.ts, by ONNX Runtime gives the same COCO metrics on the same data. The data is
 * a small shapes split generated into a temp folder; score_thr 0 keeps every detection, and the
 * detections themselves are compared too (the metrics of random weights may all be 0).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend, prepareConfig, stateDictOf, writeSafetensors } from '@tsdet/core';
import { buildInferenceDetector, makeShapesDataset, registerData } from '@tsdet/data';
import { registerModels } from '@tsdet/models';
import { registerEngine, withSeededMathRandom } from '@tsdet/engine';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const CONFIG = path.join(ROOT, 'configs/faster_rcnn/faster-rcnn_r18_fpn_shapes.json');

function tool(name: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=source', path.join(ROOT, 'tools', `${name}.ts`), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TSDET_BACKEND: 'wasm' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface Detection {
  image_id: number;
  category_id: number;
  bbox: number[];
  score: number;
}

/** A COCO results file, ordered by image, class and descending score. */
function sortedDetections(file: string): Detection[] {
  const all = JSON.parse(fs.readFileSync(file, 'utf8')) as Detection[];
  return all.sort((a, b) => a.image_id - b.image_id || a.category_id - b.category_id || b.score - a.score);
}

/** The detections of `a` that no distinct detection of `b` matches (equal scores may come in either order). */
function unmatched(a: readonly Detection[], b: readonly Detection[]): Detection[] {
  const used = new Set<number>();
  const twin = (d: Detection): number =>
    b.findIndex((e, j) => !used.has(j) && e.image_id === d.image_id && e.category_id === d.category_id && Math.abs(e.score - d.score) <= 1e-4 && e.bbox.every((v, k) => Math.abs(v - d.bbox[k]!) <= 0.05));
  return a.filter((d) => {
    const j = twin(d);
    if (j >= 0) used.add(j);
    return j < 0;
  });
}

/** `name: value` lines of tools/test.ts as a record. */
function metricsOf(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split('\n').filter((line) => line.startsWith('coco/')).map((line) => line.split(': ') as [string, string]));
}

describe('tools/test.ts --runtime onnx', function () {
  this.timeout(600_000);
  let dir: string;
  let cfgOptions: string[];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdet-test-onnx-'));
    await makeShapesDataset({ out: path.join(dir, 'shapes'), train: 0, val: 12, seed: 3 });
    const data = path.join(dir, 'shapes') + '/';
    cfgOptions = [
      `test_dataloader.dataset.data_root=${data}`,
      `test_evaluator.ann_file=${data}annotations/val.json`,
      'model.test_cfg.rcnn.score_thr=0.0',
    ];
    registerModels();
    registerData();
    registerEngine();
    await initBackend({ backend: 'cpu', verbose: false });
    const { resolved } = await prepareConfig(CONFIG, { cfgOptions });
    // Seeded, as the runner builds models: the same random weights on every run, so whether they
    // match anything is not left to chance.
    const model = withSeededMathRandom(7, () => buildInferenceDetector(resolved, CONFIG));
    writeSafetensors(path.join(dir, 'random.safetensors'), stateDictOf(model));
    model.dispose();
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives the metrics of the tfjs detector', () => {
    const checkpoint = path.join(dir, 'random.safetensors');
    const onnxFile = path.join(dir, 'shapes.onnx');
    const exported = tool('export-onnx', [CONFIG, checkpoint, '--out', onnxFile, '--dynamic', '--cfg-options', ...cfgOptions]);
    expect(exported.status, exported.stderr).to.equal(0);
    const results = (name: string) => [`test_evaluator.outfile_prefix=${path.join(dir, name)}`];
    const tfjs = tool('test', [CONFIG, checkpoint, '--work-dir', path.join(dir, 'tfjs'), '--cfg-options', ...cfgOptions, ...results('tfjs')]);
    const onnx = tool('test', [CONFIG, onnxFile, '--runtime', 'onnx', '--threads', '1', '--work-dir', path.join(dir, 'onnx'), '--cfg-options', ...cfgOptions, ...results('onnx')]);
    expect(tfjs.status, tfjs.stderr).to.equal(0);
    expect(onnx.status, onnx.stderr).to.equal(0);
    const expected = metricsOf(tfjs.stdout);
    expect(Object.keys(expected)).to.include('coco/bbox_mAP');
    expect(metricsOf(onnx.stdout)).to.deep.equal(expected);
    // The metrics of random weights may all be 0, so the detections themselves are compared too:
    // many of them (score_thr 0), the same boxes, classes and scores on both runtimes.
    const detections = (name: string) => sortedDetections(path.join(dir, `${name}.bbox.json`));
    const [fromTfjs, fromOnnx] = [detections('tfjs'), detections('onnx')];
    expect(fromTfjs.length, 'detections of the random weights').to.be.greaterThan(100);
    expect(fromOnnx.length).to.equal(fromTfjs.length);
    expect(unmatched(fromTfjs, fromOnnx), 'tfjs detections with no ONNX twin (same image and class, score within 1e-4, box within 0.05 px)').to.deep.equal([]);
  });

  it('refuses an ONNX model file that does not exist, in one line', () => {
    const { status, stderr } = tool('test', [CONFIG, path.join(dir, 'missing.onnx'), '--runtime', 'onnx', '--cfg-options', ...cfgOptions]);
    expect(status).to.equal(1);
    expect(stderr.trim().split('\n')).to.have.length(1);
    expect(stderr).to.match(/missing\.onnx: file not found/);
  });
});
