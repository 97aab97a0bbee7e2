import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import type { RawTensor } from '../checkpoint/raw-tensor.js';
import { withoutLeaks } from '../testing/leaks.js';
import { Module } from './module.js';
import { loadStateDict, stateDictOf, StateDictError } from './state-dict.js';
import { moduleSummary, parameterCounts } from './summary.js';

class Conv extends Module {
  readonly weight: tf.Variable;
  constructor(cin: number, cout: number, k: number) {
    super();
    this.weight = this.addParameter('weight', tf.zeros([k, k, cin, cout]), { layout: 'conv2d' });
  }
}
class BatchNorm extends Module {
  constructor(c: number) {
    super();
    this.addParameter('weight', tf.ones([c]));
    this.addParameter('bias', tf.zeros([c]));
    this.addBuffer('running_mean', tf.zeros([c]));
    this.addBuffer('running_var', tf.ones([c]));
    this.addBuffer('num_batches_tracked', tf.scalar(0, 'int32'));
  }
}
class Linear extends Module {
  readonly weight: tf.Variable;
  constructor(cin: number, cout: number) {
    super();
    this.weight = this.addParameter('weight', tf.zeros([cin, cout]), { layout: 'linear' });
    this.addParameter('bias', tf.zeros([cout]));
  }
}
class Net extends Module {
  readonly conv1 = this.registerModule('conv1', new Conv(2, 3, 3));
  readonly bn1 = this.registerModule('bn1', new BatchNorm(3));
  readonly fc = this.registerModule('fc', new Linear(3, 4));
}

/** OIHW tensor whose value encodes its own index: o*1000 + i*100 + h*10 + w. */
function oihw(o: number, i: number, k: number): RawTensor {
  const data = new Float32Array(o * i * k * k);
  let n = 0;
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let h = 0; h < k; h++) for (let w = 0; w < k; w++) data[n++] = a * 1000 + b * 100 + h * 10 + w;
  return { dtype: 'float32', shape: [o, i, k, k], data };
}
function f32(shape: number[], fill = (i: number) => i): RawTensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, data: Float32Array.from({ length: size }, (_, i) => fill(i)) };
}
function torchStateDict(): Map<string, RawTensor> {
  return new Map<string, RawTensor>([
    ['conv1.weight', oihw(3, 2, 3)],
    ['bn1.weight', f32([3])],
    ['bn1.bias', f32([3])],
    ['bn1.running_mean', f32([3])],
    ['bn1.running_var', f32([3], (i) => i + 1)],
    ['bn1.num_batches_tracked', { dtype: 'int64', shape: [], data: BigInt64Array.from([7n]) }],
    ['fc.weight', f32([4, 3], (i) => i)],
    ['fc.bias', f32([4])],
  ]);
}

