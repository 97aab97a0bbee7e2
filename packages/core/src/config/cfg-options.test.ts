import { expect } from 'chai';
import { parseCfgOptions } from './cfg-options.js';
import { ConfigError } from './errors.js';
import type { ConfigValue } from './values.js';

function valueOf(option: string): ConfigValue {
  const [parsed] = parseCfgOptions([option]);
  return parsed?.value as ConfigValue;
}

function errorOf(option: string): ConfigError {
  try {
    parseCfgOptions([option]);
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected ${option} to be rejected`);
}

describe('parseCfgOptions', () => {
  const table: [string, ConfigValue][] = [
    ['a=1', 1],
    ['a=-7', -7],
    ['a=007', 7],
    ['a=1.5', 1.5],
    ['a=.5', 0.5],
    ['a=1e-3', 0.001],
    ['a=true', true],
    ['a=False', false],
    ['a=TRUE', true],
    ['a=None', null],
    ['a=null', null],
    ['a=none', 'none'],
    ['a=SyncBN', 'SyncBN'],
    ['a=', ''],
    ['a=[1,2]', [1, 2]],
    ['a=[]', []],
    ['a=[1,]', [1]],
    ['a=(1333,800)', [1333, 800]],
    ['a=(1)', [1]],
    ['a=1,2', [1, 2]],
    ['a=x,', ['x']],
    ['a=[[1,2],[3,(4,5)]]', [[1, 2], [3, [4, 5]]]],
    ['a=[1,2],[3]', [[1, 2], [3]]],
    ['a=[true,None,x,2.5]', [true, null, 'x', 2.5]],
    ['a=[ 1, 2 ]', [1, 2]],
    ['a=(1000, 600)', [1000, 600]],
    ['a="1"', 1],
    ["a='SGD'", 'SGD'],
    ["a='my run'", 'my run'],
    ["a=['a b', c]", ['a b', 'c']],
    ["a=\"'nested'\"", 'nested'],
    ['a=x=y', 'x=y'],
  ];
  for (const [option, expected] of table) {
    it(`parses ${option} as ${JSON.stringify(expected)}`, () => {
      expect(valueOf(option)).to.deep.equal(expected);
    });
  }

  it('splits the key into path parts and keeps the option text', () => {
    expect(parseCfgOptions(['model.backbone.0.depth=101'])).to.deep.equal([
      { text: 'model.backbone.0.depth=101', path: ['model', 'backbone', '0', 'depth'], value: 101 },
    ]);
  });

  it('keeps repeated options in order', () => {
    expect(parseCfgOptions(['a=1', 'b=2', 'a=3']).map((option) => option.text)).to.deep.equal(['a=1', 'b=2', 'a=3']);
  });

  for (const option of ['a=[1,2', 'a=(1,2]', 'a=1)', 'a=[(1,2]]']) {
    it(`rejects unbalanced brackets in ${option}, naming the option`, () => {
      const error = errorOf(option);
      expect(error.message).to.contain(`--cfg-options ${option}`).and.to.contain('unbalanced');
      expect(error.configPath).to.equal('a');
    });
  }

  it('rejects an option without "="', () => {
    expect(errorOf('model.depth').message).to.contain('--cfg-options model.depth').and.to.contain('key=value');
  });

  it('rejects an empty key or key part', () => {
    expect(errorOf('=1').message).to.contain('key=value');
    expect(errorOf('a..b=1').message).to.contain('empty part');
  });
});
