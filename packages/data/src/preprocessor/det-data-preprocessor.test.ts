/** mmdet-reference §4.8 test vectors, plus the arithmetic of normalisation and padding. */
import { expect } from 'chai';
import { ConfigValidationError, initBackend, MODELS, withoutLeaks } from '@tsdet/core';
import type { RawImage } from '../image/raw-image.js';
import { registerData } from '../register.js';
import { patternImage, solidImage } from '../test-support.test.js';
import type { DetDataSample, PackedDetInputs } from '../transforms/types.js';
import { collateDetSamples, DetDataPreprocessor, type DetDataBatch, type DetPreprocessedBatch } from './det-data-preprocessor.js';

const IMAGENET = { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] };

function sample(image: RawImage, imgId: number): PackedDetInputs {
  const empty = { bboxes: new Float32Array(0), labels: new Int32Array(0) };
  const data_samples: DetDataSample = { metainfo: { img_id: imgId, img_shape: [image.height, image.width] }, gt_instances: empty, ignored_instances: empty };
  return { inputs: image, data_samples };
}

/** h x w pattern image in BGR, as the pipeline delivers it. */
function bgr(height: number, width: number): RawImage {
  return { ...patternImage(width, height), channelOrder: 'bgr' };
}

/** Runs the preprocessor with a leak check; returns the batch values, shape and samples. */
async function run(preprocessor: DetDataPreprocessor, batch: DetDataBatch) {
  return withoutLeaks(() => {
    const out: DetPreprocessedBatch = preprocessor.forward(batch);
    const result = { shape: out.inputs.shape, dtype: out.inputs.dtype, values: out.inputs.dataSync() as Float32Array, samples: out.data_samples };
    out.inputs.dispose();
    return result;
  }, 'DetDataPreprocessor.forward');
}

/** Value at (b, y, x, c) of an NHWC batch. */
function at(values: Float32Array, [, h, w, c]: number[], b: number, y: number, x: number, ch: number): number {
  return values[((b * h! + y) * w! + x) * c! + ch]!;
}

