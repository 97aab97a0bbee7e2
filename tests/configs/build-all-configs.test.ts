/**
 * Every config under configs/ (found by walking the folder, so a new file is covered the day it
 * lands) loads, validates as a whole (every section declared, every key known) and, when it has
 * a model, builds with the backbone's init_cfg set to null (no checkpoint download or cache
 * needed) and runs one small forward, leaving no tensor behind. Plus what the configs promise:
 * the caffe/V1d/GCNet variants really are those, the pretrained default fails with the fix
 * named, mistakes are reported with their paths and sources, and testStep runs the config's
 * DetDataPreprocessor (the @tsdet/data component the models package never imports).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigValidationError, initBackend, loadConfig, MODELS, prepareLoadedConfig, withoutLeaks, type Module } from '@tsdet/core';
import { DetDataPreprocessor, registerData, type RawImage } from '@tsdet/data';
import { registerEngine } from '@tsdet/engine';
import { ContextBlock, registerModels, ResNet, TwoStageDetector, type InstanceResults } from '@tsdet/models';

const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
const CONFIG_DIR = path.join(REPO_ROOT, 'configs');

/** Every .json / .json5 file under configs/, sorted, as repository-relative paths. */
function configFiles(dir = CONFIG_DIR): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return configFiles(full);
      return /\.json5?$/.test(entry.name) ? [path.relative(REPO_ROOT, full)] : [];
    })
    .sort();
}

interface ModelSection {
  type?: string;
  backbone?: { init_cfg?: unknown };
  test_cfg?: { rpn?: unknown };
}

/**
 * Overrides for a cheap, download-free build: no pretrained backbone; for detectors, at most 64
 * proposals so the RoI head's 12544 x 1024 fc stays small.
 */
function cheapBuildOptions(file: string): string[] {
  const model = (loadConfig(file).data as { model?: ModelSection }).model;
  const options: string[] = [];
  if (model?.backbone?.init_cfg) options.push('model.backbone.init_cfg=null');
  if (model?.test_cfg?.rpn) options.push('model.test_cfg.rpn.max_per_img=64');
  return options;
}

