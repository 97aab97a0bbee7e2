/**
 * Adam / AdamW against updates worked out by hand from torch.optim's documented rules (bias
 * correction, decay added to the gradient for Adam, decoupled for AdamW), and the saved state.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, OPTIMIZERS, tensorsLeakedBy } from '@tsdet/core';
import { Adam, registerEngine, type OptimizedParameter, type OptimizerFactory } from '@tsdet/engine';

function param(values: number[]): OptimizedParameter {
  return { name: 'w', variable: tf.variable(tf.tensor1d(values)), layout: 'same' };
}

function adamOver(p: OptimizedParameter, decoupled: boolean, weightDecay: number): Adam {
  return new Adam([p], [{ lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weight_decay: weightDecay, params: [p.name] }], decoupled);
}

function stepWith(optimizer: Adam, grad: number): void {
  const g = tf.tensor1d([grad]);
  optimizer.step(new Map([['w', g]]));
  g.dispose();
}

describe('Adam / AdamW (torch.optim semantics)', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', verbose: false });
    registerEngine();
  });

  // Two steps from p = 1 with grads 0.5 then 0.25, lr 0.1, betas (0.9, 0.999), eps 1e-8:
  // t=1: m = 0.1 g, v = 0.001 g^2, so the bias-corrected step is lr * sign(g) = 0.1.
  // t=2: m = 0.07, v = 3.1225e-4, p -= 0.1 / 0.19 * m / (sqrt(v) / sqrt(0.001999) + eps).
  const cases = [
    { name: 'Adam', decoupled: false, weightDecay: 0, expected: [0.9, 0.806782] },
    { name: 'Adam with decay added to the gradient', decoupled: false, weightDecay: 0.1, expected: [0.9, 0.80501] },
    { name: 'AdamW with decoupled decay', decoupled: true, weightDecay: 0.1, expected: [0.89, 0.787882] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = param([1]);
      const adam = adamOver(p, c.decoupled, c.weightDecay);
      const leaked = tensorsLeakedBy(() => {
        stepWith(adam, 0.5);
        expect(p.variable.dataSync()[0]).to.be.closeTo(c.expected[0]!, 1e-6);
        stepWith(adam, 0.25);
        expect(p.variable.dataSync()[0]).to.be.closeTo(c.expected[1]!, 1e-6);
      });
      expect(leaked, 'tensors kept beyond the two moment buffers').to.equal(2);
      adam.dispose();
      p.variable.dispose();
    });
  }

  it('continues exactly from its saved state, and refuses SGD state', () => {
    const [a, b] = [param([1, -1]), param([1, -1])];
    const first = new Adam([a], [{ lr: 0.05, betas: [0.9, 0.99], eps: 1e-8, weight_decay: 0.01, params: ['w'] }], true);
    const g = tf.tensor1d([0.3, -0.7]);
    first.step(new Map([['w', g]]));
    const saved = first.stateDict();
    expect(Object.keys(saved.state['w']!)).to.deep.equal(['step', 'exp_avg', 'exp_avg_sq']);
    b.variable.assign(a.variable);
    const second = new Adam([b], [{ lr: 0.05, betas: [0.9, 0.99], eps: 1e-8, weight_decay: 0.01, params: ['w'] }], true);
    second.loadStateDict(saved);
    first.step(new Map([['w', g]]));
    second.step(new Map([['w', g]]));
    expect(Array.from(b.variable.dataSync())).to.deep.equal(Array.from(a.variable.dataSync()));
    expect(() => second.loadStateDict({ state: { w: { momentum_buffer: saved.state['w']!['exp_avg']! } }, param_groups: saved.param_groups }, 'sgd.pth')).to.throw(/sgd\.pth: 'w' has no step, exp_avg, exp_avg_sq/);
    tf.dispose([g]);
    first.dispose();
    second.dispose();
    a.variable.dispose();
    b.variable.dispose();
  });

  it('is built from optim_wrapper.optimizer configs with torch defaults', () => {
    const factory = OPTIMIZERS.build<OptimizerFactory>({ type: 'AdamW', lr: 0.0002 }, { path: 'optim_wrapper.optimizer' });
    expect(factory.defaults).to.deep.equal({ lr: 0.0002, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.01 });
    expect(() => OPTIMIZERS.build({ type: 'Adam', lr: 0.001, amsgrad: true }, { path: 'optim_wrapper.optimizer' })).to.throw(/amsgrad/);
  });
});
