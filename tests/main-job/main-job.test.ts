/**
 * `npm start` (tools/main.ts) end to end on a few images: generates the shapes dataset if needed,
 * trains the embedded default config for one epoch on 8 training images (4 batches of 2), evaluates on 4
 * validation images, and draws predictions. The full-length run (15 minutes) is the README's
 * main command; this checks that every stage runs and leaves its files.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

describe('npm start (tools/main.ts), shortened', function () {
  this.timeout(600_000);
  let workDir: string;
  let result: { status: number | null; stdout: string; stderr: string };

  before(() => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdet-main-'));
    const args = [
      '--import', 'tsx', '--conditions=source', path.join(ROOT, 'tools/main.ts'),
      '--work-dir', workDir, '--pictures', '2',
      '--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'train_dataloader.dataset.indices=8', 'val_dataloader.dataset.indices=4',
      'default_hooks.visualization.draw=true', 'default_hooks.visualization.interval=1',
    ];
    const run = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TSDET_BACKEND: 'wasm' } });
    result = { status: run.status, stdout: run.stdout, stderr: run.stderr };
  });

  after(() => {
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('exits 0 and prints the metrics, throughput and output locations', () => {
    expect(result.status, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/trained 4 iterations \(8 images\) in [\d.]+ min: [\d.]+ images\/s/);
    expect(result.stdout).to.match(/validation: bbox_mAP \d\.\d{3} {2}bbox_mAP_50 \d\.\d{3} {2}bbox_mAP_75 \d\.\d{3}/);
    expect(result.stdout).to.match(/pictures: .*predictions \(2 images, \d+ boxes with score >= 0\.3\)/);
  });

  it('leaves a loadable checkpoint, mmengine-style logs and the pictures', () => {
    const checkpoint = fs.readFileSync(path.join(workDir, 'last_checkpoint'), 'utf8').trim();
    expect(fs.existsSync(checkpoint), checkpoint).to.equal(true);
    const runDirs = fs.readdirSync(workDir).filter((name) => /^\d{8}_\d{6}$/.test(name));
    expect(runDirs).to.have.length(1);
    const scalars = fs.readFileSync(path.join(workDir, runDirs[0]!, 'vis_data', 'scalars.json'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(scalars.some((row) => typeof row['loss'] === 'number')).to.equal(true);
    expect(scalars.some((row) => typeof row['coco/bbox_mAP'] === 'number')).to.equal(true);
    // DetVisualizationHook with draw: the first image of the one validation batch, at iteration 4.
    expect(fs.readdirSync(path.join(workDir, runDirs[0]!, 'vis_data', 'vis_image'))).to.deep.equal(['000001_4.png']);
    const pictures = fs.readdirSync(path.join(workDir, 'predictions')).sort();
    expect(pictures.filter((name) => name.endsWith('.png'))).to.have.length(2);
    expect(pictures.filter((name) => name.endsWith('.json'))).to.have.length(2);
  });
});
