/**
 * The whole train path on images of three sizes: CocoDataset -> LoadImageFromFile ->
 * LoadAnnotations -> Resize(keep_ratio) -> RandomFlip -> PackDetInputs -> batch ->
 * DetDataPreprocessor(pad_size_divisor 32). Each image is grey with one red rectangle exactly
 * at its annotated box; after the pipeline, the boxes must equal hand-computed values and still
 * frame the red pixels of the padded batch tensor.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, withoutLeaks } from '@tsdet/core';
import type { RawImage } from '../image/raw-image.js';
import { DetDataPreprocessor, type DetDataBatch } from '../preprocessor/det-data-preprocessor.js';
import { registerData } from '../register.js';
import { withTempDir, writePng } from '../test-support.test.js';
import { buildDataLoader } from './build-dataloader.js';

const GREY = [60, 60, 60] as const;
const RED = [255, 0, 0] as const;

/** A grey RGB image with a red rectangle covering pixels x1..x2-1, y1..y2-1. */
function imageWithBox(width: number, height: number, [x1, y1, x2, y2]: readonly number[]): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(x >= x1! && x < x2! && y >= y1! && y < y2! ? RED : GREY, (y * width + x) * 3);
  }
  return { data, width, height, channels: 3, channelOrder: 'rgb' };
}

// (width, height, box x1 y1 x2 y2) before the pipeline, and by hand after it. Resize keep_ratio to
// (200, 200): factor = 200 / longer side (A 2, B 2.5, C 3.125, exact in float32); then the flip in
// the new width W: x1' = W - x2, x2' = W - x1.
const CASES = [
  { width: 100, height: 50, box: [10, 5, 30, 25], shape: [100, 200], expected: [200 - 60, 10, 200 - 20, 50] },
  { width: 60, height: 80, box: [20, 40, 50, 70], shape: [200, 150], expected: [150 - 125, 100, 150 - 50, 175] },
  { width: 64, height: 64, box: [0, 48, 16, 64], shape: [200, 200], expected: [200 - 50, 150, 200 - 0, 200] },
] as const;

/** RGB of pixel (x, y) of batch image `n` in an NHWC tensor's values. */
function pixel(values: Float32Array, [height, width]: readonly [number, number], n: number, x: number, y: number): number[] {
  const at = ((n * height + y) * width + x) * 3;
  return [...values.subarray(at, at + 3)];
}

describe('loader: train pipeline through DetDataPreprocessor', () => {
  before(async () => {
    registerData();
    await initBackend({ backend: 'cpu', verbose: false });
  });

  it('keeps boxes on their objects after resize, flip and padding, in a batch of three sizes', async () => {
    await withTempDir(async (dir) => {
      const images = CASES.map((c, i) => ({ id: i + 1, file_name: `${i + 1}.png`, width: c.width, height: c.height }));
      for (const [i, c] of CASES.entries()) await writePng(dir, `${i + 1}.png`, imageWithBox(c.width, c.height, c.box));
      const annotations = CASES.map((c, i) => ({ id: 10 + i, image_id: i + 1, category_id: 1, bbox: [c.box[0], c.box[1], c.box[2] - c.box[0], c.box[3] - c.box[1]], area: 1, iscrowd: 0 }));
      await writeFile(path.join(dir, 'train.json'), JSON.stringify({ images, annotations, categories: [{ id: 1, name: 'box' }] }));
      const pipeline = [
        { type: 'LoadImageFromFile' },
        { type: 'LoadAnnotations', with_bbox: true },
        { type: 'Resize', scale: [200, 200], keep_ratio: true },
        { type: 'RandomFlip', prob: 1 },
        { type: 'PackDetInputs' },
      ];
      const loader = buildDataLoader({ batch_size: 3, sampler: { type: 'DefaultSampler', shuffle: false }, dataset: { type: 'CocoDataset', data_root: dir, ann_file: 'train.json', pipeline } });
      let batch: DetDataBatch | undefined;
      for await (const b of loader.batches()) batch = b;

      const preprocessor = new DetDataPreprocessor({ pad_size_divisor: 32, bgr_to_rgb: true });
      await withoutLeaks(() => {
        const { inputs, data_samples: samples } = preprocessor.forward(batch!, true);
        // largest image 200 x 200, padded up to a multiple of 32
        expect(inputs.shape).to.deep.equal([3, 224, 224, 3]);
        const values = inputs.dataSync() as Float32Array;
        tf.dispose(inputs);
        CASES.forEach((c, n) => {
          const { metainfo, gt_instances: gt } = samples![n]!;
          expect(metainfo.img_shape).to.deep.equal(c.shape);
          expect(metainfo.ori_shape).to.deep.equal([c.height, c.width]);
          expect(metainfo.flip).to.equal(true);
          expect(metainfo.batch_input_shape).to.deep.equal([224, 224]);
          expect(metainfo.pad_shape).to.deep.equal(c.shape.map((s) => Math.ceil(s / 32) * 32));
          expect([...gt.bboxes]).to.deep.equal(c.expected);
          expect([...gt.labels]).to.deep.equal([0]);
          checkBoxFramesRed(values, n, c.expected, c.shape);
        });
      });
    });
  });
});

/**
 * Red 4 px inside each corner of the box, grey 4 px outside each edge where the image extends
 * (4 px is beyond the bilinear blend of a 3.125x upscale), zeros in the padding.
 */
function checkBoxFramesRed(values: Float32Array, n: number, [x1, y1, x2, y2]: readonly number[], [height, width]: readonly [number, number]): void {
  const batchShape = [224, 224] as const;
  const at = (x: number, y: number) => pixel(values, batchShape, n, x, y);
  for (const [x, y] of [[x1! + 4, y1! + 4], [x2! - 5, y1! + 4], [x1! + 4, y2! - 5], [x2! - 5, y2! - 5]] as const) expect(at(x, y), `image ${n} inside at (${x}, ${y})`).to.deep.equal([...RED]);
  const middle = { x: Math.floor((x1! + x2!) / 2), y: Math.floor((y1! + y2!) / 2) };
  const outside: [number, number][] = [
    [x1! - 5, middle.y],
    [x2! + 4, middle.y],
    [middle.x, y1! - 5],
    [middle.x, y2! + 4],
  ];
  for (const [x, y] of outside.filter(([x, y]) => x >= 0 && x < width && y >= 0 && y < height)) expect(at(x, y), `image ${n} outside at (${x}, ${y})`).to.deep.equal([...GREY]);
  if (width < 224) expect(at(width, 0), `image ${n} right padding`).to.deep.equal([0, 0, 0]);
  if (height < 224) expect(at(0, height), `image ${n} bottom padding`).to.deep.equal([0, 0, 0]);
}
