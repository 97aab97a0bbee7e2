/**
 * SGD against updates worked out by hand from torch.optim.SGD's documented rule (weight decay
 * added to the gradient, no dampening on the first momentum step, nesterov look-ahead).
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, tensorsLeakedBy, type RawTensor } from '@tsdet/core';
import { SGD, type OptimizedParameter, type SgdHyperParameters } from '@tsdet/engine';

function param(name: string, values: number[], shape = [values.length], layout: OptimizedParameter['layout'] = 'same'): OptimizedParameter {
  return { name, variable: tf.variable(tf.tensor(values, shape)), layout };
}

function sgdOver(p: OptimizedParameter, hyper: Partial<SgdHyperParameters>): SGD {
  return new SGD([p], [{ lr: 0.1, momentum: 0, dampening: 0, weight_decay: 0, nesterov: false, ...hyper, params: [p.name] }]);
}

function stepWith(sgd: SGD, name: string, grad: number[], shape = [grad.length]): void {
  const g = tf.tensor(grad, shape);
  sgd.step(new Map([[name, g]]));
  g.dispose();
}

function values(p: OptimizedParameter): number[] {
  return Array.from(p.variable.dataSync());
}

describe('SGD (torch.optim.SGD semantics)', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', verbose: false });
  });

  it('momentum 0.9 with weight decay added to the gradient', () => {
    const p = param('w', [1, -2]);
    const sgd = sgdOver(p, { momentum: 0.9, weight_decay: 0.01 });
    stepWith(sgd, 'w', [0.5, 0.25]);
    // d = g + 0.01 p = [0.51, 0.23]; buf = d; p -= 0.1 d
    values(p).forEach((v, i) => expect(v).to.be.closeTo([0.949, -2.023][i]!, 1e-6));
    stepWith(sgd, 'w', [0.5, 0.25]);
    // d = [0.50949, 0.22977]; buf = 0.9 [0.51, 0.23] + d = [0.96849, 0.43677]; p -= 0.1 buf
    values(p).forEach((v, i) => expect(v).to.be.closeTo([0.852151, -2.066677][i]!, 1e-6));
    sgd.dispose();
    p.variable.dispose();
  });

  it('nesterov looks ahead by momentum x buffer', () => {
    const p = param('w', [1]);
    const sgd = sgdOver(p, { momentum: 0.5, nesterov: true });
    stepWith(sgd, 'w', [1]); // buf 1, d = 1 + 0.5 = 1.5
    expect(values(p)[0]).to.be.closeTo(0.85, 1e-6);
    stepWith(sgd, 'w', [1]); // buf 1.5, d = 1 + 0.75
    expect(values(p)[0]).to.be.closeTo(0.675, 1e-6);
    sgd.dispose();
    p.variable.dispose();
  });

  it('dampening applies from the second step on', () => {
    const p = param('w', [1]);
    const sgd = sgdOver(p, { momentum: 0.9, dampening: 0.5 });
    stepWith(sgd, 'w', [1]); // buf = g = 1
    expect(values(p)[0]).to.be.closeTo(0.9, 1e-6);
    stepWith(sgd, 'w', [1]); // buf = 0.9 + 0.5
    expect(values(p)[0]).to.be.closeTo(0.76, 1e-6);
    sgd.dispose();
    p.variable.dispose();
  });

  it('skips a parameter that got no gradient (no decay either), and leaks nothing per step', () => {
    const a = param('a', [1]);
    const b = param('b', [1]);
    const sgd = new SGD([a, b], [a, b].map((p) => ({ lr: 0.1, momentum: 0.9, dampening: 0, weight_decay: 0.5, nesterov: false, params: [p.name] })));
    stepWith(sgd, 'a', [0]); // creates a's buffer
    expect(tensorsLeakedBy(() => stepWith(sgd, 'a', [0]))).to.equal(0);
    expect(values(b)).to.deep.equal([1]);
    expect(values(a)[0]).to.be.below(1);
    sgd.dispose();
    tf.dispose([a.variable, b.variable]);
  });

  it('saves momentum buffers by name in PyTorch layout and restores them exactly', () => {
    // a linear weight: tfjs [in=3, out=2], torch [out=2, in=3]
    const make = (): OptimizedParameter => param('fc.weight', [1, 2, 3, 4, 5, 6], [3, 2], 'linear');
    const p = make();
    const sgd = sgdOver(p, { momentum: 0.9 });
    stepWith(sgd, 'fc.weight', [1, 0, 0, 0, 0, 2], [3, 2]);
    const state = sgd.stateDict();
    const buffer = state.state['fc.weight']!.momentum_buffer as RawTensor;
    expect(buffer.shape).to.deep.equal([2, 3]);
    expect(Array.from(buffer.data as Float32Array)).to.deep.equal([1, 0, 0, 0, 0, 2]);
    expect(state.param_groups[0]).to.include({ lr: 0.1, momentum: 0.9 });

    const q = make();
    const restored = sgdOver(q, { momentum: 0.9, lr: 0.5 });
    restored.loadStateDict(state);
    expect(restored.paramGroups[0]!.lr).to.equal(0.1);
    stepWith(sgd, 'fc.weight', [1, 1, 1, 1, 1, 1], [3, 2]);
    stepWith(restored, 'fc.weight', [1, 1, 1, 1, 1, 1], [3, 2]);
    // q started from the un-stepped weights: compare the second update of both
    const stepP = values(p);
    const stepQ = values(q);
    const firstUpdate = [0.1, 0, 0, 0, 0, 0.2];
    stepQ.forEach((v, i) => expect(v - firstUpdate[i]!).to.be.closeTo(stepP[i]!, 1e-6));
    for (const o of [sgd, restored]) o.dispose();
    tf.dispose([p.variable, q.variable]);
  });

  it('rejects optimizer state for other parameters, naming them', () => {
    const p = param('w', [1]);
    const sgd = sgdOver(p, { momentum: 0.9 });
    expect(() => sgd.loadStateDict({ state: {}, param_groups: [{ params: ['v'], lr: 1, momentum: 0, dampening: 0, weight_decay: 0, nesterov: false }] }, 'x.pth')).to.throw(/x\.pth does not match the model.*saved \[v\], now \[w\]/);
    sgd.dispose();
    p.variable.dispose();
  });
});
