/** The synthetic shapes dataset: determinism, annotations within the stated ranges, tight boxes, the manifest. */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { withTempDir } from '../test-support.test.js';
import { circle, star, triangle } from './geometry.js';
import type { Rgb } from '../visualization/palette.js';
import { drawShapesImage, SHAPES_LIMITS } from './draw-shapes-image.js';
import { makeShapesDataset } from './make-shapes-dataset.js';

/** sha256 of every file under `dir`, by relative path. */
function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out[path.relative(dir, file)] = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  }
  return out;
}

type CocoFile = { images: { id: number; file_name: string; width: number; height: number }[]; annotations: { image_id: number; category_id: number; bbox: number[]; area: number }[]; categories: { id: number; name: string }[] };
const readCoco = (file: string): CocoFile => JSON.parse(fs.readFileSync(file, 'utf8')) as CocoFile;

describe('shapes/geometry', () => {
  it('states exact extents and areas', () => {
    expect(circle(10, 20, 5).box).to.deep.equal([5, 15, 15, 25]);
    expect(circle(0, 0, 2).area).to.be.closeTo(Math.PI * 4, 1e-12);
    // base 10, height 8, apex up, then pointing right: the box turns with it
    const up = triangle(50, 50, 10, 8, 0);
    expect(up.box).to.deep.equal([45, 46, 55, 54]);
    expect(up.area).to.equal(40);
    expect(triangle(50, 50, 10, 8, 1).box).to.deep.equal([46, 45, 54, 55]);
    // a star with its first point up reaches exactly radius above the centre
    expect(star(0, 0, 10, 0).box[1]).to.be.closeTo(-10, 1e-12);
  });

  it('covers pixels inside fully, outside not at all, and the edge by half', () => {
    const disc = circle(10, 10, 4);
    expect(disc.coverage(10, 10)).to.equal(1);
    expect(disc.coverage(10, 15)).to.equal(0);
    expect(disc.coverage(14, 10)).to.equal(0.5);
    const tri = triangle(10, 10, 10, 10, 0); // apex (10, 5), base y = 15
    expect(tri.coverage(10, 12)).to.equal(1);
    expect(tri.coverage(10, 15)).to.equal(0.5);
    expect(tri.coverage(3, 14)).to.equal(0);
  });
});

describe('shapes/drawShapesImage', () => {
  it('draws images and objects within the stated ranges, overlapping little', () => {
    let objects = 0;
    for (let seed = 0; seed < 40; seed++) {
      const { image, objects: list } = drawShapesImage(seed);
      expect(image.width).to.be.within(SHAPES_LIMITS.minSide, SHAPES_LIMITS.maxSide);
      expect(image.height).to.be.within(SHAPES_LIMITS.minSide, SHAPES_LIMITS.maxSide);
      expect(list.length).to.be.within(1, 5);
      objects += list.length;
      for (const [k, { box }] of list.entries()) {
        const [x1, y1, x2, y2] = box;
        expect(x1 >= 0 && y1 >= 0 && x2 <= image.width && y2 <= image.height, `box ${box.join(',')} inside ${image.width}x${image.height}`).to.equal(true);
        expect(Math.max(x2 - x1, y2 - y1)).to.be.within(10, 80);
        for (const other of list.slice(0, k)) {
          const w = Math.min(x2, other.box[2]) - Math.max(x1, other.box[0]);
          const h = Math.min(y2, other.box[3]) - Math.max(y1, other.box[1]);
          const smaller = Math.min((x2 - x1) * (y2 - y1), (other.box[2] - other.box[0]) * (other.box[3] - other.box[1]));
          if (w > 0 && h > 0) expect((w * h) / smaller).to.be.at.most(0.3);
        }
      }
    }
    expect(objects / 40).to.be.within(2, 4); // 1-5 per image, a few placements may not fit
  });

  it("boxes are tight: the shape's own colour reaches each side of its box and never beyond", () => {
    const near = (a: Rgb, b: readonly number[]) => Math.hypot(a[0] - b[0]!, a[1] - b[1]!, a[2] - b[2]!) < 30;
    let checked = 0;
    for (let seed = 0; seed < 30; seed++) {
      const { image, objects } = drawShapesImage(seed);
      for (const object of objects) {
        // objects that others do not come near, so that every pixel of that colour is this object's
        const [x1, y1, x2, y2] = object.box;
        const alone = objects.every((o) => o === object || o.box[0] > x2 + 3 || o.box[2] < x1 - 3 || o.box[1] > y2 + 3 || o.box[3] < y1 - 3);
        if (!alone) continue;
        let [mx1, my1, mx2, my2] = [Infinity, Infinity, -Infinity, -Infinity];
        for (let y = Math.max(0, Math.floor(y1) - 3); y < Math.min(image.height, Math.ceil(y2) + 3); y++) {
          for (let x = Math.max(0, Math.floor(x1) - 3); x < Math.min(image.width, Math.ceil(x2) + 3); x++) {
            const i = (y * image.width + x) * 3;
            if (!near(object.color, [...image.data.subarray(i, i + 3)])) continue;
            [mx1, my1, mx2, my2] = [Math.min(mx1, x), Math.min(my1, y), Math.max(mx2, x + 1), Math.max(my2, y + 1)];
          }
        }
        // Nothing of the shape's colour lies outside the box, and it comes within 2.5 px of every
        // side (the pixels at a sharp tip, 36 degrees for a star, are only partly covered).
        expect([mx1 - x1, my1 - y1, x2 - mx2, y2 - my2].every((gap) => gap > -1 && gap < 2.5), `seed ${seed} ${object.className} box ${object.box.map((v) => v.toFixed(1)).join(',')} vs drawn ${[mx1, my1, mx2, my2].join(',')}`).to.equal(true);
        checked++;
      }
    }
    expect(checked).to.be.above(20);
  });
});