describe('preprocessor/DetDataPreprocessor', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', verbose: false });
    registerData();
  });

  it('pads two 52x65 images to multiples of 10: pad shapes (60, 70)', async () => {
    const out = await run(new DetDataPreprocessor({ pad_size_divisor: 10 }), collateDetSamples([sample(bgr(52, 65), 0), sample(bgr(52, 65), 1)]));
    expect(out.shape).to.deep.equal([2, 60, 70, 3]);
    expect(out.samples!.map((s) => s.metainfo.pad_shape)).to.deep.equal([
      [60, 70],
      [60, 70],
    ]);
  });

  it('pads to the batch maximum rounded up, each image keeping its own pad_shape and img_shape', async () => {
    const out = await run(new DetDataPreprocessor({ pad_size_divisor: 5 }), collateDetSamples([sample(bgr(10, 11), 0), sample(bgr(9, 24), 1)]));
    expect(out.shape).to.deep.equal([2, 10, 25, 3]);
    expect(out.dtype).to.equal('float32');
    const meta = out.samples!.map((s) => s.metainfo);
    expect(meta.map((m) => m.batch_input_shape)).to.deep.equal([
      [10, 25],
      [10, 25],
    ]);
    expect(meta.map((m) => m.pad_shape)).to.deep.equal([
      [10, 15],
      [10, 25],
    ]);
    expect(meta.map((m) => m.img_shape)).to.deep.equal([
      [10, 11],
      [9, 24],
    ]);
  });

  it('without a divisor, pads to the largest height and width: 10x11 and 9x14 give 10x14', async () => {
    const out = await run(new DetDataPreprocessor(), collateDetSamples([sample(bgr(10, 11), 0), sample(bgr(9, 14), 1)]));
    expect(out.shape).to.deep.equal([2, 10, 14, 3]);
  });

  it('swaps BGR to RGB, then normalises in float32: (x - mean) / std', async () => {
    const image = bgr(4, 5);
    const out = await run(new DetDataPreprocessor({ ...IMAGENET, bgr_to_rgb: true }), { inputs: [image] });
    for (const [x, y] of [
      [0, 0],
      [4, 3],
      [2, 1],
    ] as const) {
      const pixel = image.data.subarray((y * 5 + x) * 3, (y * 5 + x) * 3 + 3);
      for (let c = 0; c < 3; c++) {
        const rgbValue = pixel[2 - c]!; // channel c of RGB is channel 2 - c of BGR
        const expected = Math.fround(Math.fround(rgbValue - Math.fround(IMAGENET.mean[c]!)) / Math.fround(IMAGENET.std[c]!));
        expect(at(out.values, out.shape, 0, y, x, c), `(${x}, ${y}) channel ${c}`).to.equal(expected);
      }
    }
    // and in plain numbers: a white pixel is (255 - 123.675) / 58.395 = 2.2489 in R
    const white = await run(new DetDataPreprocessor({ ...IMAGENET, bgr_to_rgb: true }), { inputs: [{ ...solidImage(1, 1, [255, 255, 255]), channelOrder: 'bgr' }] });
    expect(white.values[0]).to.be.closeTo(2.2489, 1e-4);
  });

  it('pads with pad_value after normalisation, at the bottom and right only', async () => {
    const small = { ...solidImage(2, 3, [10, 20, 30]), channelOrder: 'bgr' as const }; // 3 high, 2 wide
    const out = await run(new DetDataPreprocessor({ mean: [10], std: [2], pad_value: 7, pad_size_divisor: 4 }), { inputs: [small] });
    expect(out.shape).to.deep.equal([1, 4, 4, 3]);
    expect([0, 1, 2].map((c) => at(out.values, out.shape, 0, 2, 1, c))).to.deep.equal([0, 5, 10]); // inside: (v - 10) / 2, one mean for all channels
    expect([0, 1, 2].map((c) => at(out.values, out.shape, 0, 3, 0, c))).to.deep.equal([7, 7, 7]); // bottom padding: 7, not (7 - 10) / 2
    expect([0, 1, 2].map((c) => at(out.values, out.shape, 0, 0, 3, c))).to.deep.equal([7, 7, 7]); // right padding
  });

  it('passes raw values through when mean and std are not set', async () => {
    const image = bgr(2, 2);
    const out = await run(new DetDataPreprocessor(), { inputs: [image] });
    expect([...out.values]).to.deep.equal([...image.data]);
    expect(out.samples).to.equal(null);
  });

  it('leaves the incoming samples untouched', async () => {
    const input = sample(bgr(3, 3), 9);
    await run(new DetDataPreprocessor({ pad_size_divisor: 32 }), collateDetSamples([input]));
    expect(input.data_samples.metainfo).to.deep.equal({ img_id: 9, img_shape: [3, 3] });
  });

  it('refuses to swap channels of an image that is already in the target order', () => {
    const rgb = patternImage(3, 3);
    expect(() => new DetDataPreprocessor({ bgr_to_rgb: true }).forward({ inputs: [rgb] })).to.throw(/image 0 is already RGB but bgr_to_rgb is set/);
  });

  it("validates its settings as mmengine's ImgDataPreprocessor does", () => {
    expect(() => new DetDataPreprocessor({ mean: [1, 2, 3] })).to.throw(/mean and std should be both None or tuple/);
    expect(() => new DetDataPreprocessor({ bgr_to_rgb: true, rgb_to_bgr: true })).to.throw(/cannot be set to True at the same time/);
    expect(() => new DetDataPreprocessor({ mean: [1, 2], std: [1, 2] })).to.throw(/mean should have 1 or 3 values, got 2/);
    expect(() => new DetDataPreprocessor().forward({ inputs: [] })).to.throw(/the batch is empty/);
    const mixed: DetDataBatch = { inputs: [bgr(2, 2)], data_samples: [] };
    expect(() => new DetDataPreprocessor().forward(mixed)).to.throw(/1 images but 0 data samples/);
  });

  it("builds from mmdet's model.data_preprocessor config through the MODELS registry", async () => {
    const cfg = { type: 'DetDataPreprocessor', ...IMAGENET, bgr_to_rgb: true, pad_size_divisor: 32 };
    const preprocessor = MODELS.build<DetDataPreprocessor>(cfg, { path: 'model.data_preprocessor' });
    expect(preprocessor.cfg).to.include({ pad_size_divisor: 32, pad_value: 0, bgr_to_rgb: true, boxtype2tensor: true });
    const out = await run(preprocessor, collateDetSamples([sample(bgr(40, 50), 0)]));
    expect(out.shape).to.deep.equal([1, 64, 64, 3]);
    expect(() => MODELS.build({ ...cfg, pad_mask: true }, { path: 'model.data_preprocessor' })).to.throw(ConfigValidationError, 'model.data_preprocessor.pad_mask: unknown key for DetDataPreprocessor');
  });
});
