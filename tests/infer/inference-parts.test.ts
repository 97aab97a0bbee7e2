/**
 * The pieces of inference that need no model: where class names come from, which files a folder
 * stands for and what their results are called, which pipeline the config gives, how a
 * checkpoint argument and a checkpoint mismatch are told, and the JSON record.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointError, type LoadReport } from '@tsdet/core';
import {
  checkOutputsSpareInputs,
  COCO_CLASSES,
  describeMismatch,
  detectionRecord,
  expandImageInputs,
  formatRecord,
  inferenceModelConfig,
  InferenceError,
  numClassesOf,
  outputStems,
  resolveCheckpointArgument,
  resolveClassNames,
  testPipelineConfig,
  type DetectionRecord,
} from '@tsdet/data';
import { tempDir } from './support.js';

const configWithClasses = (loader: string, classes: string[]) => ({ [loader]: { dataset: { metainfo: { classes } } } });

describe('inference parts', () => {
  describe('class names', () => {
    const checkpointMeta = (meta: Record<string, unknown>) => ({ meta, message_hub: {} });

    it('come from the checkpoint\'s meta.dataset_meta first, with its palette', () => {
      const names = resolveClassNames({
        checkpointMeta: checkpointMeta({ dataset_meta: { classes: ['a', 'b'], palette: [[1, 2, 3], [4, 5, 6]] }, CLASSES: ['x', 'y'] }),
        config: configWithClasses('test_dataloader', ['c1', 'c2']),
        numClasses: 2,
      });
      expect(names).to.deep.equal({ names: ['a', 'b'], palette: [[1, 2, 3], [4, 5, 6]], source: "the checkpoint's meta.dataset_meta.classes" });
    });

    it('read dataset_meta keys in any case (some mmdet versions saved CLASSES there) and drop a malformed palette', () => {
      const names = resolveClassNames({ checkpointMeta: checkpointMeta({ dataset_meta: { CLASSES: ['a', 'b'], PALETTE: [[1, 2]] } }), config: {}, numClasses: 2 });
      expect(names.names).to.deep.equal(['a', 'b']);
      expect(names.palette).to.equal(undefined);
    });

    it('then from mmdet 2\'s meta.CLASSES', () => {
      const names = resolveClassNames({ checkpointMeta: checkpointMeta({ CLASSES: ['x', 'y'] }), config: configWithClasses('test_dataloader', ['c1', 'c2']), numClasses: 2 });
      expect([names.names, names.source]).to.deep.equal([['x', 'y'], "the checkpoint's meta.CLASSES"]);
    });

    it('then from the config\'s dataset metainfo, test loader first', () => {
      const config = { ...configWithClasses('train_dataloader', ['t1', 't2']), ...configWithClasses('val_dataloader', ['v1', 'v2']) };
      const names = resolveClassNames({ checkpointMeta: { __metadata__: 'safetensors strings' }, config, numClasses: 2 });
      expect([names.names, names.source]).to.deep.equal([['v1', 'v2'], "the config's val_dataloader.dataset.metainfo.classes"]);
    });

    it('then COCO\'s 80 names for an 80-class head, else "class i"', () => {
      expect(resolveClassNames({ config: {}, numClasses: 80 }).names).to.deep.equal(COCO_CLASSES);
      expect(COCO_CLASSES).to.have.length(80);
      expect([COCO_CLASSES[0], COCO_CLASSES[79]]).to.deep.equal(['person', 'toothbrush']);
      expect(resolveClassNames({ config: {}, numClasses: 3 }).names).to.deep.equal(['class 0', 'class 1', 'class 2']);
    });

    it('are fitted to the head\'s class count, with a warning', () => {
      const few = resolveClassNames({ config: configWithClasses('test_dataloader', ['a']), numClasses: 3 });
      expect(few.names).to.deep.equal(['a', 'class 1', 'class 2']);
      expect(few.warning).to.match(/lists 1 names but the box head has 3 classes; the others are named 'class i'/);
      const many = resolveClassNames({ config: configWithClasses('test_dataloader', ['a', 'b', 'c']), numClasses: 2 });
      expect(many.names).to.deep.equal(['a', 'b']);
      expect(many.warning).to.match(/using the first 2/);
    });

    it('count from model.roi_head.bbox_head.num_classes', () => {
      expect(numClassesOf({ model: { roi_head: { bbox_head: { num_classes: 7 } } } })).to.equal(7);
      expect(numClassesOf({ model: { roi_head: { bbox_head: [{ num_classes: 7 }] } } })).to.equal(undefined);
      expect(numClassesOf({})).to.equal(undefined);
    });
  });

  describe('image inputs', () => {
    let dir: string;

    before(() => {
      dir = tempDir('infer-inputs');
      for (const name of ['b.png', 'a.JPG', 'c.webp', 'd.jpeg', 'notes.txt', 'model.pth']) fs.writeFileSync(path.join(dir, name), '');
      fs.mkdirSync(path.join(dir, 'nested.jpg'));
      fs.mkdirSync(path.join(dir, 'empty'));
    });

    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('expand folders to their image files, sorted, not recursing; files stay as given, missing ones too', () => {
      const inputs = expandImageInputs(['x/missing.jpg', dir, path.join(dir, 'notes.txt'), path.join(dir, 'empty')]);
      expect(inputs.images).to.deep.equal(['x/missing.jpg', ...['a.JPG', 'b.png', 'c.webp', 'd.jpeg'].map((n) => path.join(dir, n)), path.join(dir, 'notes.txt')]);
      expect(inputs.emptyFolders).to.deep.equal([path.join(dir, 'empty')]);
    });

    it('get unique output stems: the extension where stems meet, then a counter', () => {
      expect(outputStems(['a/cat.jpg', 'a/dog.png', 'a/cat.png', 'b/cat.jpg', 'b/bird'])).to.deep.equal(['cat_jpg', 'dog', 'cat_png', 'cat_jpg_2', 'bird']);
    });

    it('refuse an output folder where a result would overwrite an input', () => {
      expect(() => checkOutputsSpareInputs(dir, [path.join(dir, 'b.png')], ['b'])).to.throw(InferenceError, /would overwrite the input image .*b\.png; choose another output folder/);
      expect(() => checkOutputsSpareInputs(path.join(dir, 'out'), [path.join(dir, 'b.png')], ['b'])).not.to.throw();
    });
  });

  describe('the test pipeline', () => {
    const load = { type: 'LoadImageFromFile' };
    const resize = { type: 'Resize', scale: [1333, 800], keep_ratio: true };
    const annotations = { type: 'LoadAnnotations', with_bbox: true };
    const pack = { type: 'PackDetInputs' };

    it('is test_dataloader.dataset.pipeline without LoadAnnotations (no ground truth at inference)', () => {
      const config = { test_pipeline: [load, pack], test_dataloader: { dataset: { pipeline: [load, resize, annotations, pack] } } };
      expect(testPipelineConfig(config, 'c.json')).to.deep.equal({ steps: [load, resize, pack], path: 'test_dataloader.dataset.pipeline' });
    });

    it('follows dataset wrappers, else takes test_pipeline, else says what to set', () => {
      const wrapped = { test_dataloader: { dataset: { type: 'ConcatDataset', datasets: [{ dataset: { pipeline: [load, pack] } }] } } };
      expect(testPipelineConfig(wrapped, 'c.json').path).to.equal('test_dataloader.dataset.datasets.0.dataset.pipeline');
      expect(testPipelineConfig({ test_pipeline: [load, pack] }, 'c.json').path).to.equal('test_pipeline');
      expect(() => testPipelineConfig({}, 'c.json')).to.throw(InferenceError, 'config c.json has no test pipeline: set test_dataloader.dataset.pipeline (or test_pipeline)');
    });
  });

  describe('the model config', () => {
    it('switches off the backbone\'s pretrained init and defaults the data preprocessor, leaving the rest', () => {
      const model = { type: 'FasterRCNN', backbone: { type: 'ResNet', depth: 50, init_cfg: { type: 'Pretrained', checkpoint: 'torchvision://resnet50' } }, neck: { type: 'FPN' } };
      expect(inferenceModelConfig(model)).to.deep.equal({ ...model, backbone: { type: 'ResNet', depth: 50, init_cfg: null }, data_preprocessor: { type: 'DetDataPreprocessor' } });
      expect(model.backbone.init_cfg).to.deep.equal({ type: 'Pretrained', checkpoint: 'torchvision://resnet50' });
      const preprocessor = { type: 'DetDataPreprocessor', pad_size_divisor: 32 };
      expect(inferenceModelConfig({ ...model, data_preprocessor: preprocessor })['data_preprocessor']).to.equal(preprocessor);
    });
  });

  describe('checkpoints', () => {
    it('resolve a model-zoo URL to its file name in TSDET_CHECKPOINT_DIR, never downloading', () => {
      const saved = process.env['TSDET_CHECKPOINT_DIR'];
      const cache = tempDir('checkpoint-cache');
      process.env['TSDET_CHECKPOINT_DIR'] = cache;
      try {
        const url = 'https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r50_fpn_1x_coco/faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth';
        const file = path.join(cache, 'faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth');
        expect(() => resolveCheckpointArgument(url)).to.throw(CheckpointError, `${file}: tsdet never downloads: fetch ${url} yourself and put it here`);
        fs.writeFileSync(file, '');
        expect(resolveCheckpointArgument(url)).to.equal(file);
        expect(resolveCheckpointArgument('open-mmlab://my_model')).to.equal(path.join(cache, 'open-mmlab', 'my_model.pth'));
        expect(resolveCheckpointArgument('weights/x.pth')).to.equal(path.resolve('weights/x.pth'));
      } finally {
        fs.rmSync(cache, { recursive: true, force: true });
        if (saved === undefined) delete process.env['TSDET_CHECKPOINT_DIR'];
        else process.env['TSDET_CHECKPOINT_DIR'] = saved;
      }
    });

    it('that do not fit the config are told in one line: both files, the first keys of each kind, how many more', () => {
      const report: LoadReport = {
        loaded: [],
        missing: ['a.w', 'b.w', 'c.w', 'd.w'],
        unexpected: ['z.w'],
        mismatched: [{ key: 'roi_head.bbox_head.fc_cls.weight', expected: [81, 1024], got: [21, 1024] }],
      };
      const message = describeMismatch(report, '/elsewhere/ckpt.pth', path.resolve('configs/x.json'));
      expect(message).to.equal(
        'checkpoint /elsewhere/ckpt.pth does not match config configs/x.json (strict load): ' +
          'shapes differ for roi_head.bbox_head.fc_cls.weight (checkpoint [21, 1024], model [81, 1024]); ' +
          'missing from the checkpoint: a.w, b.w, c.w (+1 more); not in the model: z.w ' +
          "(the checkpoint was trained for 20 classes, the config's bbox_head.num_classes is 80)",
      );
      expect(message).not.to.contain('\n');
    });
  });

  describe('the JSON record', () => {
    const record = (): DetectionRecord =>
      detectionRecord({
        imagePath: 'img/a.jpg',
        image: { data: new Uint8Array(0), width: 64, height: 48, channels: 3, channelOrder: 'bgr' },
        detections: { bboxes: Float32Array.from([1.23456, 2, 63.99999, 47.5, 0, 0, 10, 10]), scores: Float32Array.from([0.812345, 0.3]), labels: Int32Array.from([2, 7]) },
        classNames: ['cat', 'dog', 'bird'],
        scoreThreshold: 0.5,
        timing: { pipeline_ms: 1.26, model_ms: 100.04, draw_ms: 2, total_ms: 103.3 },
      });

    it('lists every detection, rounded, with class names ("class i" past the known ones) and how many were drawn', () => {
      const r = record();
      expect(r.bboxes).to.deep.equal([[1.23, 2, 64, 47.5], [0, 0, 10, 10]]);
      expect(r.scores).to.deep.equal([0.8123, 0.3]);
      expect(r.labels).to.deep.equal([2, 7]);
      expect(r.class_names).to.deep.equal(['bird', 'class 7']);
      expect([r.drawn, r.score_thr]).to.deep.equal([1, 0.5]);
      expect(r.image).to.deep.equal({ path: 'img/a.jpg', width: 64, height: 48 });
      expect(r.timing).to.deep.equal({ pipeline_ms: 1.3, model_ms: 100, draw_ms: 2, total_ms: 103.3 });
    });

    it('is written as JSON that reads back the same, a box or a list of values per line', () => {
      const text = formatRecord(record());
      expect(JSON.parse(text)).to.deep.equal(record());
      expect(text).to.contain('\n    [1.23, 2, 64, 47.5],\n');
      expect(text).to.contain('\n  "class_names": ["bird", "class 7"],\n');
    });
  });
});