describe('shapes/makeShapesDataset', () => {
  it('writes COCO files; the same seed gives the same bytes, another seed other bytes', async function () {
    this.timeout(60000);
    await withTempDir(async (dir) => {
      const [a, b, c] = ['a', 'b', 'c'].map((name) => path.join(dir, name));
      const result = await makeShapesDataset({ out: a!, train: 6, val: 3, seed: 5 });
      expect(result).to.include({ generated: true, images: 9 });
      await makeShapesDataset({ out: b!, train: 6, val: 3, seed: 5 });
      await makeShapesDataset({ out: c!, train: 6, val: 3, seed: 6 });
      const [ha, hb, hc] = [hashes(a!), hashes(b!), hashes(c!)];
      expect(Object.keys(ha).sort()).to.deep.equal([
        'annotations/train.json',
        'annotations/val.json',
        'manifest.json',
        ...[1, 2, 3, 4, 5, 6].map((i) => `train/00000${i}.png`),
        ...[1, 2, 3].map((i) => `val/00000${i}.png`),
      ]);
      expect(hb).to.deep.equal(ha);
      expect(hc['train/000001.png']).to.not.equal(ha['train/000001.png']);

      const train = readCoco(path.join(a!, 'annotations', 'train.json'));
      expect(train.categories.map((cat) => [cat.id, cat.name])).to.deep.equal([
        [1, 'circle'],
        [2, 'square'],
        [3, 'triangle'],
        [4, 'star'],
      ]);
      expect(train.images.map((im) => im.file_name)).to.deep.equal([1, 2, 3, 4, 5, 6].map((i) => `00000${i}.png`));
      expect(train.annotations.length).to.equal(result.objects - readCoco(path.join(a!, 'annotations', 'val.json')).annotations.length);
      const first = train.images[0]!;
      const png = fs.readFileSync(path.join(a!, 'train', first.file_name));
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).to.deep.equal([first.width, first.height]); // IHDR
    });
  });

  it('leaves a folder with the same parameters alone, regenerates ours otherwise, and refuses a foreign one', async () => {
    await withTempDir(async (dir) => {
      const out = path.join(dir, 'shapes');
      await makeShapesDataset({ out, train: 2, val: 1, seed: 0 });
      expect((await makeShapesDataset({ out, train: 2, val: 1, seed: 0 })).generated).to.equal(false);
      const again = await makeShapesDataset({ out, train: 3, val: 1, seed: 0 });
      expect(again.generated).to.equal(true);
      expect(fs.readdirSync(path.join(out, 'train'))).to.have.length(3);
      const foreign = path.join(dir, 'photos');
      await mkdir(foreign);
      await writeFile(path.join(foreign, 'holiday.jpg'), 'x');
      let error: unknown;
      await makeShapesDataset({ out: foreign, train: 1, val: 1, seed: 0 }).catch((e: unknown) => (error = e));
      expect(String(error)).to.match(/photos exists and holds other files \(holiday\.jpg\)/);
    });
  });
});
