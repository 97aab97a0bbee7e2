import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { tensorsLeakedBy } from '../testing/leaks.js';
import { isRecordingGradients, noGrad } from './no-grad.js';

describe('autograd/noGrad', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', verbose: false });
  });

  it('cuts the gradient of what it computes and reports the tape state', () => {
    const leaked = tensorsLeakedBy(() => {
      tf.tidy(() => {
        const x = tf.tensor1d([1, 2, 3]);
        const states: boolean[] = [isRecordingGradients()];
        const grad = tf.grad((v: tf.Tensor) => {
          states.push(isRecordingGradients());
          const frozen = noGrad(() => {
            states.push(isRecordingGradients());
            return tf.square(v);
          });
          states.push(isRecordingGradients());
          return tf.sum(tf.add(tf.mul(v, 2), frozen));
        })(x);
        // d/dv (2v + stop(v^2)) = 2: the squared branch contributes nothing.
        expect(Array.from(grad.dataSync())).to.deep.equal([2, 2, 2]);
        expect(states).to.deep.equal([false, true, false, true]);
      });
    });
    expect(leaked).to.equal(0);
  });

  it('keeps no tensors of the paused region for the backward pass', () => {
    const x = tf.randomNormal([64, 64]);
    const held = (pause: boolean): number => {
      let during = 0;
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        tf.grad((v: tf.Tensor) => {
          const deep = (): tf.Tensor => [1, 2, 3, 4, 5].reduce((h) => tf.tanh(tf.mul(h, 1.1)), v);
          const out = tf.add(tf.sum(pause ? noGrad(deep) : deep()), tf.sum(v));
          during = tf.memory().numTensors - before;
          return out;
        })(x).dispose();
      });
      return during;
    };
    expect(held(true)).to.be.lessThan(held(false));
    x.dispose();
  });

  it('runs the function unchanged outside a gradient scope', () => {
    expect(noGrad(() => 41 + 1)).to.equal(42);
    expect(isRecordingGradients()).to.equal(false);
  });
});
