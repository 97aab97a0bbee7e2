/**
 * tools/train.ts, tools/test.ts and tools/analyze-logs.ts as a user runs them: argument and
 * config mistakes end with one message and exit status 1; analyze-logs plots and times a log.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const CONFIG = path.join(ROOT, 'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.json');

function tool(name: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=source', path.join(ROOT, 'tools', `${name}.ts`), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TSDET_BACKEND: 'cpu' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('tools/train.ts, tools/test.ts', function () {
  this.timeout(120_000);

  it('train: a bad --threads value is a usage error', () => {
    const { status, stderr } = tool('train', [CONFIG, '--threads', '0']);
    expect(status).to.equal(1);
    expect(stderr).to.match(/--threads <n>' argument '0' is invalid\. expected an integer >= 1/);
  });

  it('train: config mistakes name the key, the source and the closest name', () => {
    const { status, stderr } = tool('train', [CONFIG, '--cfg-options', 'optim_wrapper.optimizer.momentm=0.9', 'default_hooks.logger.intervall=5']);
    expect(status).to.equal(1);
    expect(stderr).to.match(/optim_wrapper\.optimizer\.momentm: unknown key for SGD \(did you mean 'momentum'\?\)/);
    expect(stderr).to.match(/default_hooks\.logger\.intervall: unknown key for LoggerHook \(did you mean 'interval'\?\)/);
  });

  it('train: a missing config file is one line', () => {
    const { status, stderr } = tool('train', ['no/such/config.json']);
    expect(status).to.equal(1);
    expect(stderr.trim().split('\n')).to.have.length(1);
    expect(stderr).to.match(/^train: .*no\/such\/config\.json/);
  });

  it('test: a missing checkpoint is named', () => {
    const { status, stderr } = tool('test', [CONFIG, 'missing.pth']);
    expect(status).to.equal(1);
    expect(stderr.trim()).to.equal('test: checkpoint missing.pth: file not found');
  });
});

describe('tools/analyze-logs.ts', function () {
  this.timeout(120_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdet-logs-'));
  const log = path.join(dir, 'scalars.json');
  const records = [
    { lr: 0.01, loss: 2, loss_cls: 1.2, time: 9, epoch: 1, iter: 1, step: 1 },
    { lr: 0.02, loss: 1.5, loss_cls: 1, time: 1, epoch: 1, iter: 2, step: 2 },
    { lr: 0.02, loss: 1.2, loss_cls: 0.8, time: 3, epoch: 1, iter: 3, step: 3 },
    { 'coco/bbox_mAP': 0.1, data_time: 0.1, time: 0.2, step: 1 },
    { lr: 0.02, loss: 1, loss_cls: 0.6, time: 9, epoch: 2, iter: 4, step: 4 },
    { lr: 0.02, loss: 0.9, loss_cls: 0.5, time: 2, epoch: 2, iter: 5, step: 5 },
    { 'coco/bbox_mAP': 0.2, data_time: 0.1, time: 0.2, step: 2 },
  ];
  before(() => fs.writeFileSync(log, records.map((r) => JSON.stringify(r)).join('\n') + '\n'));

  it('plot_curve writes a PNG of the training scalars and the metrics', async () => {
    const out = path.join(dir, 'curves.png');
    const { status, stdout, stderr } = tool('analyze-logs', ['plot_curve', log, '--keys', 'loss_cls', 'lr', 'bbox_mAP', '--out', out]);
    expect(status, stderr).to.equal(0);
    expect(stdout).to.include(`wrote ${out}`);
    const meta = await sharp(out).metadata();
    expect([meta.format, meta.width, meta.height]).to.deep.equal(['png', 960, 540]);
  });

  it('cal_train_time: per-epoch mean time without the first iteration of each epoch', () => {
    const { status, stdout } = tool('analyze-logs', ['cal_train_time', log]);
    expect(status).to.equal(0);
    // epoch 1: (1 + 3) / 2 = 2; epoch 2: 2 / 1 = 2 (the validation records are not training time)
    expect(stdout).to.include('slowest epoch 1, average time is 2.0000 s/iter');
    expect(stdout).to.include('time std over epochs is 0.0000');
    expect(stdout).to.include('average iter time: 2.0000 s/iter');
  });

  it('plot_curve: a key no log has is an error', () => {
    const { status, stderr } = tool('analyze-logs', ['plot_curve', log, '--keys', 'loss_mask', '--out', path.join(dir, 'x.png')]);
    expect(status).to.equal(1);
    expect(stderr).to.include("has no 'loss_mask' values");
    expect(stderr).to.include('none of the keys has any value in the logs');
  });
});
