import { expect } from 'chai';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config } from './config.js';
import { ConfigError } from './errors.js';
import { loadConfig } from './loader.js';
import type { ConfigObject } from './values.js';

const DATA = fileURLToPath(new URL('../../tests-data/config/', import.meta.url));
const CHILD = path.join(DATA, 'faster-rcnn_r101_voc.json');
const relative = (file: string): string => path.relative(process.cwd(), file);

describe('Config', () => {
  it('is deep-frozen: assignments anywhere throw and change nothing', () => {
    const config = loadConfig(CHILD);
    const data = config.data as ConfigObject;
    const backbone = (data['model'] as ConfigObject)['backbone'] as ConfigObject;
    expect(() => {
      backbone['depth'] = 18;
    }).to.throw(TypeError);
    expect(() => {
      (config.get('model.neck.in_channels') as number[]).push(4096);
    }).to.throw(TypeError);
    expect(() => {
      delete data['model'];
    }).to.throw(TypeError);
    expect(() => {
      (config as unknown as { filename: string }).filename = 'x';
    }).to.throw(TypeError);
    expect(config.get('model.backbone.depth')).to.equal(101);
  });

  it('gets values by dotted string or by parts, list indices included', () => {
    const config = loadConfig(CHILD);
    expect(config.get('model.neck.in_channels.1')).to.equal(512);
    expect(config.get(['model', 'neck', 'in_channels', 3])).to.equal(2048);
    expect(config.get('train_pipeline.1.type')).to.equal('PackDetInputs');
    expect(config.get('model.neck.in_channels.9')).to.equal(undefined);
    expect(config.get('model.missing')).to.equal(undefined);
    expect(config.get('')).to.equal(config.data);
  });

  it('dumps pretty JSON that parses back to the data, and serialises through JSON.stringify', () => {
    const config = loadConfig(CHILD);
    expect(config.dump()).to.contain('\n  "model": {\n');
    expect(JSON.parse(config.dump())).to.deep.equal(config.data);
    expect(JSON.parse(JSON.stringify(config))).to.deep.equal(config.data);
  });

  it('dumps one aligned line per leaf with its source relative to the working directory', () => {
    const config = loadConfig(CHILD, { cfgOptions: ['train_pipeline.0.to_float32=true'] });
    const lines = config.dumpWithSources().split('\n');
    expect(lines).to.include(`${'model.backbone.depth = 101'.padEnd(64)}   # ${relative(CHILD)}`);
    const modelFile = relative(path.join(DATA, '_base_/models/faster-rcnn_r50.json'));
    expect(lines).to.include(`${'model.neck.in_channels = [256, 512, 1024, 2048]'.padEnd(64)}   # ${modelFile}`);
    const pipeline = lines.findIndex((line) => line.startsWith('train_pipeline = ['));
    expect(lines[pipeline]).to.contain(`# ${relative(CHILD)}`);
    expect(lines[pipeline + 1]).to.match(/^train_pipeline\.0\.to_float32 = true +# --cfg-options train_pipeline\.0\.to_float32=true$/);
    expect(lines).to.have.length(config.leaves().length);
  });

  it('lists leaves in data order with their sources', () => {
    const config = loadConfig(CHILD);
    const leaves = config.leaves();
    expect(leaves[0]).to.deep.equal({ path: 'model.type', value: 'FasterRCNN', source: path.join(DATA, '_base_/models/faster-rcnn_r50.json') });
    expect(leaves.map((leaf) => leaf.path)).to.include.members(['train_pipeline', 'model.neck.in_channels', 'new_thing.kept']);
    expect(leaves.every((leaf) => leaf.source !== undefined)).to.equal(true);
  });

  describe('fromObject', () => {
    it('copies and freezes the object, leaving the original mutable and unchanged', () => {
      const original = { model: { type: 'RetinaNet', _delete_: true }, list: [1, 2] };
      const config = Config.fromObject(original);
      expect(config.data).to.deep.equal({ model: { type: 'RetinaNet' }, list: [1, 2] });
      expect(Object.isFrozen(config.data['list'])).to.equal(true);
      original.list.push(3);
      expect(config.get('list')).to.deep.equal([1, 2]);
      expect(config.filename).to.equal(undefined);
      expect(config.sourceOf('model.type')).to.equal(undefined);
      expect(config.dumpWithSources()).to.contain('# (set in code)');
    });

    it('credits leaves to the filename when one is given', () => {
      const config = Config.fromObject({ a: { b: 1 } }, 'virtual/config.json');
      expect(config.filename).to.equal(path.resolve('virtual/config.json'));
      expect(config.sourceOf('a.b')).to.equal(path.resolve('virtual/config.json'));
    });

    it('rejects values that are not config data, naming the path', () => {
      expect(() => Config.fromObject({ model: { init: () => 1 } }))
        .to.throw(ConfigError, 'model.init')
        .with.property('configPath', 'model.init');
      expect(() => Config.fromObject({ when: new Date() })).to.throw(ConfigError, 'Date');
    });

    it('rejects _base_ and reserved keys', () => {
      expect(() => Config.fromObject({ _base_: 'x.json' })).to.throw(ConfigError, 'loadConfig');
      expect(() => Config.fromObject({ pretty_text: 'x' })).to.throw(ConfigError, 'reserved');
    });
  });
});
