/**
 * tools/test.ts --runtime onnx: the same detector evaluated by tfjs and, exported with
 * tools/export-onnx.ts, by ONNX Runtime gives the same COCO metrics on the same data. The data is
 * a small shapes split generated into a temp folder; score_thr 0 keeps every detection, so the
 * metrics are non-trivial even for random weights.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend, prepareConfig, stateDictOf, writeSafetensors } from '@tsdet/core';
import { buildInferenceDetector, makeShapesDataset, registerData } from '@tsdet/data';
import { registerModels } from '@tsdet/models';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const CONFIG = path.join(ROOT, 'configs/faster_rcnn/faster-rcnn_r18_fpn_shapes.json');

function tool(name: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=source', path.join(ROOT, 'tools', `${name}.ts`), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TSDET_BACKEND: 'wasm' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
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
    await makeShapesDataset({ out: path.join(dir, 'shapes'), train: 0, val: 6, seed: 3 });
    const data = path.join(dir, 'shapes') + '/';
    cfgOptions = [
      `test_dataloader.dataset.data_root=${data}`,
      `test_evaluator.ann_file=${data}annotations/val.json`,
      'model.test_cfg.rcnn.score_thr=0.0',
    ];
    registerModels();
    registerData();
    await initBackend({ backend: 'cpu', verbose: false });
    const { resolved } = await prepareConfig(CONFIG, { cfgOptions });
    const model = buildInferenceDetector(resolved, CONFIG);
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
    const tfjs = tool('test', [CONFIG, checkpoint, '--work-dir', path.join(dir, 'tfjs'), '--cfg-options', ...cfgOptions]);
    const onnx = tool('test', [CONFIG, onnxFile, '--runtime', 'onnx', '--threads', '1', '--work-dir', path.join(dir, 'onnx'), '--cfg-options', ...cfgOptions]);
    expect(tfjs.status, tfjs.stderr).to.equal(0);
    expect(onnx.status, onnx.stderr).to.equal(0);
    const expected = metricsOf(tfjs.stdout);
    expect(Object.keys(expected)).to.include('coco/bbox_mAP');
    expect(Number(expected['coco/bbox_mAP_50']), 'random weights with score_thr 0 still match something').to.be.greaterThan(0);
    expect(metricsOf(onnx.stdout)).to.deep.equal(expected);
  });

  it('refuses an ONNX model file that does not exist, in one line', () => {
    const { status, stderr } = tool('test', [CONFIG, path.join(dir, 'missing.onnx'), '--runtime', 'onnx', '--cfg-options', ...cfgOptions]);
    expect(status).to.equal(1);
    expect(stderr.trim().split('\n')).to.have.length(1);
    expect(stderr).to.match(/missing\.onnx: file not found/);
  });
});
