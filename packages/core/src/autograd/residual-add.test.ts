import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { discrepancy } from './grad-check.js';
import { addRelu, addSameShape } from './residual-add.js';
import { buffersHeldForBackward, tensorsLeakedBy } from '../testing/leaks.js';

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`autograd/residual-add on ${backend}`, () => {
    before(async () => {
      await initBackend({ backend, threads: backend === 'wasm' ? 2 : 1, verbose: false });
    });

    const cases = {
      addSameShape: { ours: addSameShape, reference: (a: tf.Tensor, b: tf.Tensor) => tf.add(a, b) },
      addRelu: { ours: addRelu, reference: (a: tf.Tensor, b: tf.Tensor) => tf.relu(tf.add(a, b)) },
    };
    for (const [name, { ours, reference }] of Object.entries(cases)) {
      it(`${name}: same values and gradients as tfjs's own ops`, () => {
        const leaked = tensorsLeakedBy(() => {
          tf.tidy(() => {
            const a = tf.randomNormal([2, 5, 3, 4], 0, 1, 'float32', 1);
            const b = tf.randomNormal([2, 5, 3, 4], 0, 1, 'float32', 2);
            const w = tf.randomNormal([2, 5, 3, 4], 0, 1, 'float32', 3);
            const lossOf = (f: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x, y), w));
            expect(discrepancy(ours(a, b), reference(a, b)).maxAbs).to.equal(0);
            const [ga, gb] = tf.grads(lossOf(ours))([a, b]);
            const [ra, rb] = tf.grads(lossOf(reference))([a, b]);
            expect(discrepancy(ga!, ra!).maxAbs).to.equal(0);
            expect(discrepancy(gb!, rb!).maxAbs).to.equal(0);
          });
        });
        expect(leaked, 'tensors leaked').to.equal(0);
      });
    }

    it('keeps only the output for the backward pass (tfjs: both inputs, plus the sum for a ReLU)', () => {
      const a = tf.randomNormal([2, 6, 6, 8], 0, 1, 'float32', 4);
      const b = tf.randomNormal([2, 6, 6, 8], 0, 1, 'float32', 5);
      const held = (op: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => buffersHeldForBackward((x, y) => op(tf.neg(x!), tf.neg(y!)), [a, b]);
      expect(held(addSameShape)).to.equal(1);
      expect(held(addRelu)).to.equal(1);
      // The ops replaced, for contrast: tf.add keeps both inputs, tfjs's ReLU its input too.
      expect(held((x, y) => tf.add(x, y))).to.equal(3);
      expect(held((x, y) => tf.relu(tf.add(x, y)))).to.equal(4);
      tf.dispose([a, b]);
    });

    it('refuses tensors of different shapes, naming both', () => {
      tf.tidy(() => {
        expect(() => addRelu(tf.ones([1, 4, 4, 2]), tf.ones([1, 4, 4, 3]))).to.throw(/same shape.*\[1,4,4,2\] and \[1,4,4,3\]/);
      });
    });
  });
}
