/**
 * Writes the synthetic shapes dataset in COCO format:
 *
 *   <out>/annotations/train.json, <out>/annotations/val.json
 *   <out>/train/000001.png ..., <out>/val/000001.png ...
 *   <out>/manifest.json        the parameters; written last, so it marks a complete dataset
 *
 * Image i of a split depends only on (seed, split, i): the same seed gives byte-identical files,
 * and a smaller run is a prefix of a larger one. A folder whose manifest has the same parameters
 * is left as it is.
 */
import fs from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { deriveSeed } from '../loader/derive-seed.js';
import { drawShapesImage, SHAPE_CLASSES, type ShapeObject } from './draw-shapes-image.js';

export interface ShapesDatasetOptions {
  readonly out: string;
  /** Number of training images. */
  readonly train: number;
  /** Number of validation images. */
  readonly val: number;
  readonly seed: number;
}

export interface ShapesDatasetResult {
  /** False when the folder already held a dataset with these parameters. */
  readonly generated: boolean;
  readonly images: number;
  readonly objects: number;
  readonly seconds: number;
}

const GENERATOR = 'tsdet-shapes';
/** Bump when the drawing changes, so that an old folder is regenerated. */
const GENERATOR_VERSION = 1;
const SPLITS = ['train', 'val'] as const;
type Split = (typeof SPLITS)[number];
/** PNG encodes in flight at once (sharp encodes on libuv threads while the next image is drawn). */
const ENCODES_IN_FLIGHT = 4;

interface Manifest {
  readonly generator: string;
  readonly version: number;
  readonly seed: number;
  readonly train: number;
  readonly val: number;
}

export class ShapesDatasetError extends Error {
  override name = 'ShapesDatasetError';
}

export async function makeShapesDataset(options: ShapesDatasetOptions): Promise<ShapesDatasetResult> {
  const start = performance.now();
  const manifest: Manifest = { generator: GENERATOR, version: GENERATOR_VERSION, seed: options.seed, train: options.train, val: options.val };
  checkCounts(options);
  if (await prepareFolder(options.out, manifest)) return { generated: false, images: options.train + options.val, objects: 0, seconds: (performance.now() - start) / 1000 };
  let objects = 0;
  for (const split of SPLITS) objects += await writeSplit(options.out, split, options[split], options.seed);
  // Last: a folder with a manifest is complete.
  await writeFile(manifestPath(options.out), `${JSON.stringify(manifest, null, 2)}\n`);
  return { generated: true, images: options.train + options.val, objects, seconds: (performance.now() - start) / 1000 };
}

function checkCounts(options: ShapesDatasetOptions): void {
  for (const key of ['train', 'val', 'seed'] as const) {
    if (!Number.isSafeInteger(options[key]) || options[key] < 0) throw new ShapesDatasetError(`--${key} must be an integer >= 0, got ${options[key]}`);
  }
}

const manifestPath = (out: string) => path.join(out, 'manifest.json');

/**
 * True when `out` already holds this dataset. Otherwise makes it ready to write: a dataset of
 * other parameters (it has our manifest) is removed; a non-empty folder that is not ours is an error.
 */
async function prepareFolder(out: string, manifest: Manifest): Promise<boolean> {
  if (!fs.existsSync(out)) {
    await mkdir(out, { recursive: true });
    return false;
  }
  const existing = readManifest(out);
  if (existing && JSON.stringify(existing) === JSON.stringify(manifest)) return true;
  const ours = existing?.generator === GENERATOR;
  const entries = fs.readdirSync(out);
  if (!ours && entries.length > 0) {
    throw new ShapesDatasetError(`${out} exists and holds other files (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''}); choose another --out or empty it`);
  }
  for (const entry of ['manifest.json', 'annotations', ...SPLITS]) await rm(path.join(out, entry), { recursive: true, force: true });
  return false;
}

function readManifest(out: string): Manifest | undefined {
  try {
    return JSON.parse(fs.readFileSync(manifestPath(out), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

/** Draws, encodes and writes one split; returns its number of objects. */
async function writeSplit(out: string, split: Split, count: number, seed: number): Promise<number> {
  const folder = path.join(out, split);
  await mkdir(folder, { recursive: true });
  await mkdir(path.join(out, 'annotations'), { recursive: true });
  const images: object[] = [];
  const annotations: object[] = [];
  const writes = new Set<Promise<void>>();
  for (let i = 0; i < count; i++) {
    const id = i + 1;
    const fileName = `${String(id).padStart(6, '0')}.png`;
    const { image, objects } = drawShapesImage(deriveSeed(seed, SPLITS.indexOf(split), i));
    images.push({ id, file_name: fileName, width: image.width, height: image.height });
    for (const object of objects) annotations.push(cocoAnnotation(annotations.length + 1, id, object));
    const write = encodePng(image.data, image.width, image.height).then((png) => writeFile(path.join(folder, fileName), png));
    writes.add(write);
    void write.finally(() => writes.delete(write)).catch(() => undefined);
    if (writes.size >= ENCODES_IN_FLIGHT) await Promise.race(writes);
  }
  await Promise.all(writes);
  const coco = { info: { description: `${GENERATOR} ${split} split`, version: GENERATOR_VERSION, seed }, licenses: [], images, annotations, categories: SHAPE_CLASSES.map((name, k) => ({ id: k + 1, name, supercategory: 'shape' })) };
  await writeFile(path.join(out, 'annotations', `${split}.json`), JSON.stringify(coco));
  return annotations.length;
}

const round2 = (value: number) => Math.round(value * 100) / 100;

function cocoAnnotation(id: number, imageId: number, object: ShapeObject): object {
  const [x1, y1, x2, y2] = object.box;
  return { id, image_id: imageId, category_id: SHAPE_CLASSES.indexOf(object.className) + 1, bbox: [round2(x1), round2(y1), round2(x2 - x1), round2(y2 - y1)], area: round2(object.area), iscrowd: 0 };
}

function encodePng(data: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(data, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
}
