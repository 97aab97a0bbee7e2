/**
 * DetVisualizationHook draws predictions on the images they were made for: the first image of
 * every interval-th validation batch (named by iteration), every image of the test batches it
 * draws (named by image), boxes below score_thr left out; show is refused with what to do.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { HOOKS } from '@tsdet/core';
import { DetVisualizationHook, registerEngine, type Runner } from '@tsdet/engine';

describe('DetVisualizationHook', () => {
  let dir: string;
  const runner = (): Runner => ({ logDir: path.join(dir, 'log'), iter: 12, evalDataset: { length: 2, metainfo: { classes: ['circle', 'square'] } } }) as unknown as Runner;
  const batch = () => ({ data_samples: ['a', 'b'].map((name) => ({ metainfo: { img_path: path.join(dir, `${name}.png`) } })) });
  const prediction = { bboxes: Float32Array.of(4, 4, 20, 20, 2, 2, 6, 6), scores: Float32Array.of(0.9, 0.1), labels: Int32Array.of(1, 0) };

  before(async () => {
    registerEngine();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdet-vis-'));
    for (const name of ['a', 'b']) await sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 40, g: 90, b: 140 } } }).png().toFile(path.join(dir, `${name}.png`));
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('draws the first image of every interval-th validation batch, named by iteration', async () => {
    const hook = new DetVisualizationHook({ draw: true, interval: 2, score_thr: 0.3, test_out_dir: null, priority: 50 });
    hook.afterValIter(runner(), 0, batch(), [prediction, prediction]);
    hook.afterValIter(runner(), 1, batch(), [prediction, prediction]);
    await hook.flush();
    const drawn = fs.readdirSync(path.join(dir, 'log', 'vis_data', 'vis_image'));
    expect(drawn).to.deep.equal(['a_12.png']);
    const picture = sharp(path.join(dir, 'log', 'vis_data', 'vis_image', 'a_12.png'));
    expect(await picture.metadata()).to.include({ width: 32, height: 24 });
    // The 0.9 box's edge changes pixels of the flat background.
    const { data } = await picture.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect(Array.from(data.subarray((12 * 32 + 4) * 3, (12 * 32 + 4) * 3 + 3))).to.not.deep.equal([40, 90, 140]);
  });

  it('leaves out predictions below score_thr', async () => {
    const hook = new DetVisualizationHook({ draw: true, interval: 1, score_thr: 0.95, test_out_dir: 'high', priority: 50 });
    hook.afterTestIter(runner(), 0, batch(), [prediction, prediction]);
    await hook.flush();
    const { data } = await sharp(path.join(dir, 'log', 'high', 'a.png')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const background = Buffer.from(Array.from({ length: 32 * 24 }, () => [40, 90, 140]).flat());
    expect(data.equals(background), 'an image with no box drawn').to.equal(true);
  });

  it('draws every test image into test_out_dir, and nothing without draw', async () => {
    const hook = new DetVisualizationHook({ draw: true, interval: 1, score_thr: 0.3, test_out_dir: 'pictures', priority: 50 });
    hook.afterTestIter(runner(), 0, batch(), [prediction, prediction]);
    await hook.flush();
    expect(fs.readdirSync(path.join(dir, 'log', 'pictures')).sort()).to.deep.equal(['a.png', 'b.png']);
    const off = new DetVisualizationHook({ draw: false, interval: 1, score_thr: 0.3, test_out_dir: 'off', priority: 50 });
    off.afterTestIter(runner(), 0, batch(), [prediction, prediction]);
    await off.flush();
    expect(fs.existsSync(path.join(dir, 'log', 'off'))).to.equal(false);
  });

  it('names a sample without img_path, and refuses show in Node', () => {
    const hook = new DetVisualizationHook({ draw: true, interval: 1, score_thr: 0.3, test_out_dir: null, priority: 50 });
    expect(() => hook.afterTestIter(runner(), 0, { data_samples: [{ metainfo: {} }] }, [prediction])).to.throw(/sample 0 of the batch has no metainfo\.img_path/);
    expect(() => HOOKS.build({ type: 'DetVisualizationHook', show: true }, { path: 'default_hooks.visualization' })).to.throw(/without a display/);
  });
});
