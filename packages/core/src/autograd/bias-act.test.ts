import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { biasAct } from './bias-act.js';
import { discrepancy } from './grad-check.js';
import { buffersHeldForBackward, tensorsLeakedBy } from '../testing/leaks.js';

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`autograd/bias-act on ${backend}`, () => {
    before(async () => {
      await initBackend({ backend, threads: backend === 'wasm' ? 2 : 1, verbose: false });
    });

    for (const [shape, relu] of [[[2, 5, 3, 4], true], [[2, 5, 3, 4], false], [[7, 4], true]] as const) {
      it(`[${shape}]${relu ? ' + ReLU' : ''}: same values and gradients as tf.add (and tf.relu)`, () => {
        const leaked = tensorsLeakedBy(() => {
          tf.tidy(() => {
            const x = tf.randomNormal([...shape], 0, 1, 'float32', 1);
            const bias = tf.randomNormal([4], 0, 1, 'float32', 2);
            const w = tf.randomNormal([...shape], 0, 1, 'float32', 3);
            const reference = (a: tf.Tensor, b: tf.Tensor) => (relu ? tf.relu(tf.add(a, b)) : tf.add(a, b));
            const ours = (a: tf.Tensor, b: tf.Tensor) => biasAct(a, b, relu);
            const lossOf = (f: typeof ours) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), w));
            expect(discrepancy(ours(x, bias), reference(x, bias)).maxAbs).to.equal(0);
            const [gx, gb] = tf.grads(lossOf(ours))([x, bias]);
            const [rx, rb] = tf.grads(lossOf(reference))([x, bias]);
            expect(discrepancy(gx!, rx!).maxAbs).to.equal(0);
            expect(discrepancy(gb!, rb!).maxAbs).to.be.below(1e-5);
          });
        });
        expect(leaked, 'tensors leaked').to.equal(0);
      });
    }

    it('keeps nothing of its input for the backward pass', () => {
      const x = tf.randomNormal([2, 6, 6, 8], 0, 1, 'float32', 4);
      const bias = tf.randomNormal([8], 0, 1, 'float32', 5);
      const keptBy = (op: (a: tf.Tensor) => tf.Tensor) => buffersHeldForBackward((a) => op(tf.neg(a!)), [x]);
      expect(keptBy((a) => biasAct(a, bias, true))).to.equal(1);
      expect(keptBy((a) => tf.relu(tf.add(a, bias)))).to.equal(3);
      tf.dispose([x, bias]);
    });

    it('refuses a bias of the wrong length', () => {
      tf.tidy(() => {
        expect(() => biasAct(tf.ones([1, 2, 2, 3]), tf.ones([4]), false)).to.throw(/4 values for 3 channels/);
      });
    });
  });
}
