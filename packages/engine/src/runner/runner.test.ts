import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, loadCheckpoint, loadPth } from '@tsdet/core';
import { TrainingDivergedError, TrainingOutOfMemoryError, type Runner } from '@tsdet/engine';
import { toyConfig, toyRunner } from '../../tests/support/toy-runner.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tsdet-engine-'));
}

async function train(config: Record<string, unknown>, workDir = tempDir()): Promise<{ runner: Runner; losses: number[]; workDir: string }> {
  const { runner, recorder } = await toyRunner(workDir, config);
  try {
    await runner.train();
  } finally {
    runner.model.dispose();
    runner.optimWrapper?.dispose();
  }
  return { runner, losses: recorder.losses, workDir };
}

function readLines(file: string): string[] {
  return fs.readFileSync(file, 'utf8').trim().split('\n');
}

describe('Runner (toy model)', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', verbose: false });
  });

  it('trains: the loss falls, logs in mmengine format, writes scalars.json, checkpoints and last_checkpoint', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const { runner, losses, workDir } = await train(toyConfig({ epochs: 3 }));
    expect(losses).to.have.length(12);
    const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean(losses.slice(8))).to.be.below(mean(losses.slice(0, 4)) / 2);
    // model and optimizer were disposed: nothing is left behind by training, validation or checkpoints
    expect(tf.memory().numTensors).to.equal(tensorsBefore);

    const log = readLines(path.join(runner.logDir, `${runner.timestamp}.log`));
    const trainLine = log.find((line) => line.includes('Epoch(train) [1][2/4]'));
    expect(trainLine).to.match(/ - tsdet - INFO - Epoch\(train\) \[1\]\[2\/4\] {2}lr: \d\.\d{4}e-\d\d {2}eta: 0:00:\d\d {2}time: \d+\.\d{4} {2}data_time: \d+\.\d{4} {2}memory: \d+ {2}loss: \d+\.\d{4} {2}loss_reg: \d+\.\d{4} {2}loss_levels: \d+\.\d{4} {2}acc: 0\.5000$/);
    expect(log.some((line) => /Epoch\(val\) \[1\]\[4\/4\] {4}toy\/mse_loss: \d+\.\d{4} {2}toy\/neg_mse_acc: -\d+\.\d{4} {2}data_time: \d+\.\d{4} {2}time: \d+\.\d{4}$/.test(line))).to.equal(true);
    expect(log.some((line) => line.endsWith('Saving checkpoint at 3 epochs'))).to.equal(true);

    const scalars = readLines(path.join(runner.logDir, 'vis_data', 'scalars.json')).map((line) => JSON.parse(line) as Record<string, number>);
    const trainRecords = scalars.filter((r) => 'lr' in r);
    expect(trainRecords.map((r) => r['step'])).to.deep.equal([2, 4, 6, 8, 10, 12]);
    expect(trainRecords[0]).to.include.keys('loss', 'loss_reg', 'time', 'data_time', 'memory', 'epoch', 'iter');
    expect(scalars.filter((r) => 'toy/mse_loss' in r).map((r) => r['step'])).to.deep.equal([1, 2, 3]);

    for (const n of [1, 2, 3]) expect(fs.existsSync(path.join(workDir, `epoch_${n}.pth`))).to.equal(true);
    expect(fs.readFileSync(path.join(workDir, 'last_checkpoint'), 'utf8')).to.equal(path.join(workDir, 'epoch_3.pth'));
    expect(fs.readdirSync(workDir).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);
  });

  it('follows the schedule: warm-up by iteration, x0.1 at epoch 2 (lr read from each iteration)', async () => {
    const workDir = tempDir();
    const { runner, recorder } = await toyRunner(workDir, toyConfig({ epochs: 3 }));
    const lrs: number[] = [];
    runner.registerHook({ name: 'lr', priority: 0, beforeTrainIter: (r) => void lrs.push(r.optimWrapper!.getLr()[0]!) });
    await runner.train();
    runner.model.dispose();
    runner.optimWrapper!.dispose();
    expect(recorder.losses).to.have.length(12);
    // LinearLR(start 0.1, end 5 iterations): factor 0.1 + 0.9 t / 4 for t = 0..4, then 1; MultiStepLR x0.1 from epoch 2.
    const expected = [0.1, 0.325, 0.55, 0.775, 1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1].map((f) => 0.1 * f);
    lrs.forEach((lr, i) => expect(lr).to.be.closeTo(expected[i]!, 1e-12));
  });

  it('is deterministic: the same seed gives bit-identical losses, another seed different ones', async () => {
    const a = await train(toyConfig({ epochs: 1, seed: 11 }));
    const b = await train(toyConfig({ epochs: 1, seed: 11 }));
    const c = await train(toyConfig({ epochs: 1, seed: 12 }));
    expect(a.losses).to.deep.equal(b.losses);
    expect(a.losses[0]).to.not.equal(c.losses[0]);
  });

  it('resumes exactly from an epoch checkpoint and from a mid-epoch iteration checkpoint', async () => {
    const full = await train(toyConfig({ epochs: 3 }));
    // A run that stopped after epoch 1 left exactly the full run's epoch_1.pth behind.
    const resumedDir = tempDir();
    fs.copyFileSync(path.join(full.workDir, 'epoch_1.pth'), path.join(resumedDir, 'epoch_1.pth'));
    fs.writeFileSync(path.join(resumedDir, 'last_checkpoint'), path.join(resumedDir, 'epoch_1.pth'));
    const resumed = await train(toyConfig({ epochs: 3, extra: { resume: true } }), resumedDir);
    expect(resumed.losses).to.deep.equal(full.losses.slice(4));

    const byIter = await train(toyConfig({ epochs: 3, checkpoint: { by_epoch: false, interval: 3 } }));
    expect(byIter.losses).to.deep.equal(full.losses);
    const midDir = tempDir();
    fs.copyFileSync(path.join(byIter.workDir, 'iter_6.pth'), path.join(midDir, 'iter_6.pth'));
    const mid = await train(toyConfig({ epochs: 3, checkpoint: { by_epoch: false, interval: 3 }, extra: { resume: true, load_from: path.join(midDir, 'iter_6.pth') } }), midDir);
    expect(mid.losses).to.deep.equal(full.losses.slice(6));
  });

  it('stops on a NaN loss naming the term, the iteration and the images, and keeps the last checkpoint', async () => {
    // 16 samples, batches of 4, shuffled: sample 5 is in some batch of epoch 2 (every epoch visits it).
    const workDir = tempDir();
    const config = toyConfig({ epochs: 3 });
    const first = await train(config, workDir);
    const epoch1 = fs.readFileSync(path.join(workDir, 'epoch_1.pth'));
    const { runner } = await toyRunner(tempDir(), toyConfig({ epochs: 3, nanSamples: [5], extra: { resume: true, load_from: path.join(workDir, 'epoch_1.pth') } }));
    const error = await runner.train().then(
      () => undefined,
      (e: unknown) => e,
    );
    runner.model.dispose();
    runner.optimWrapper!.dispose();
    expect(error).to.be.instanceOf(TrainingDivergedError);
    const message = (error as Error).message;
    expect(message).to.match(/non-finite loss: loss = NaN, loss_reg = NaN, loss_levels = NaN at iteration \d+ \(epoch 2, batch \d of 4\); images in the batch: (\d+, ){0,3}5(, \d+){0,3}\./);
    expect(message).to.include('no parameter is NaN');
    // the checkpoint the run resumed from is untouched and still loads
    expect(Buffer.compare(fs.readFileSync(path.join(workDir, 'epoch_1.pth')), epoch1)).to.equal(0);
    expect(loadCheckpoint(path.join(workDir, 'epoch_1.pth')).stateDict.size).to.equal(2);
    expect(first.losses.every(Number.isFinite)).to.equal(true);
  });

  it('reports a step that ran the wasm heap out as out of memory, with what to change, and keeps the last checkpoint', async () => {
    const workDir = tempDir();
    const { runner } = await toyRunner(workDir, toyConfig({ epochs: 3 }));
    // What the wasm module throws when an allocation fails inside a kernel, from iteration 6 on (epoch 2).
    const computeLosses = runner.model.computeLosses.bind(runner.model);
    runner.model.computeLosses = (batch: unknown) => {
      if (runner.iter >= 5) throw Object.assign(new Error('memory access out of bounds'), { name: 'RuntimeError' });
      return computeLosses(batch as never);
    };
    const error = await runner.train().then(
      () => undefined,
      (e: unknown) => e,
    );
    runner.model.dispose();
    runner.optimWrapper!.dispose();
    expect(error).to.be.instanceOf(TrainingOutOfMemoryError);
    const message = (error as Error).message;
    expect(message).to.match(/^the training step at iteration 6 ran out of memory on \w+/);
    expect(message).to.include(`The last checkpoint is ${path.join(workDir, 'epoch_1.pth')}`);
    expect(message).to.include('with_cp');
    expect(loadCheckpoint(path.join(workDir, 'epoch_1.pth')).stateDict.size).to.equal(2);
  });

  it('keeps max_keep_ckpts checkpoints and the best one by the validation metric', async () => {
    const { workDir } = await train(toyConfig({ epochs: 3, checkpoint: { max_keep_ckpts: 2, save_best: 'toy/neg_mse_acc' } }));
    const files = fs.readdirSync(workDir).filter((f) => f.endsWith('.pth')).sort();
    expect(files.filter((f) => f.startsWith('epoch_'))).to.deep.equal(['epoch_2.pth', 'epoch_3.pth']);
    const best = files.filter((f) => f.startsWith('best_'));
    expect(best).to.have.length(1);
    expect(best[0]).to.match(/^best_toy_neg_mse_acc_epoch_[123]\.pth$/);
    const saved = loadPth(path.join(workDir, best[0]!)) as { optimizer?: unknown; message_hub: { runtime_info: { best_score: number } } };
    expect(saved.optimizer).to.equal(undefined);
    expect(saved.message_hub.runtime_info.best_score).to.be.a('number');
  });

  it('runs an IterBasedTrainLoop: Iter(train) lines, iter_N checkpoints, a new order every pass', async () => {
    const config = toyConfig({ checkpoint: { by_epoch: false, interval: 5 }, extra: { train_dataloader: { batch_size: 4, samples: 16, skipped: { unreadable_image: 2, degenerate_box: 1 } }, train_cfg: { type: 'IterBasedTrainLoop', max_iters: 10, val_interval: 5 }, param_scheduler: [{ type: 'LinearLR', start_factor: 0.5, by_epoch: false, end: 3 }], log_processor: { by_epoch: false, window_size: 2 } } });
    const { runner, losses, workDir } = await train(config);
    expect(losses).to.have.length(10);
    expect(fs.existsSync(path.join(workDir, 'iter_5.pth')) && fs.existsSync(path.join(workDir, 'iter_10.pth'))).to.equal(true);
    const log = readLines(path.join(runner.logDir, `${runner.timestamp}.log`));
    expect(log.some((line) => / - INFO - Iter\(train\) \[ 2\/10\] {2}lr: .* {2}skipped: 3$/.test(line))).to.equal(true);
    expect(log.some((line) => /Iter\(val\) \[4\/4\] {4}toy\/mse_loss/.test(line))).to.equal(true);
  });
});
