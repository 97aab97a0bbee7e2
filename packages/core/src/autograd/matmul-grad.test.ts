import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { discrepancy, numericGradient } from './grad-check.js';
import { tensorsLeakedBy } from '../testing/leaks.js';
import { installTrainingKernels } from './index.js';
import { fastMatMulGradientInstalled } from './matmul-grad.js';

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`autograd/BatchMatMul gradient on ${backend}`, () => {
    before(async () => {
      await initBackend({ backend, threads: backend === 'wasm' ? 2 : 1, verbose: false });
      installTrainingKernels();
    });

    it('is installed by installTrainingKernels', () => {
      expect(fastMatMulGradientInstalled()).to.equal(true);
    });

    for (const [transposeA, transposeB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      for (const batch of [[], [2]]) {
        it(`matches finite differences for both operands (transposeA ${transposeA}, transposeB ${transposeB}, batch [${batch.join(',')}])`, () => {
          const leaked = tensorsLeakedBy(() => {
            tf.tidy(() => {
              const a = tf.randomNormal([...batch, ...(transposeA ? [4, 3] : [3, 4])], 0, 1, 'float32', 1);
              const b = tf.randomNormal([...batch, ...(transposeB ? [5, 4] : [4, 5])], 0, 1, 'float32', 2);
              const weights = tf.randomNormal([...batch, 3, 5], 0, 1, 'float32', 3);
              // Quadratic in each operand, so a wrong transpose cannot cancel out.
              const lossOfA = (x: tf.Tensor): tf.Scalar => tf.sum(tf.mul(tf.square(tf.matMul(x, b, transposeA, transposeB)), weights));
              const lossOfB = (x: tf.Tensor): tf.Scalar => tf.sum(tf.mul(tf.square(tf.matMul(a, x, transposeA, transposeB)), weights));
              expect(discrepancy(tf.grad(lossOfA)(a), numericGradient(lossOfA, a, 1e-2)).relative).to.be.below(2e-3);
              expect(discrepancy(tf.grad(lossOfB)(b), numericGradient(lossOfB, b, 1e-2)).relative).to.be.below(2e-3);
            });
          });
          expect(leaked, 'tensors leaked').to.equal(0);
        });
      }
    }

    it('sums over broadcast batch dimensions (tfjs 4.22 fails there)', () => {
      tf.tidy(() => {
        const a = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 4);
        const b = tf.randomNormal([4, 5], 0, 1, 'float32', 5);
        const lossOfB = (x: tf.Tensor): tf.Scalar => tf.sum(tf.square(tf.matMul(a, x)));
        const lossOfA = (x: tf.Tensor): tf.Scalar => tf.sum(tf.square(tf.matMul(x, b)));
        const dB = tf.grad(lossOfB)(b);
        expect(dB.shape).to.deep.equal([4, 5]);
        expect(discrepancy(dB, numericGradient(lossOfB, b, 1e-2)).relative).to.be.below(2e-3);
        expect(discrepancy(tf.grad(lossOfA)(a), numericGradient(lossOfA, a, 1e-2)).relative).to.be.below(2e-3);
      });
    });
  });
}
