/** CocoDataset on small annotation files written by hand. */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigValidationError, DATASETS, RandomStream } from '@tsdet/core';
import { registerData } from '../register.js';
import { solidImage, withTempDir, writePng } from '../test-support.test.js';
import { CocoDataset } from './coco-dataset.js';
import { setDataWarningHandler } from './data-issues.js';

type Json = Record<string, unknown>;

const CATEGORIES = [
  { id: 7, name: 'cat' },
  { id: 3, name: 'dog' },
];

/** Writes `annotations.json` (and a PNG per image unless listed in `withoutFiles`) into `dir`. */
async function writeDataset(dir: string, coco: { images: Json[]; annotations: Json[]; categories?: Json[] }, withoutFiles: string[] = []): Promise<void> {
  for (const image of coco.images) {
    const name = image['file_name'] as string;
    if (withoutFiles.includes(name)) continue;
    await writePng(dir, name, solidImage(image['width'] as number, image['height'] as number, [10, 20, 30]));
  }
  await writeFile(path.join(dir, 'annotations.json'), JSON.stringify({ categories: CATEGORIES, ...coco }));
}

const image = (id: number, width = 40, height = 30): Json => ({ id, file_name: `${id}.png`, width, height });
const ann = (id: number, imageId: number, categoryId: number, bbox: number[], extra: Json = {}): Json => ({ id, image_id: imageId, category_id: categoryId, bbox, area: bbox[2]! * bbox[3]!, iscrowd: 0, ...extra });

function build(dir: string, cfg: Json = {}): CocoDataset {
  return DATASETS.build<CocoDataset>({ type: 'CocoDataset', data_root: dir, ann_file: 'annotations.json', data_prefix: { img: '' }, ...cfg }, { path: 'train_dataloader.dataset' });
}

/** Runs `fn` with data warnings captured instead of printed. */
async function capturingWarnings<T>(fn: (warnings: string[]) => Promise<T>): Promise<T> {
  const warnings: string[] = [];
  const previous = setDataWarningHandler((message) => warnings.push(message));
  try {
    return await fn(warnings);
  } finally {
    setDataWarningHandler(previous);
  }
}

