import { expect } from 'chai';
import { errorThrownBy } from '../testing/thrown.js';
import { ConfigError } from './errors.js';
import { mergeConfigs } from './merge.js';
import { deepFreeze, type ConfigObject } from './values.js';

/** Runs `fn`, which must throw a ConfigError, and returns it for inspection. */
const configErrorOf = (fn: () => unknown): ConfigError => errorThrownBy(fn, ConfigError);

describe('mergeConfigs', () => {
  it('merges dicts key by key, keeping base keys the child does not mention', () => {
    const base = { model: { type: 'FasterRCNN', backbone: { depth: 50, norm_cfg: { type: 'BN', requires_grad: true } } } };
    const child = { model: { backbone: { norm_cfg: { requires_grad: false } } } };
    expect(mergeConfigs(base, child)).to.deep.equal({
      model: { type: 'FasterRCNN', backbone: { depth: 50, norm_cfg: { type: 'BN', requires_grad: false } } },
    });
  });

  it('replaces lists wholesale instead of merging them element by element', () => {
    const base: ConfigObject = { in_channels: [256, 512, 1024, 2048], pipeline: [{ type: 'A', x: 1 }, { type: 'B' }] };
    const child = { in_channels: [64], pipeline: [{ type: 'C' }] };
    expect(mergeConfigs(base, child)).to.deep.equal({ in_channels: [64], pipeline: [{ type: 'C' }] });
  });

  it('lets a scalar or list replace a dict, and null replace anything', () => {
    const base = { a: { x: 1 }, b: { y: 2 }, c: 3 };
    expect(mergeConfigs(base, { a: 5, b: [1], c: null })).to.deep.equal({ a: 5, b: [1], c: null });
  });

  it('adds keys the base does not have', () => {
    expect(mergeConfigs({ a: 1 }, { b: { c: 2 } })).to.deep.equal({ a: 1, b: { c: 2 } });
  });

  it('replaces the base dict entirely when the child dict says _delete_: true, and drops the marker', () => {
    const base = { optimizer: { type: 'SGD', lr: 0.02, momentum: 0.9 } };
    const child = { optimizer: { _delete_: true, type: 'AdamW', lr: 0.0001 } };
    expect(mergeConfigs(base, child)).to.deep.equal({ optimizer: { type: 'AdamW', lr: 0.0001 } });
  });

  it('merges normally with _delete_: false, and still drops the marker', () => {
    expect(mergeConfigs({ o: { a: 1 } }, { o: { _delete_: false, b: 2 } })).to.deep.equal({ o: { a: 1, b: 2 } });
  });

  it('drops _delete_ even where the base lacks the key or the dict sits in a list (mmengine would keep it)', () => {
    const merged = mergeConfigs({}, { fresh: { _delete_: true, a: 1 }, list: [{ _delete_: true, b: 2 }] });
    expect(merged).to.deep.equal({ fresh: { a: 1 }, list: [{ b: 2 }] });
  });

  it('lets _delete_ swap a scalar for a dict', () => {
    expect(mergeConfigs({ depth: 50 }, { depth: { _delete_: true, value: 101 } })).to.deep.equal({ depth: { value: 101 } });
  });

  it('rejects a child dict over a base scalar, naming the path', () => {
    const error = configErrorOf(() => mergeConfigs({ model: { backbone: { depth: 50 } } }, { model: { backbone: { depth: { v: 1 } } } }));
    expect(error.configPath).to.equal('model.backbone.depth');
    expect(error.message).to.contain('model.backbone.depth').and.to.contain('the number 50').and.to.contain('_delete_');
  });

  it('rejects a child dict over a base list', () => {
    const error = configErrorOf(() => mergeConfigs({ scale: [1333, 800] }, { scale: { w: 1 } }));
    expect(error.configPath).to.equal('scale');
    expect(error.message).to.contain('a list');
  });

  it('rejects a _delete_ that is not a boolean', () => {
    const error = configErrorOf(() => mergeConfigs({ o: { a: 1 } }, { o: { _delete_: 'yes', b: 2 } }));
    expect(error.configPath).to.equal('o._delete_');
  });

  it('neither mutates its inputs nor shares objects with them', () => {
    const base: ConfigObject = { a: { list: [1, 2], keep: { x: 1 } } };
    const child: ConfigObject = { a: { list: [3], extra: { y: 2 } } };
    const before = structuredClone({ base, child });
    const merged = mergeConfigs(base, child);
    expect({ base, child }).to.deep.equal(before);
    const a = merged['a'] as ConfigObject;
    expect(a['keep']).to.not.equal((base['a'] as ConfigObject)['keep']);
    expect(a['list']).to.not.equal((child['a'] as ConfigObject)['list']);
    (a['keep'] as ConfigObject)['x'] = 99;
    expect(before.base).to.deep.equal(base);
  });

  it('accepts frozen inputs and returns a mutable result', () => {
    const merged = mergeConfigs(deepFreeze({ a: { b: 1 } }), deepFreeze({ a: { c: 2 } }));
    (merged['a'] as ConfigObject)['d'] = 3;
    expect(merged).to.deep.equal({ a: { b: 1, c: 2, d: 3 } });
  });

  it('keeps a __proto__ key as data instead of changing the prototype', () => {
    const child = JSON.parse('{"__proto__": {"polluted": true}}') as ConfigObject;
    const merged = mergeConfigs({}, child);
    expect(Object.getPrototypeOf(merged)).to.equal(Object.prototype);
    expect(Object.keys(merged)).to.deep.equal(['__proto__']);
  });
});

describe('deepFreeze', () => {
  it('freezes nested dicts and lists so that writes throw', () => {
    const frozen = deepFreeze({ a: { b: [1, { c: 2 }] } });
    expect(() => {
      frozen.a.b.push(3);
    }).to.throw(TypeError);
    expect(() => {
      (frozen.a.b[1] as { c: number }).c = 5;
    }).to.throw(TypeError);
    expect(() => {
      (frozen as Record<string, unknown>)['new'] = 1;
    }).to.throw(TypeError);
    expect(frozen).to.deep.equal({ a: { b: [1, { c: 2 }] } });
  });
});
