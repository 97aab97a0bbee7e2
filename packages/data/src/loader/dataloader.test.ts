/** buildDataLoader: batches from a loader config, determinism over (seed, epoch, index), resuming, prefetch. */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { ConfigValidationError, errorThrownBy, RandomStream } from '@tsdet/core';
import { setDataWarningHandler } from '../datasets/data-issues.js';
import type { DetDataBatch } from '../preprocessor/det-data-preprocessor.js';
import { registerData } from '../register.js';
import { solidImage, withTempDir, writePng } from '../test-support.test.js';
import { buildDataLoader, type DetDataLoader } from './build-dataloader.js';

type Json = Record<string, unknown>;

/** Writes `count` images; image i (id i + 1) is (10 + i) wide and `heightOf(i)` high, with one box [1, 1, 4, 3]. */
async function writeDataset(dir: string, count: number, heightOf: (i: number) => number = () => 8): Promise<void> {
  const images: Json[] = [];
  for (let i = 0; i < count; i++) {
    const [width, height] = [10 + i, heightOf(i)];
    images.push({ id: i + 1, file_name: `${i + 1}.png`, width, height });
    await writePng(dir, `${i + 1}.png`, solidImage(width, height, [i, 2 * i, 3 * i]));
  }
  const annotations = images.map((image, i) => ({ id: 100 + i, image_id: image['id'], category_id: 1, bbox: [1, 1, 3, 2], area: 6, iscrowd: 0 }));
  await writeFile(path.join(dir, 'train.json'), JSON.stringify({ images, annotations, categories: [{ id: 1, name: 'thing' }] }));
}

const TRAIN_PIPELINE = [{ type: 'LoadImageFromFile' }, { type: 'LoadAnnotations' }, { type: 'RandomFlip', prob: 0.5 }, { type: 'PackDetInputs', meta_keys: ['img_id', 'flip'] }];

function loaderConfig(dir: string, extra: Json = {}, sampler: Json = { type: 'DefaultSampler', shuffle: true }): Json {
  return {
    batch_size: 2,
    num_workers: 2,
    persistent_workers: true,
    sampler,
    dataset: { type: 'CocoDataset', data_root: dir, ann_file: 'train.json', data_prefix: { img: '' }, pipeline: TRAIN_PIPELINE },
    ...extra,
  };
}

/** What identifies a batch's content: per sample, the image id, the flip and the box. */
function describeBatch(batch: DetDataBatch): string[] {
  return batch.data_samples!.map((s) => `${String(s.metainfo.img_id)}${s.metainfo.flip ? 'f' : ''}:${[...s.gt_instances.bboxes].join(',')}`);
}

async function collect(loader: DetDataLoader, startBatch = 0, limit = Infinity): Promise<string[][]> {
  const out: string[][] = [];
  for await (const batch of loader.batches(startBatch)) {
    out.push(describeBatch(batch));
    if (out.length >= limit) break;
  }
  return out;
}

const imageIds = (batches: string[][]) => batches.flat().map((s) => Number(s.split(/[f:]/)[0]));

const configError = (fn: () => unknown): ConfigValidationError => errorThrownBy(fn, ConfigValidationError);

