/** Pipelines built from mmdet-style config lists through the TRANSFORMS registry. */
import { expect } from 'chai';
import { ConfigValidationError, errorThrownBy, TRANSFORMS } from '@tsdet/core';
import { registerData } from '../register.js';
import { patternImage, pixelAt, withTempDir, writePng } from '../test-support.test.js';
import { buildPipeline, Compose } from './compose.js';
import { isPackedDetInputs } from './pack-det-inputs.js';
import type { DetResults, PackedDetInputs } from './types.js';

// configs/_base_/datasets/coco_detection.py, as JSON
const TEST_PIPELINE = [
  { type: 'LoadImageFromFile', backend_args: null },
  { type: 'Resize', scale: [1333, 800], keep_ratio: true },
  { type: 'LoadAnnotations', with_bbox: true },
  { type: 'PackDetInputs', meta_keys: ['img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'] },
];
const TRAIN_PIPELINE = [
  { type: 'LoadImageFromFile', backend_args: null },
  { type: 'LoadAnnotations', with_bbox: true },
  { type: 'Resize', scale: [1333, 800], keep_ratio: true },
  { type: 'RandomFlip', prob: 1.0 }, // mmdet uses 0.5; 1.0 makes the outcome known
  { type: 'PackDetInputs' },
];

async function runOn(pipeline: Compose, results: DetResults): Promise<PackedDetInputs> {
  const packed = await pipeline.transform(results);
  if (!isPackedDetInputs(packed)) throw new Error('the pipeline did not end with PackDetInputs');
  return packed;
}

const configError = (fn: () => unknown): ConfigValidationError => errorThrownBy(fn, ConfigValidationError);

describe('transforms/pipeline from configs', () => {
  before(() => registerData());

  it("runs mmdet's COCO test pipeline on a 640x480 image", async () => {
    await withTempDir(async (dir) => {
      const file = await writePng(dir, 'img.png', patternImage(640, 480));
      const pipeline = buildPipeline(TEST_PIPELINE, { path: 'test_pipeline' });
      const packed = await runOn(pipeline, { img_path: file, img_id: 42, instances: [{ bbox: [10, 20, 110, 220], bbox_label: 3 }] });
      expect([packed.inputs.width, packed.inputs.height, packed.inputs.channelOrder]).to.deep.equal([1067, 800, 'bgr']);
      expect(packed.data_samples.metainfo).to.deep.equal({ img_id: 42, img_path: file, ori_shape: [480, 640], img_shape: [800, 1067], scale_factor: [1067 / 640, 800 / 480] });
      // annotations are loaded after Resize here: ground truth stays in original pixels (evaluation rescales predictions)
      expect([...packed.data_samples.gt_instances.bboxes]).to.deep.equal([10, 20, 110, 220]);
      expect([...packed.data_samples.gt_instances.labels]).to.deep.equal([3]);
    });
  });

  it('runs a train pipeline: boxes are resized, then flipped with the image', async () => {
    await withTempDir(async (dir) => {
      const source = patternImage(64, 48);
      const file = await writePng(dir, 'img.png', source);
      const packed = await runOn(buildPipeline(TRAIN_PIPELINE), { img_path: file, img_id: 1, instances: [{ bbox: [0, 0, 16, 12], bbox_label: 0 }] });
      // 64x48 -> s = min(1333/64, 800/48) = 16.667 -> 1067x800, w_scale = 1067/64
      expect(packed.data_samples.metainfo.img_shape).to.deep.equal([800, 1067]);
      const x2 = Math.fround(16 * Math.fround(1067 / 64));
      expect([...packed.data_samples.gt_instances.bboxes]).to.deep.equal([Math.fround(1067 - x2), 0, 1067, 200]);
      expect(packed.data_samples.metainfo.flip).to.equal(true);
      // the top-left source pixel ends up at the top-right, in BGR
      expect(pixelAt(packed.inputs, 1066, 0)).to.deep.equal(pixelAt(source, 0, 0).reverse());
    });
  });

  it('reports every bad step at once, each with its config path', () => {
    const error = configError(() =>
      buildPipeline([{ type: 'LoadImageFromFile' }, { type: 'Resise', scale: [1333, 800] }, { type: 'RandomFlip' }, { type: 'Resize', scale: [1333, 800], keep_ratoi: true }], {
        path: 'test_pipeline',
        sourceOf: (p) => (p === 'test_pipeline.1.type' ? 'configs/my_config.json5' : undefined),
      }),
    );
    expect(error.issues.map((i) => `${i.path}: ${i.message}`)).to.have.members([
      "test_pipeline.1.type: 'Resise' is not in the TRANSFORMS registry (did you mean 'Resize'?)",
      "test_pipeline.2: missing required key 'prob' for RandomFlip",
      "test_pipeline.3.keep_ratoi: unknown key for Resize (did you mean 'keep_ratio'?)",
    ]);
    expect(error.message).to.contain("test_pipeline.1.type: 'Resise' is not in the TRANSFORMS registry (did you mean 'Resize'?) (set in configs/my_config.json5)");
  });

  it("prefixes a transform's own error with its path", () => {
    expect(() => buildPipeline([{ type: 'LoadImageFromFile' }, { type: 'Resize', keep_ratio: true }], { path: 'val_pipeline' })).to.throw('val_pipeline.1 (Resize): Resize: `scale` and `scale_factor` can not both be unset');
  });

  it('rejects what is not a list', () => {
    expect(() => buildPipeline({ type: 'Resize' }, { path: 'test_pipeline' })).to.throw(ConfigValidationError, 'test_pipeline: must be a list of transform configs');
  });

  it('builds a nested Compose, and drops a sample whose image is missing when ignore_empty is set', async () => {
    const pipeline = TRANSFORMS.build<Compose>({ type: 'Compose', transforms: [{ type: 'LoadImageFromFile', ignore_empty: true }, { type: 'PackDetInputs' }] }, { path: 'pipeline' });
    expect(pipeline.transforms).to.have.length(2);
    expect(await pipeline.transform({ img_path: '/nonexistent/x.png' })).to.equal(null);
    const strict = buildPipeline([{ type: 'LoadImageFromFile' }]);
    try {
      await strict.transform({ img_path: '/nonexistent/x.png' });
      expect.fail('expected a load error');
    } catch (error) {
      expect((error as Error).message).to.equal("cannot load image '/nonexistent/x.png': no such file");
    }
  });
});
