import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Module, tensorsLeakedBy, type LossDict, type TrainableModel } from '@tsdet/core';
import { BatchNorm2d } from '@tsdet/models';
import { buildParamGroups, NonFiniteLossError, OptimWrapper, registerEngine, SGD, buildOptimWrapper } from '@tsdet/engine';

/** loss = sum(w * c) (so the gradient is c) plus a NaN term when asked. */
class Linear extends Module implements TrainableModel {
  readonly w: tf.Variable;
  constructor(init: number[]) {
    super();
    this.w = this.addParameter('w', tf.tensor1d(init));
  }
  computeLosses(batch: { c: number[]; nan?: boolean }): LossDict {
    const loss = tf.sum(tf.mul(this.w, tf.tensor1d(batch.c))) as tf.Scalar;
    return batch.nan ? { loss_main: loss, loss_bad: tf.scalar(Number.NaN) } : { loss_main: loss, top1: tf.scalar(1) };
  }
  testStep(): unknown[] {
    return [];
  }
}

function wrapper(model: Linear, options: ConstructorParameters<typeof OptimWrapper>[3] = {}): OptimWrapper {
  const params = [{ name: 'w', variable: model.w, layout: 'same' as const }];
  const sgd = new SGD(params, [{ params: ['w'], lr: 1, momentum: 0, dampening: 0, weight_decay: 0, nesterov: false }]);
  return new OptimWrapper(model, sgd, params, options);
}

describe('OptimWrapper', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', verbose: false });
    registerEngine();
  });

  it('logs loss first, then the terms; steps by the gradient; leaks nothing', () => {
    const model = new Linear([1, 1]);
    const ow = wrapper(model);
    let logVars: Record<string, number> = {};
    const leaked = tensorsLeakedBy(() => ({ logVars } = ow.updateParams({ c: [3, 4] })));
    expect(leaked).to.equal(0);
    expect(Object.keys(logVars)).to.deep.equal(['loss', 'loss_main', 'top1']);
    expect(logVars['loss']).to.equal(7);
    expect(Array.from(model.w.dataSync())).to.deep.equal([-2, -3]);
    ow.dispose();
    model.dispose();
  });

  it('clips the total gradient norm to max_norm and reports the norm before clipping (torch clip_grad_norm_)', () => {
    const model = new Linear([0, 0]);
    const ow = wrapper(model, { clipGrad: { max_norm: 1 } });
    const { gradNorm } = ow.updateParams({ c: [3, 4] });
    expect(gradNorm).to.be.closeTo(5, 1e-6);
    // grads scaled by 1 / (5 + 1e-6)
    Array.from(model.w.dataSync()).forEach((v, i) => expect(v).to.be.closeTo(-[0.6, 0.8][i]!, 1e-6));
    ow.dispose();
    model.dispose();
  });

  it('accumulates gradients over accumulative_counts iterations, each loss divided by the count', () => {
    const model = new Linear([0, 0]);
    const ow = wrapper(model, { accumulativeCounts: 2 });
    ow.initializeCountStatus(0, 4);
    ow.updateParams({ c: [2, 0] });
    expect(Array.from(model.w.dataSync())).to.deep.equal([0, 0]);
    ow.updateParams({ c: [0, 4] });
    expect(Array.from(model.w.dataSync())).to.deep.equal([-1, -2]);
    ow.dispose();
    model.dispose();
  });

  it('stops on a non-finite loss term before touching the parameters', () => {
    const model = new Linear([1, 1]);
    const ow = wrapper(model);
    let error: unknown;
    const leaked = tensorsLeakedBy(() => {
      try {
        ow.updateParams({ c: [3, 4], nan: true });
      } catch (e) {
        error = e;
      }
    });
    expect(error).to.be.instanceOf(NonFiniteLossError);
    expect((error as NonFiniteLossError).terms).to.deep.equal(['loss', 'loss_bad']);
    expect(Array.from(model.w.dataSync())).to.deep.equal([1, 1]);
    expect(leaked).to.equal(0);
    ow.dispose();
    model.dispose();
  });
});

class Block extends Module {
  readonly conv: tf.Variable;
  readonly convBias: tf.Variable;
  readonly bn: BatchNorm2d;
  constructor() {
    super();
    this.conv = this.addParameter('weight', tf.zeros([1, 1, 2, 2]), { layout: 'conv2d' });
    this.convBias = this.addParameter('bias', tf.zeros([2]));
    this.bn = this.registerModule('bn', new BatchNorm2d(2));
  }
}

class Net extends Module {
  constructor() {
    super();
    this.registerModule('backbone', new Block());
    this.registerModule('head', new Block());
  }
}

describe('paramwise_cfg (mmengine DefaultOptimWrapperConstructor)', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', verbose: false });
    registerEngine();
  });

  it('bias_lr_mult, bias_decay_mult and norm_decay_mult, with custom_keys taking precedence', () => {
    const net = new Net();
    const base = { lr: 0.02, momentum: 0.9, dampening: 0, weight_decay: 1e-4, nesterov: false };
    const { groups } = buildParamGroups(net, base, { bias_lr_mult: 2, bias_decay_mult: 0, norm_decay_mult: 0, custom_keys: { head: { lr_mult: 0.1 }, 'head.bn': { decay_mult: 3 } } });
    // rounded: 0.02 x 0.1 is 0.0020000000000000005 in floating point, as in Python
    const round = (v: number): number => Number(v.toPrecision(10));
    const byName = Object.fromEntries(groups.map((g) => [g.params[0], { lr: round(g.lr), wd: round(g.weight_decay) }]));
    expect(byName).to.deep.equal({
      'backbone.weight': { lr: 0.02, wd: 1e-4 },
      'backbone.bias': { lr: 0.04, wd: 0 },
      'backbone.bn.weight': { lr: 0.02, wd: 0 },
      'backbone.bn.bias': { lr: 0.02, wd: 0 },
      // the longest matching key wins, and no other rule applies
      'head.weight': { lr: 0.002, wd: 1e-4 },
      'head.bias': { lr: 0.002, wd: 1e-4 },
      'head.bn.weight': { lr: 0.02, wd: 3e-4 },
      'head.bn.bias': { lr: 0.02, wd: 3e-4 },
    });
    net.dispose();
  });

  it('frozen parameters are not optimised; a model with none trainable is an error', () => {
    const net = new Net();
    (net.namedChildren()[0]![1] as Block).setRequiresGrad(false);
    const base = { lr: 0.02, momentum: 0, dampening: 0, weight_decay: 0, nesterov: false };
    expect(buildParamGroups(net, base).params.map((p) => p.name)).to.deep.equal(['head.weight', 'head.bias', 'head.bn.weight', 'head.bn.bias']);
    net.setRequiresGrad(false);
    const model = Object.assign(net, { computeLosses: () => ({}), testStep: () => [] }) as unknown as TrainableModel;
    expect(() => buildOptimWrapper(model, { optimizer: { type: 'SGD', lr: 0.1 } })).to.throw(/no trainable parameters/);
    net.dispose();
  });
});