/** One forward of whatever the model is: a detector predicts, a backbone maps. */
function tinyForward(model: Module): string {
  const image = tf.randomNormal([1, 64, 96, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  try {
    if (model instanceof TwoStageDetector) {
      const [result] = model.predict(image, [{ img_shape: [64, 96], scale_factor: [1, 1] }]);
      return `${result!.scores.length} detections`;
    }
    const forward = (model as Module & { forward?: (x: tf.Tensor4D) => tf.Tensor | tf.Tensor[] }).forward;
    if (!forward) throw new Error(`${model.typeName} has no forward`);
    const outputs = [forward.call(model, image)].flat();
    const shapes = outputs.map((o) => o.shape.join('x'));
    tf.dispose(outputs);
    return shapes.join(', ');
  } finally {
    image.dispose();
  }
}

async function resolvedModel(file: string, cfgOptions: string[]): Promise<Record<string, unknown>> {
  const { resolved } = await prepareLoadedConfig(loadConfig(file, { cfgOptions }));
  return resolved['model'] as Record<string, unknown>;
}

describe('configs/', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', threads: 1, verbose: false });
    registerModels();
    registerData();
    registerEngine();
  });

  const files = configFiles();

  it('has the Faster R-CNN configs and their bases', () => {
    for (const expected of [
      'configs/_base_/models/faster-rcnn_r50_fpn.json',
      'configs/_base_/datasets/coco_detection.json',
      'configs/_base_/schedules/schedule_1x.json',
      'configs/_base_/default_runtime.json',
      'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.json',
      'configs/faster_rcnn/faster-rcnn_r50-caffe_fpn_1x_coco.json',
      'configs/faster_rcnn/faster-rcnn_r101_fpn_1x_coco.json',
      'configs/faster_rcnn/faster-rcnn_r50-v1d_fpn_1x_coco.json',
      'configs/faster_rcnn/faster-rcnn_r50-gcb-r4-c3-c5_fpn_1x_coco.json',
    ]) {
      expect(files).to.include(expected);
    }
  });

  // Every _base_ file here is standalone (a section set of its own), so none is skipped.
  for (const file of files) {
    it(`${file}: loads, validates, builds without a checkpoint and runs a small forward without leaks`, async () => {
      const cfgOptions = cheapBuildOptions(path.join(REPO_ROOT, file));
      const { resolved } = await prepareLoadedConfig(loadConfig(path.join(REPO_ROOT, file), { cfgOptions }));
      if (resolved['model'] === undefined) return;
      const summary = await withoutLeaks(() => {
        const model = MODELS.build<Module>(resolved['model'], { path: 'model' });
        try {
          model.eval();
          return tinyForward(model);
        } finally {
          model.dispose();
        }
      }, file);
      expect(summary).to.be.a('string');
    });
  }

  describe('what the variants promise', () => {
    const buildBackbone = async (file: string): Promise<ResNet> => {
      const model = MODELS.build<TwoStageDetector>(await resolvedModel(path.join(CONFIG_DIR, file), ['model.backbone.init_cfg=null']), { path: 'model' });
      const backbone = model.backbone as ResNet;
      model.neck?.dispose();
      model.rpnHead?.dispose();
      model.roiHead?.dispose();
      return backbone;
    };

    it('caffe: caffe style, frozen BN affine, BGR means with std 1, detectron2 weights', async () => {
      const model = await resolvedModel(path.join(CONFIG_DIR, 'faster_rcnn/faster-rcnn_r50-caffe_fpn_1x_coco.json'), []);
      expect(model['backbone']).to.deep.include({ style: 'caffe', norm_eval: true, norm_cfg: { type: 'BN', requires_grad: false }, init_cfg: { type: 'Pretrained', checkpoint: 'open-mmlab://detectron2/resnet50_caffe' } });
      expect(model['data_preprocessor']).to.deep.include({ mean: [103.53, 116.28, 123.675], std: [1, 1, 1], bgr_to_rgb: false });
      const backbone = await buildBackbone('faster_rcnn/faster-rcnn_r50-caffe_fpn_1x_coco.json');
      expect(backbone.namedParameters().filter(([k]) => /bn\d?\.(weight|bias)$/.test(k)).every(([, p]) => !p.requiresGrad)).to.equal(true);
      backbone.dispose();
    });

    it('r101: 23 blocks in layer3, torchvision weights', async () => {
      const model = await resolvedModel(path.join(CONFIG_DIR, 'faster_rcnn/faster-rcnn_r101_fpn_1x_coco.json'), []);
      expect(model['backbone']).to.deep.include({ depth: 101, init_cfg: { type: 'Pretrained', checkpoint: 'torchvision://resnet101' } });
      const backbone = await buildBackbone('faster_rcnn/faster-rcnn_r101_fpn_1x_coco.json');
      expect(backbone.stageBlocks).to.deep.equal([3, 4, 23, 3]);
      backbone.dispose();
    });

    it('V1d: deep stem and average-pool shortcuts', async () => {
      const backbone = await buildBackbone('faster_rcnn/faster-rcnn_r50-v1d_fpn_1x_coco.json');
      expect([backbone.cfg.deep_stem, backbone.cfg.avg_down]).to.deep.equal([true, true]);
      expect(backbone.namedParameters().some(([k]) => k.startsWith('stem.0.'))).to.equal(true);
      backbone.dispose();
    });

    it('GCNet: a ContextBlock (ratio 1/4) after conv3 of every block in stages 2-4 only', async () => {
      const backbone = await buildBackbone('faster_rcnn/faster-rcnn_r50-gcb-r4-c3-c5_fpn_1x_coco.json');
      const blocks = [...backbone.namedModules()].filter(([, m]) => m instanceof ContextBlock).map(([name]) => name);
      expect(blocks).to.have.length(4 + 6 + 3);
      expect(blocks.every((name) => /^layer[234]\.\d+\.context_block$/.test(name))).to.equal(true);
      const first = [...backbone.namedModules()].find(([, m]) => m instanceof ContextBlock)![1] as ContextBlock;
      expect(first.namedParameters().find(([k]) => k === 'channel_add_conv.0.weight')![1].shape).to.deep.equal([1, 1, 512, 128]);
      backbone.dispose();
    });
  });

  describe('mistakes are reported with their paths', () => {
    const base = path.join(CONFIG_DIR, 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.json');

    it('the pretrained default names the missing file and the way around it', async () => {
      const previous = process.env['TSDET_CHECKPOINT_DIR'];
      process.env['TSDET_CHECKPOINT_DIR'] = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdet-no-checkpoints-'));
      try {
        const model = await resolvedModel(base, []);
        expect(() => MODELS.build(model, { path: 'model' })).to.throw(/model\.backbone\.init_cfg: checkpoint 'torchvision:\/\/resnet50' not found: put the file at .*resnet50-0676ba61\.pth/);
      } finally {
        if (previous === undefined) delete process.env['TSDET_CHECKPOINT_DIR'];
        else process.env['TSDET_CHECKPOINT_DIR'] = previous;
      }
    });

    it('validation names each key, its file, and suggests the closest name', async () => {
      const options = ['model.backbone.init_cfg=null', 'model.roi_head.bbox_head.num_clases=3', 'optim_wrapper.optimizer.momentm=0.9', 'train_pipeline.2.type=Rezise', 'param_scheduler.0.milestones=[8]'];
      const error = await prepareLoadedConfig(loadConfig(base, { cfgOptions: options })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(ConfigValidationError);
      const message = (error as Error).message;
      expect(message).to.match(/model\.roi_head\.bbox_head\.num_clases: unknown key for Shared2FCBBoxHead \(did you mean 'num_classes'\?\) \(set in --cfg-options/);
      expect(message).to.match(/optim_wrapper\.optimizer\.momentm: unknown key .*did you mean 'momentum'/);
      expect(message).to.match(/train_pipeline\.2\.type: 'Rezise' is not in the TRANSFORMS registry \(did you mean 'Resize'\?\)/);
      // A key of another scheduler type is unknown for this one (mmengine: unexpected keyword).
      expect(message).to.match(/param_scheduler\.0\.milestones: unknown key/);
    });

    it('a shape mismatch between parts names both config paths', async () => {
      const model = await resolvedModel(base, ['model.backbone.init_cfg=null', 'model.backbone.out_indices=[1,2,3]']);
      expect(() => MODELS.build(model, { path: 'model' })).to.throw(ConfigValidationError, /model\.neck\.in_channels: has 4 entries, but model\.backbone outputs 3 levels/);
    });
  });

  describe('testStep', () => {
    it('runs the config\'s DetDataPreprocessor (from @tsdet/data), then predicts in the original frame', async () => {
      const model = MODELS.build<TwoStageDetector>(await resolvedModel(path.join(CONFIG_DIR, 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.json'), ['model.backbone.init_cfg=null', 'model.test_cfg.rpn.max_per_img=32']), { path: 'model' });
      model.eval();
      expect(model.dataPreprocessor).to.be.instanceOf(DetDataPreprocessor);
      const image = (height: number, width: number): RawImage => ({ data: new Uint8Array(height * width * 3).map((_, i) => (i * 37) % 256), height, width, channels: 3, channelOrder: 'bgr' });
      const sample = (height: number, width: number, scale: number) => ({
        metainfo: { img_shape: [height, width] as const, ori_shape: [height / scale, width / scale] as const, scale_factor: [scale, scale] as const },
        gt_instances: { bboxes: new Float32Array(0), labels: new Int32Array(0) },
        ignored_instances: { bboxes: new Float32Array(0), labels: new Int32Array(0) },
      });
      const batch = { inputs: [image(40, 70), image(50, 33)], data_samples: [sample(40, 70, 2), sample(50, 33, 0.5)] };
      model.testStep(batch); // warm-up: folded conv-BN weights are cached on first use
      const results: InstanceResults[] = await withoutLeaks(() => model.testStep(batch), 'testStep');
      expect(results).to.have.length(2);
      // rescale: image 0 was enlarged 2x, so its boxes lie within 35 x 20; image 1 within 66 x 100.
      results[0]!.bboxes.forEach((v, k) => expect(v).to.be.at.most(k % 2 === 0 ? 35 : 20));
      results[1]!.bboxes.forEach((v, k) => expect(v).to.be.at.most(k % 2 === 0 ? 66 : 100));
      model.dispose();
    });
  });
});