describe('loader/buildDataLoader', () => {
  before(() => registerData());

  it('yields collated batches in order without shuffling, the short last batch unless drop_last', async () => {
    await withTempDir(async (dir) => {
      await writeDataset(dir, 5);
      const loader = buildDataLoader(loaderConfig(dir, { dataset: { type: 'CocoDataset', data_root: dir, ann_file: 'train.json', pipeline: [{ type: 'LoadImageFromFile' }, { type: 'PackDetInputs', meta_keys: ['img_id'] }] } }, { type: 'DefaultSampler', shuffle: false }), { path: 'val_dataloader' });
      expect([loader.length, loader.dataset.length, loader.batchSize]).to.deep.equal([3, 5, 2]);
      expect(loader.dataset.metainfo.classes).to.deep.equal(['thing']);
      const batches: DetDataBatch[] = [];
      for await (const batch of loader.batches()) batches.push(batch);
      expect(batches.map((b) => b.data_samples!.map((s) => s.metainfo.img_id))).to.deep.equal([[1, 2], [3, 4], [5]]);
      expect(batches[1]!.inputs.map((image) => image.width)).to.deep.equal([12, 13]);
      const dropLast = buildDataLoader(loaderConfig(dir, { drop_last: true }, { type: 'DefaultSampler', shuffle: false }));
      expect(dropLast.length).to.equal(2);
      expect(imageIds(await collect(dropLast))).to.deep.equal([1, 2, 3, 4]);
    });
  });

  it('shuffles by (seed, epoch): every epoch a permutation, the same for the same seed, another for another seed or epoch', async () => {
    await withTempDir(async (dir) => {
      await writeDataset(dir, 12);
      const order = async (seed: number, epoch: number) => {
        const loader = buildDataLoader(loaderConfig(dir), { seed });
        loader.setEpoch(epoch);
        return imageIds(await collect(loader));
      };
      const first = await order(3, 0);
      expect([...first].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 12 }, (_, i) => i + 1));
      expect(await order(3, 0)).to.deep.equal(first);
      expect(await order(4, 0)).to.not.deep.equal(first);
      expect(await order(3, 1)).to.not.deep.equal(first);
      // the sampler's own seed wins over the run's seed
      const own = buildDataLoader(loaderConfig(dir, {}, { type: 'DefaultSampler', shuffle: true, seed: 3 }), { seed: 99 });
      expect(imageIds(await collect(own))).to.deep.equal(first);
    });
  });

  it('resumed at batch k of epoch e, gives exactly the batches (order, flips, boxes) of an uninterrupted run', async () => {
    await withTempDir(async (dir) => {
      await writeDataset(dir, 12);
      const uninterrupted = buildDataLoader(loaderConfig(dir), { seed: 11 });
      const epochs: string[][][] = [];
      for (const epoch of [0, 1, 2]) {
        uninterrupted.setEpoch(epoch);
        epochs.push(await collect(uninterrupted));
      }
      const flips = epochs.flat(2).filter((s) => s.includes('f')).length;
      expect(flips).to.be.within(6, 30); // of 36 draws at p = 0.5: both outcomes occur
      expect(epochs[1]).to.not.deep.equal(epochs[2]);
      // a new process, resuming at batch 4 of epoch 1, with another prefetch depth
      const resumed = buildDataLoader(loaderConfig(dir, { num_workers: 1, prefetch_factor: 1 }), { seed: 11 });
      resumed.setEpoch(1);
      expect(await collect(resumed, 4)).to.deep.equal(epochs[1]!.slice(4));
      resumed.setEpoch(2);
      expect(await collect(resumed)).to.deep.equal(epochs[2]);
      // a flipped box is mirrored in its image: x1' = W - x2 with W = 10 + (id - 1)
      for (const sample of epochs.flat(2).filter((s) => s.includes('f'))) {
        const id = Number(sample.split('f')[0]);
        expect(sample.split(':')[1]).to.equal(`${10 + id - 1 - 4},1,${10 + id - 1 - 1},3`);
      }
    });
  });

  it('groups portrait and landscape images with AspectRatioBatchSampler, as mmdet', async () => {
    await withTempDir(async (dir) => {
      // widths 10..16; heights make images 0, 2, 3, 6 portrait (w < h): P L P P L L P
      const portrait = new Set([0, 2, 3, 6]);
      await writeDataset(dir, 7, (i) => (portrait.has(i) ? 30 : 5));
      const loader = buildDataLoader(loaderConfig(dir, { batch_sampler: { type: 'AspectRatioBatchSampler' } }, { type: 'DefaultSampler', shuffle: false }));
      // buckets fill as P[1] L[2] P[1,3] -> yield; P[4] L[2,5] -> yield; L[6] P[4,7] -> yield; leftover L[6]
      expect(imageIds(await collect(loader))).to.deep.equal([1, 3, 2, 5, 4, 7, 6]);
      expect((await collect(loader)).map((b) => b.length)).to.deep.equal([2, 2, 2, 1]);
      expect(loader.length).to.equal(4);
      const dropLast = buildDataLoader(loaderConfig(dir, { batch_sampler: { type: 'AspectRatioBatchSampler', drop_last: true } }, { type: 'DefaultSampler', shuffle: false }));
      expect(dropLast.length).to.equal(3);
    });
  });

  it('InfiniteSampler: batches go on past the data, and batches(k) continues batches() at k', async () => {
    await withTempDir(async (dir) => {
      await writeDataset(dir, 5);
      const loader = buildDataLoader(loaderConfig(dir, {}, { type: 'InfiniteSampler', shuffle: true }), { seed: 2 });
      expect(loader.length).to.equal(3);
      const eight = await collect(loader, 0, 8);
      const ids = imageIds(eight);
      expect(ids).to.have.length(16);
      for (const pass of [ids.slice(0, 5), ids.slice(5, 10), ids.slice(10, 15)]) expect([...pass].sort()).to.deep.equal([1, 2, 3, 4, 5]);
      expect(await collect(loader, 3, 5)).to.deep.equal(eight.slice(3));
    });
  });

  it('exposes what the dataset skipped, per reason', async () => {
    await withTempDir(async (dir) => {
      await writeDataset(dir, 4);
      await writeFile(path.join(dir, '2.png'), 'not a png');
      const previous = setDataWarningHandler(() => undefined);
      try {
        const loader = buildDataLoader(loaderConfig(dir, {}, { type: 'DefaultSampler', shuffle: false }), { seed: 0 });
        const ids = imageIds(await collect(loader));
        expect(ids).to.have.length(4);
        expect(ids).to.not.include(2);
        expect(loader.skipped).to.deep.equal({ unreadable_image: 1 });
      } finally {
        setDataWarningHandler(previous);
      }
    });
  });

  it('reports config problems with their full path', async () => {
    await withTempDir(async (dir) => {
      await writeDataset(dir, 2);
      const bad = configError(() => buildDataLoader(loaderConfig(dir, { batch_size: 0, shuffle: true }, { type: 'DefaultSampler', shufle: true }), { path: 'train_dataloader' }));
      expect(bad.message).to.include('train_dataloader.batch_size: must be >= 1');
      expect(bad.message).to.include('train_dataloader.shuffle: unknown key');
      expect(bad.message).to.include('train_dataloader.sampler.shufle: unknown key');
      const nested = configError(() => buildDataLoader({ ...loaderConfig(dir), dataset: { type: 'CocoDataset', ann_file: 'x.json', pipeline: [{ type: 'RandomFlip', prob: 2 }] } }, { path: 'train_dataloader' }));
      expect(nested.message).to.include('train_dataloader.dataset.pipeline.0.prob: must be <= 1');
      const dropLast = configError(() => buildDataLoader(loaderConfig(dir, { drop_last: true, batch_sampler: { type: 'AspectRatioBatchSampler' } }), { path: 'train_dataloader' }));
      expect(dropLast.message).to.include('train_dataloader.drop_last: cannot be combined with batch_sampler');
      const empty = configError(() => buildDataLoader(loaderConfig(dir, { dataset: { type: 'CocoDataset', data_root: dir, ann_file: 'train.json', indices: 0 } }), { path: 'train_dataloader' }));
      expect(empty.message).to.include('train_dataloader.dataset: the dataset has no samples');
    });
  });

  it('keeps decoding while the consumer computes: the next batches are ready when asked for', async function () {
    this.timeout(120000);
    // A timing test on a shared machine: another process can take the decoding threads' cores
    // for a moment. Loading only when asked waits longer than loading alone, every time.
    this.retries(2);
    await withTempDir(async (dir) => {
      // Large noise JPEGs take tens of milliseconds each to decode (on libuv's threads).
      const count = 10;
      const size = 1600;
      const images: Json[] = [];
      for (let i = 0; i < count; i++) {
        const jpeg = await sharp(randomBytes(size * size * 3), { raw: { width: size, height: size, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
        await writeFile(path.join(dir, `${i}.jpg`), jpeg);
        images.push({ id: i, file_name: `${i}.jpg`, width: size, height: size });
      }
      await writeFile(path.join(dir, 'train.json'), JSON.stringify({ images, annotations: [], categories: [{ id: 1, name: 'thing' }] }));
      const pipeline = [{ type: 'LoadImageFromFile', channel_order: 'rgb' }, { type: 'PackDetInputs', meta_keys: ['img_id'] }];
      const cfg = { batch_size: 1, num_workers: 2, prefetch_factor: 2, sampler: { type: 'DefaultSampler', shuffle: false }, dataset: { type: 'CocoDataset', data_root: dir, ann_file: 'train.json', pipeline } };
      const loader = buildDataLoader(cfg);

      // Loading alone, one image at a time (after one warm-up decode).
      await loader.dataset.getItem(0, Math.random);
      let start = performance.now();
      for (let i = 0; i < count; i++) await loader.dataset.getItem(i, new RandomStream(i).uniform);
      const loadAlone = performance.now() - start;

      // The consumer works synchronously (as a training step does) for longer than a decode takes.
      const busyPerBatch = (4 * loadAlone) / count;
      let waited = 0;
      let batches = 0;
      const iterator = loader.batches()[Symbol.asyncIterator]();
      for (;;) {
        start = performance.now();
        const next = await iterator.next();
        if (batches > 0) waited += performance.now() - start; // the first batch cannot be ahead
        if (next.done) break;
        batches++;
        const until = performance.now() + busyPerBatch;
        while (performance.now() < until); // busy: no callback runs, only libuv's threads
      }
      expect(batches).to.equal(count);
      // Without loading ahead, the consumer would wait about loadAlone * (count - 1) / count.
      const sequentialWait = (loadAlone * (count - 1)) / count;
      expect(waited, `waited ${waited.toFixed(0)} ms for batches 2..${count}; loading them alone takes ${sequentialWait.toFixed(0)} ms`).to.be.below(0.5 * sequentialWait);
    });
  });
});
