import { expect } from 'chai';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './errors.js';
import { loadConfig } from './loader.js';

const DATA = fileURLToPath(new URL('../../tests-data/config/', import.meta.url));
const file = (name: string): string => path.join(DATA, name);
const MODEL = file('_base_/models/faster-rcnn_r50.json');
const DATASET = file('_base_/datasets/coco_detection.json');
const SCHEDULE = file('_base_/schedules/schedule_1x.json');
const CHILD = file('faster-rcnn_r101_voc.json');

function loadError(name: string, cfgOptions: string[] = []): ConfigError {
  try {
    loadConfig(file(name), { cfgOptions });
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected loading ${name} to fail`);
}

describe('loadConfig: inheritance', () => {
  it('unites a _base_ list of model, dataset and schedule', () => {
    const config = loadConfig(file('faster-rcnn_r50_coco.json'));
    expect(config.filename).to.equal(file('faster-rcnn_r50_coco.json'));
    expect(Object.keys(config.data)).to.deep.equal([
      'model',
      'dataset_type',
      'data_root',
      'train_pipeline',
      'train_dataloader',
      'optim_wrapper',
      'train_cfg',
      'env_cfg',
    ]);
    expect(config.get('model.backbone.depth')).to.equal(50);
    expect(config.get('train_cfg.max_epochs')).to.equal(12);
    expect(config.data).to.not.have.property('_base_');
  });

  it('merges a child through a chain of bases: dicts merge, lists are replaced, _delete_ replaces', () => {
    const config = loadConfig(CHILD);
    expect(config.get('model.backbone')).to.deep.equal({
      type: 'ResNet',
      depth: 101,
      frozen_stages: 1,
      norm_cfg: { type: 'BN', requires_grad: false },
      init_cfg: { type: 'Pretrained', checkpoint: 'torchvision://resnet101' },
    });
    expect(config.get('model.roi_head.bbox_head')).to.deep.equal({ type: 'Shared2FCBBoxHead', num_classes: 20 });
    expect(config.get('train_pipeline')).to.deep.equal([{ type: 'LoadImageFromFile' }, { type: 'PackDetInputs' }]);
    expect(config.get('optim_wrapper')).to.deep.equal({ type: 'OptimWrapper', optimizer: { type: 'AdamW', lr: 0.0001 } });
    expect(config.get('env_cfg')).to.deep.equal({ cudnn_benchmark: false });
    expect(config.get('new_thing')).to.deep.equal({ kept: 1 });
  });

  it('substitutes the predefined file variables', () => {
    const config = loadConfig(CHILD);
    expect(config.get('work_dir')).to.equal('./work_dirs/faster-rcnn_r101_voc');
    expect(config.get('config_dir')).to.equal(DATA.replace(/[\\/]$/, '').replaceAll('\\', '/'));
    expect(config.get('config_name')).to.equal('faster-rcnn_r101_voc.json');
    expect(config.get('config_ext')).to.equal('.json');
  });

  it('replaces "{{_base_.a.b}}" with a copy of the base value, of any type', () => {
    const config = loadConfig(CHILD);
    expect(config.get('num_classes_copy')).to.equal(80);
    expect(config.get('neck_copy')).to.deep.equal({ type: 'FPN', in_channels: [256, 512, 1024, 2048], out_channels: 256, num_outs: 5 });
  });
});

describe('loadConfig: environment variables', () => {
  const names = ['TSDET_TEST_DATA_ROOT', 'TSDET_TEST_BATCH_SIZE', 'TSDET_TEST_TRICKY'];
  let saved: (string | undefined)[] = [];
  beforeEach(() => {
    saved = names.map((name) => process.env[name]);
    for (const name of names) delete process.env[name];
  });
  afterEach(() => {
    names.forEach((name, index) => {
      const value = saved[index];
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    });
  });

  it('uses the defaults when the variables are unset, a bare one as a number', () => {
    const config = loadConfig(file('env.json'));
    expect(config.data).to.deep.equal({ data_root: 'data/coco/', batch_size: 2, quoted: 'plain' });
  });

  it('uses the environment when set, escaping quotes and backslashes', () => {
    process.env['TSDET_TEST_DATA_ROOT'] = '/datasets/coco/';
    process.env['TSDET_TEST_BATCH_SIZE'] = '16';
    process.env['TSDET_TEST_TRICKY'] = `C:\\data "x" 'y'`;
    const config = loadConfig(file('env.json'));
    expect(config.data).to.deep.equal({ data_root: '/datasets/coco/', batch_size: 16, quoted: `C:\\data "x" 'y'` });
  });

  it('fails on a variable that is unset and has no default, naming it and the file', () => {
    const error = loadError('errors/env-missing.json');
    expect(error.message).to.contain('TSDET_TEST_UNSET_VARIABLE').and.to.contain('env-missing.json');
    expect(error.file).to.equal(file('errors/env-missing.json'));
  });
});

describe('loadConfig: provenance', () => {
  it('credits each leaf to the file that set it last', () => {
    const config = loadConfig(CHILD);
    expect(config.sourceOf('model.type')).to.equal(MODEL);
    expect(config.sourceOf('model.backbone.depth')).to.equal(CHILD);
    expect(config.sourceOf('model.backbone.frozen_stages')).to.equal(MODEL);
    expect(config.sourceOf('model.backbone.norm_cfg.type')).to.equal(MODEL);
    expect(config.sourceOf('model.backbone.norm_cfg.requires_grad')).to.equal(CHILD);
    expect(config.sourceOf('data_root')).to.equal(DATASET);
    expect(config.sourceOf('train_cfg.max_epochs')).to.equal(SCHEDULE);
  });

  it('treats lists as leaves, so a replaced list and everything in it belong to the child', () => {
    const config = loadConfig(CHILD);
    expect(config.sourceOf('train_pipeline')).to.equal(CHILD);
    expect(config.sourceOf('train_pipeline.1.type')).to.equal(CHILD);
    expect(config.sourceOf('model.neck.in_channels')).to.equal(MODEL);
    expect(config.sourceOf(['model', 'neck', 'in_channels', 2])).to.equal(MODEL);
  });

  it('credits a _delete_-replaced dict wholly to the child: no base leaf survives in it', () => {
    const config = loadConfig(CHILD);
    expect(config.sourceOf('optim_wrapper.optimizer.type')).to.equal(CHILD);
    expect(config.sourceOf('optim_wrapper.optimizer.momentum')).to.equal(undefined);
    expect(config.sourceOf('optim_wrapper.type')).to.equal(SCHEDULE);
    expect(config.sourceOf('optim_wrapper.optimizer')).to.equal(CHILD);
    expect(config.sourceOf('optim_wrapper')).to.equal(CHILD);
  });

  it('forgets overrides inside a list once a later override replaces the whole list', () => {
    const config = loadConfig(CHILD, { cfgOptions: ['train_pipeline.0.to_float32=true', 'train_pipeline=[x]'] });
    expect(config.leaves().filter((leaf) => leaf.path.startsWith('train_pipeline'))).to.deep.equal([
      { path: 'train_pipeline', value: ['x'], source: '--cfg-options train_pipeline=[x]' },
    ]);
  });

  it('gives a dict the source of its last-set leaf, and an empty dict its own', () => {
    const coco = loadConfig(file('faster-rcnn_r50_coco.json'));
    expect(coco.sourceOf('env_cfg')).to.equal(SCHEDULE);
    const config = loadConfig(CHILD);
    expect(config.sourceOf('model.backbone')).to.equal(CHILD);
    expect(config.sourceOf('model.test_cfg')).to.equal(MODEL);
    expect(config.sourceOf('env_cfg')).to.equal(CHILD);
    expect(config.sourceOf('no.such.path')).to.equal(undefined);
  });

  it('credits overrides to the option, including values inside a list', () => {
    const config = loadConfig(CHILD, {
      cfgOptions: ['model.backbone.frozen_stages=-1', 'train_pipeline.1.meta_keys=(img_id,img_path)'],
    });
    expect(config.sourceOf('model.backbone.frozen_stages')).to.equal('--cfg-options model.backbone.frozen_stages=-1');
    expect(config.sourceOf('model.backbone.depth')).to.equal(CHILD);
    expect(config.sourceOf('train_pipeline.1.meta_keys')).to.equal('--cfg-options train_pipeline.1.meta_keys=(img_id,img_path)');
    expect(config.sourceOf('train_pipeline.1.type')).to.equal(CHILD);
    expect(config.sourceOf('train_pipeline')).to.equal(CHILD);
  });
});

describe('loadConfig: --cfg-options', () => {
  it('sets scalars deep in the config and keeps the rest of the dict', () => {
    const config = loadConfig(CHILD, { cfgOptions: ['model.backbone.depth=18', 'optim_wrapper.optimizer.lr=0.01'] });
    expect(config.get('model.backbone')).to.include({ depth: 18, type: 'ResNet', frozen_stages: 1 });
    expect(config.get('optim_wrapper.optimizer')).to.deep.equal({ type: 'AdamW', lr: 0.01 });
  });

  it('indexes into an existing list, negative indices from the end', () => {
    const config = loadConfig(file('faster-rcnn_r50_coco.json'), {
      cfgOptions: ['train_pipeline.2.scale=(1000,600)', 'train_pipeline.-1.meta_keys=[img_id]'],
    });
    expect(config.get('train_pipeline.2')).to.deep.equal({ type: 'Resize', scale: [1000, 600], keep_ratio: true });
    expect(config.get('train_pipeline.4')).to.deep.equal({ type: 'PackDetInputs', meta_keys: ['img_id'] });
    expect(config.get('train_pipeline.0')).to.deep.equal({ type: 'LoadImageFromFile' });
  });

  it('creates missing dicts along the path and replaces a dict given a scalar', () => {
    const config = loadConfig(file('faster-rcnn_r50_coco.json'), { cfgOptions: ['new.nested.key=x', 'model.test_cfg=None'] });
    expect(config.get('new')).to.deep.equal({ nested: { key: 'x' } });
    expect(config.get('model.test_cfg')).to.equal(null);
  });

  it('applies repeated options in order, the last one winning', () => {
    const config = loadConfig(CHILD, { cfgOptions: ['model.backbone.depth=18', 'model.backbone.depth=34'] });
    expect(config.get('model.backbone.depth')).to.equal(34);
    expect(config.sourceOf('model.backbone.depth')).to.equal('--cfg-options model.backbone.depth=34');
  });

  it('fails on an index past the end, naming the option and the list length', () => {
    const error = loadError('faster-rcnn_r50_coco.json', ['train_pipeline.5.scale=(1,1)']);
    expect(error.message).to.contain('--cfg-options train_pipeline.5.scale=(1,1)').and.to.contain('length 5');
    expect(error.configPath).to.equal('train_pipeline.5.scale');
  });

  it('fails on a key into a list that is not an index', () => {
    const error = loadError('faster-rcnn_r50_coco.json', ['train_pipeline.resize.scale=1']);
    expect(error.message).to.contain('train_pipeline is a list');
  });

  it('fails on a key inside a scalar, naming the file that set the scalar', () => {
    const error = loadError('faster-rcnn_r50_coco.json', ['model.backbone.depth.value=1']);
    expect(error.message).to.contain('model.backbone.depth').and.to.contain('the number 50').and.to.contain('faster-rcnn_r50.json');
  });

  it('refuses to set a reserved key', () => {
    expect(loadError('faster-rcnn_r50_coco.json', ['filename=x']).message).to.contain('reserved');
  });
});

describe('loadConfig: errors', () => {
  it('names a missing config file', () => {
    const error = loadError('no-such-config.json');
    expect(error.message).to.contain('no-such-config.json').and.to.contain('not found');
  });

  it('names the file and the _base_ entry of a missing base', () => {
    const error = loadError('errors/missing-base.json');
    expect(error.message).to.contain('missing-base.json').and.to.contain('_base_.1').and.to.contain('./no-such-base.json');
    expect(error.file).to.equal(file('errors/missing-base.json'));
    expect(error.configPath).to.equal('_base_.1');
  });

  it('prints a _base_ cycle as a chain', () => {
    const error = loadError('cycle/a.json');
    expect(error.message).to.match(/cycle\/a\.json → .*cycle\/b\.json → .*cycle\/a\.json/);
  });

  it('names the key and both files when bases of one list define the same key', () => {
    const error = loadError('errors/duplicate-keys.json');
    expect(error.message)
      .to.contain('duplicate key "model"')
      .and.to.contain('faster-rcnn_r50.json')
      .and.to.contain('model-again.json');
    expect(error.configPath).to.equal('model');
  });

  it('gives file, line and column of a JSON5 syntax error', () => {
    const error = loadError('errors/bad-json5.json');
    expect(error.message).to.match(/bad-json5\.json:3:24: invalid JSON5: invalid character ','/);
  });

  it('names the path and both files for a child dict over a base scalar', () => {
    const error = loadError('errors/dict-over-scalar.json');
    expect(error.configPath).to.equal('model.backbone.depth');
    expect(error.message)
      .to.contain('dict-over-scalar.json')
      .and.to.contain('model.backbone.depth')
      .and.to.contain('faster-rcnn_r50.json')
      .and.to.contain('_delete_');
  });

  it('rejects a _base_ entry that is not a string', () => {
    const error = loadError('errors/bad-base-type.json');
    expect(error.message).to.contain('bad-base-type.json').and.to.contain('_base_.1');
  });

  it('rejects reserved top-level keys', () => {
    const error = loadError('errors/reserved-key.json');
    expect(error.message).to.contain('reserved-key.json').and.to.contain('"filename" is a reserved key');
  });

  it('names the reference, path and file of a {{_base_.x}} the bases do not define', () => {
    const error = loadError('errors/base-reference-missing.json');
    expect(error.message).to.contain('base-reference-missing.json').and.to.contain('model.no_such_head.num_classes');
  });

  it('rejects an unknown predefined variable instead of leaving it in the text', () => {
    const error = loadError('errors/unknown-variable.json');
    expect(error.message).to.contain('unknown-variable.json').and.to.contain('fileBaseName').and.to.contain('fileBasename');
  });

  it('rejects a file that does not hold an object', () => {
    expect(loadError('errors/not-an-object.json').message).to.contain('not-an-object.json').and.to.contain('a list');
  });

  it('rejects package-scoped bases, naming the entry', () => {
    const error = loadError('errors/package-base.json');
    expect(error.message).to.contain('package-base.json').and.to.contain('mmdet::').and.to.contain('not supported');
  });

  it('rejects files that are not .json or .json5', () => {
    expect(loadError('errors/config.yaml').message).to.contain('config.yaml').and.to.contain('.json');
  });
});