describe('nn/Module', () => {
  before(() => initBackend({ backend: 'cpu', verbose: false }));

  it('names parameters and buffers like a PyTorch state dict, in registration order', () => {
    const net = new Net();
    expect(net.namedParameters().map(([k]) => k)).to.deep.equal(['conv1.weight', 'bn1.weight', 'bn1.bias', 'fc.weight', 'fc.bias']);
    expect(net.namedBuffers().map(([k]) => k)).to.deep.equal(['bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked']);
    expect([...net.namedModules()].map(([k]) => k)).to.deep.equal(['', 'conv1', 'bn1', 'fc']);
    net.dispose();
  });

  it('switches train/eval recursively and tracks requiresGrad per parameter', () => {
    const net = new Net();
    net.eval();
    expect([...net.namedModules()].every(([, m]) => !m.training)).to.equal(true);
    net.train();
    expect(net.bn1.training).to.equal(true);
    net.bn1.setRequiresGrad(false);
    expect(net.trainableVariables()).to.have.length(3);
    expect(parameterCounts(net)).to.deep.equal({ total: 54 + 6 + 16, trainable: 54 + 16, frozen: 6 });
    expect(moduleSummary(net)).to.contain('bn1').and.to.contain('6 frozen');
    net.dispose();
  });

  it('rejects duplicate and dotted member names', () => {
    class Bad extends Module {
      constructor(name: string) {
        super();
        this.addParameter('w', tf.zeros([1]));
        this.addParameter(name, tf.zeros([1]));
      }
    }
    expect(() => new Bad('w')).to.throw(/already registered/);
    expect(() => new Bad('a.b')).to.throw(/invalid member name/);
  });

  it('loads PyTorch layouts: conv OIHW -> HWIO, linear [out,in] -> [in,out], int64 buffers', async () => {
    const net = new Net();
    await withoutLeaks(() => loadStateDict(net, torchStateDict()), 'loadStateDict');
    const w = net.conv1.weight.arraySync() as number[][][][];
    // HWIO[h][w][i][o] must hold the OIHW value at [o][i][h][w].
    expect(w[2]![1]![1]![2]).to.equal(2 * 1000 + 1 * 100 + 2 * 10 + 1);
    expect(net.fc.weight.arraySync()).to.deep.equal([[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]);
    const nbt = net.namedBuffers().find(([k]) => k === 'bn1.num_batches_tracked')![1].variable;
    expect(nbt.dtype).to.equal('int32');
    expect(nbt.arraySync()).to.equal(7);
    net.dispose();
  });

  it('round-trips through stateDictOf in PyTorch layout and dtypes', () => {
    const net = new Net();
    const source = torchStateDict();
    loadStateDict(net, source);
    const saved = stateDictOf(net);
    expect([...saved.keys()]).to.have.members([...source.keys()]);
    expect(saved.get('conv1.weight')!.shape).to.deep.equal([3, 2, 3, 3]);
    expect(Array.from(saved.get('conv1.weight')!.data as Float32Array)).to.deep.equal(Array.from(source.get('conv1.weight')!.data as Float32Array));
    expect(saved.get('bn1.num_batches_tracked')).to.deep.include({ dtype: 'int64', shape: [] });
    net.dispose();
  });

  it('strips a DataParallel "module." prefix and tolerates a missing num_batches_tracked', () => {
    const net = new Net();
    const sd = new Map([...torchStateDict()].filter(([k]) => !k.endsWith('num_batches_tracked')).map(([k, v]) => [`module.${k}`, v]));
    const report = loadStateDict(net, sd);
    expect(report.missing).to.deep.equal([]);
    expect(report.loaded).to.have.length(7);
    net.dispose();
  });

  it('strict load lists every missing, unexpected and mismatched key in one error naming the source', () => {
    const net = new Net();
    const sd = torchStateDict();
    sd.delete('fc.bias');
    sd.set('fc.extra', f32([1]));
    sd.set('conv1.weight', oihw(3, 2, 5));
    try {
      loadStateDict(net, sd, { source: 'model.pth' });
      expect.fail('should throw');
    } catch (error) {
      expect(error).to.be.instanceOf(StateDictError);
      const message = (error as Error).message;
      expect(message).to.contain("'model.pth'").and.contain('fc.bias').and.contain('fc.extra');
      expect(message).to.contain('conv1.weight: checkpoint has [3, 2, 5, 5], the model needs [3, 2, 3, 3]');
      expect((error as StateDictError).report.mismatched).to.have.length(1);
    }
    // Nothing was assigned: a failed strict load leaves the model as it was.
    expect(net.fc.weight.arraySync()).to.deep.equal([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]);
    net.dispose();
  });

  it('non-strict load warns, loads what fits and reports the rest', () => {
    const net = new Net();
    const sd = torchStateDict();
    sd.set('conv1.weight', oihw(1, 1, 1));
    const warnings: string[] = [];
    const original = console.warn;
    console.warn = (msg: string) => void warnings.push(msg);
    try {
      const report = loadStateDict(net, sd, { strict: false });
      expect(report.mismatched.map((m) => m.key)).to.deep.equal(['conv1.weight']);
    } finally {
      console.warn = original;
    }
    expect(warnings.join('\n')).to.contain('conv1.weight');
    expect(net.fc.weight.arraySync()).to.deep.equal([[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]);
    net.dispose();
  });

  it('dispose frees every variable', async () => {
    const before = tf.memory().numTensors;
    new Net().dispose();
    expect(tf.memory().numTensors).to.equal(before);
  });
});