describe('datasets/CocoDataset', () => {
  before(() => registerData());

  it('maps category ids to contiguous labels, categories sorted by id without metainfo.classes', async () => {
    await withTempDir(async (dir) => {
      await writeDataset(dir, { images: [image(1)], annotations: [ann(10, 1, 7, [1, 2, 10, 5]), ann(11, 1, 3, [5, 5, 3, 3])] });
      const dataset = build(dir);
      expect(dataset.metainfo.classes).to.deep.equal(['dog', 'cat']); // id 3 before id 7
      expect(dataset.catIds).to.deep.equal([3, 7]);
      const info = dataset.getDataInfo(0);
      expect(info).to.deep.include({ img_id: 1, img_path: path.join(dir, '1.png'), width: 40, height: 30 });
      // COCO [x, y, w, h] becomes [x1, y1, x2, y2]
      expect(info.instances).to.deep.equal([
        { bbox: [1, 2, 11, 7], bbox_label: 1, ignore_flag: 0 },
        { bbox: [5, 5, 8, 8], bbox_label: 0, ignore_flag: 0 },
      ]);
    });
  });

  it('selects categories by name with metainfo.classes, in the order given; others are dropped', async () => {
    await withTempDir(async (dir) => {
      await writeDataset(dir, { images: [image(1)], annotations: [ann(10, 1, 7, [1, 2, 10, 5]), ann(11, 1, 3, [5, 5, 3, 3])] });
      const dataset = await capturingWarnings(async () => build(dir, { metainfo: { classes: ['cat'] } }));
      expect(dataset.metainfo.classes).to.deep.equal(['cat']);
      expect(dataset.getDataInfo(0).instances).to.deep.equal([{ bbox: [1, 2, 11, 7], bbox_label: 0, ignore_flag: 0 }]);
      expect(dataset.skipped).to.deep.equal({}); // left out by choice, not bad data
      const both = build(dir, { metainfo: { classes: ['cat', 'dog'] } });
      expect(both.getDataInfo(0).instances.map((i) => i.bbox_label)).to.deep.equal([0, 1]);
    });
  });

  it("refuses a class name the file lacks, listing the file's names", async () => {
    await withTempDir(async (dir) => {
      await writeDataset(dir, { images: [image(1)], annotations: [] });
      expect(() => build(dir, { metainfo: { classes: ['cat', 'horse'] } })).to.throw(/train_dataloader\.dataset \(CocoDataset\): metainfo\.classes has 'horse', not a category of .*annotations\.json \(it has 'cat', 'dog'\)/);
    });
  });

  it('turns iscrowd boxes into ignored instances', async () => {
    await withTempDir(async (dir) => {
      await writeDataset(dir, { images: [image(1)], annotations: [ann(10, 1, 7, [1, 2, 10, 5], { iscrowd: 1 }), ann(11, 1, 3, [5, 5, 3, 3])] });
      const dataset = build(dir, { pipeline: [{ type: 'LoadImageFromFile' }, { type: 'LoadAnnotations' }, { type: 'PackDetInputs', meta_keys: ['img_id'] }] });
      const packed = await dataset.getItem(0, new RandomStream(0).uniform);
      expect([...packed.data_samples.gt_instances.bboxes]).to.deep.equal([5, 5, 8, 8]);
      expect([...packed.data_samples.gt_instances.labels]).to.deep.equal([0]);
      expect([...packed.data_samples.ignored_instances.bboxes]).to.deep.equal([1, 2, 11, 7]);
      expect(packed.data_samples.metainfo).to.deep.equal({ img_id: 1 });
    });
  });

  it('skips bad annotations and missing images, each with a message naming the file and id, and counts them', async () => {
    await withTempDir(async (dir) => {
      await writeDataset(
        dir,
        {
          images: [image(1), image(2), { id: 3, file_name: '3.png' }],
          annotations: [
            ann(10, 1, 7, [1, 2, 10, 5]), // fine
            ann(11, 1, 7, [1, 2, 0.5, 5]), // narrower than a pixel
            ann(12, 1, 7, [50, 2, 10, 5]), // right of the 40 px wide image
            ann(13, 1, 99, [1, 2, 10, 5]), // no such category
            ann(14, 42, 7, [1, 2, 10, 5]), // no such image
            { id: 15, image_id: 1, category_id: 7, bbox: [1, 2, 'x', 5] },
            ann(16, 2, 3, [1, 1, 5, 5]), // fine, but image 2 has no file
            ann(17, 3, 3, [1, 1, 5, 5]), // image 3 has no size: reported with its image only
          ],
        },
        ['2.png', '3.png'],
      );
      const { dataset, warnings } = await capturingWarnings(async (warnings) => ({ dataset: build(dir), warnings }));
      expect(dataset.length).to.equal(1);
      expect(dataset.getDataInfo(0).instances).to.deep.equal([{ bbox: [1, 2, 11, 7], bbox_label: 1, ignore_flag: 0 }]);
      expect(dataset.skipped).to.deep.equal({ image_without_size: 1, degenerate_box: 1, box_outside_image: 1, unknown_category: 1, unknown_image: 1, malformed_annotation: 1, missing_image: 1 });
      const text = warnings.join('\n');
      expect(text).to.match(/annotations\.json: annotation id 11 \(image 1 '1\.png'\) has bbox \[1,2,0\.5,5\].*narrower or lower than 1 pixel/);
      expect(text).to.include("annotation id 12 (image 1 '1.png') has bbox [50,2,10,5], entirely outside the 40x30 image; skipped");
      expect(text).to.include("annotation id 13 (image 1 '1.png') has category_id 99, which is not in categories; skipped");
      expect(text).to.include('annotation id 14 has image_id 42, which is not in images; skipped');
      expect(text).to.include('annotation id 15 (image 1 \'1.png\') has bbox [1,2,"x",5], not four numbers');
      expect(text).to.include("image 3 '3.png' has width undefined and height undefined; skipped with its annotations");
      expect(text).to.match(/image 2 '.*2\.png' \(1 annotation\): not found; skipped/);
      expect(warnings[warnings.length - 1]).to.match(/skipped 1 image_without_size, .*1 missing_image$/);
    });
  });

  it('replaces an image that cannot be decoded by another one, counting it (training)', async () => {
    await withTempDir(async (dir) => {
      await writeDataset(dir, { images: [image(1), image(2)], annotations: [ann(10, 1, 7, [1, 2, 10, 5]), ann(11, 2, 3, [1, 1, 5, 5])] });
      await writeFile(path.join(dir, '1.png'), 'not a png');
      const pipeline = [{ type: 'LoadImageFromFile' }, { type: 'LoadAnnotations' }, { type: 'PackDetInputs', meta_keys: ['img_id'] }];
      await capturingWarnings(async (warnings) => {
        const dataset = build(dir, { pipeline });
        const packed = await dataset.getItem(0, new RandomStream(5).uniform);
        expect(packed.data_samples.metainfo.img_id).to.equal(2);
        expect(dataset.skipped.unreadable_image).to.be.at.least(1);
        expect(warnings[0]).to.match(/image 1 '.*1\.png' \(1 annotation\): cannot load image .*not a decodable image.*another image is loaded instead/);
      });
      const testMode = build(dir, { pipeline, test_mode: true });
      let error: unknown;
      await testMode.getItem(0, Math.random).catch((e: unknown) => (error = e));
      expect(String(error)).to.match(/image 1 .*1\.png.*test_mode needs every image/);
    });
  });

  it('gives up after max_refetch failures', async () => {
    await withTempDir(async (dir) => {
      await writeDataset(dir, { images: [image(1)], annotations: [ann(10, 1, 7, [1, 2, 10, 5])] });
      await writeFile(path.join(dir, '1.png'), 'not a png');
      await capturingWarnings(async () => {
        const dataset = build(dir, { pipeline: [{ type: 'LoadImageFromFile' }, { type: 'PackDetInputs', meta_keys: [] }], max_refetch: 2 });
        let error: unknown;
        await dataset.getItem(0, Math.random).catch((e: unknown) => (error = e));
        expect(String(error)).to.match(/no loadable image found after 2 refetches/);
        expect(dataset.skipped).to.deep.equal({ unreadable_image: 3 });
      });
    });
  });

  it("filters as mmdet's filter_data: empty images and small ones, in training only; then indices", async () => {
    await withTempDir(async (dir) => {
      const images = [image(1, 40, 32), image(2, 40, 32), image(3, 20, 40), image(4, 40, 32), image(5, 40, 32)];
      // image 2: no annotation; image 3: shorter side 20; image 4: only a crowd box (kept, as mmdet)
      const annotations = [ann(10, 1, 7, [1, 2, 10, 5]), ann(11, 3, 7, [1, 2, 10, 5]), ann(12, 4, 3, [1, 2, 10, 5], { iscrowd: 1 }), ann(13, 5, 3, [1, 2, 10, 5])];
      await writeDataset(dir, { images, annotations });
      const ids = (d: CocoDataset) => Array.from({ length: d.length }, (_, i) => d.getDataInfo(i).img_id);
      const filterCfg = { filter_empty_gt: true, min_size: 32 };
      expect(ids(build(dir, { filter_cfg: filterCfg }))).to.deep.equal([1, 4, 5]);
      expect(ids(build(dir, { filter_cfg: { filter_empty_gt: true } }))).to.deep.equal([1, 3, 4, 5]);
      expect(ids(build(dir, { filter_cfg: filterCfg, test_mode: true }))).to.deep.equal([1, 2, 3, 4, 5]);
      // an image whose only annotations are of classes left out counts as empty
      expect(ids(build(dir, { filter_cfg: filterCfg, metainfo: { classes: ['cat'] } }))).to.deep.equal([1]);
      expect(ids(build(dir, { filter_cfg: filterCfg, indices: 2 }))).to.deep.equal([1, 4]);
      expect(ids(build(dir, { indices: [4, 0] }))).to.deep.equal([5, 1]);
      expect(() => build(dir, { indices: [5] })).to.throw(/indices 5 are outside the 5 samples/);
    });
  });

  it('defers reading the file with lazy_init', async () => {
    await withTempDir(async (dir) => {
      const dataset = build(dir, { lazy_init: true }); // no file yet
      await writeDataset(dir, { images: [image(1)], annotations: [] });
      expect(dataset.length).to.equal(1);
    });
  });

  it('names the file when it is missing or not COCO', async () => {
    await withTempDir(async (dir) => {
      expect(() => build(dir)).to.throw(/cannot read the annotation file .*annotations\.json: no such file/);
      await writeFile(path.join(dir, 'annotations.json'), JSON.stringify({ images: [], annotations: {} }));
      expect(() => build(dir)).to.throw(/annotations\.json: 'annotations' must be a list/);
      await writeFile(path.join(dir, 'annotations.json'), JSON.stringify({ images: [], categories: [], annotations: [{ id: 1 }, { id: 1 }] }));
      expect(() => build(dir)).to.throw(/annotation id 1 appears twice/);
    });
  });

  it('validates its config with its own schema, naming the path', () => {
    let error: unknown;
    try {
      DATASETS.build({ type: 'CocoDataset', ann_file: 'a.json', filter_cfg: { min_sise: 32 }, backend_args: { backend: 'petrel' }, proposal_file: 'p.pkl' }, { path: 'train_dataloader.dataset' });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ConfigValidationError);
    const message = (error as Error).message;
    expect(message).to.include('train_dataloader.dataset.filter_cfg.min_sise: unknown key');
    expect(message).to.include('train_dataloader.dataset.backend_args');
    expect(message).to.include('train_dataloader.dataset.proposal_file');
  });
});
