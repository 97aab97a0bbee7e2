import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { batchNormFrozen, batchNormTrain, updateRunningStats } from './batch-norm.js';
import { discrepancy, numericGradient } from './grad-check.js';
import { buffersHeldForBackward, tensorsLeakedBy } from '../testing/leaks.js';
import { installTrainingKernels } from './index.js';

/** PyTorch's training-mode formulas, in plain loops over a channels-last array. */
function referenceBatchNorm(x: Float32Array, channels: number, gamma: number[], beta: number[], eps: number) {
  const n = x.length / channels;
  const mean = Array.from({ length: channels }, (_, c) => sumOver(x, channels, c, (v) => v) / n);
  const biasedVar = mean.map((m, c) => sumOver(x, channels, c, (v) => (v - m) ** 2) / n);
  const y = Array.from(x, (v, i) => {
    const c = i % channels;
    return ((v - mean[c]!) / Math.sqrt(biasedVar[c]! + eps)) * gamma[c]! + beta[c]!;
  });
  return { y, mean, unbiasedVar: biasedVar.map((v) => (v * n) / (n - 1)) };
}

function sumOver(x: Float32Array, channels: number, c: number, f: (v: number) => number): number {
  let sum = 0;
  for (let i = c; i < x.length; i += channels) sum += f(x[i]!);
  return sum;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`autograd/batch-norm on ${backend}`, () => {
    before(async () => {
      await initBackend({ backend, threads: backend === 'wasm' ? 2 : 1, verbose: false });
      installTrainingKernels();
    });

    it('normalises with the biased batch variance and returns the unbiased one (NHWC)', () => {
      const leaked = tensorsLeakedBy(() => {
        tf.tidy(() => {
          const x = tf.randomNormal([2, 3, 5, 4], 1.5, 2, 'float32', 1);
          const gamma = tf.tensor1d([1, 0.5, -2, 3]);
          const beta = tf.tensor1d([0, 1, -1, 0.25]);
          const { y, batchMean, batchVarUnbiased } = batchNormTrain(x, gamma, beta, { eps: 1e-5 });
          const ref = referenceBatchNorm(x.dataSync() as Float32Array, 4, [1, 0.5, -2, 3], [0, 1, -1, 0.25], 1e-5);
          expect(y.shape).to.deep.equal([2, 3, 5, 4]);
          expect(discrepancy(y, ref.y).maxAbs).to.be.below(1e-5);
          expect(discrepancy(batchMean, ref.mean).maxAbs).to.be.below(1e-5);
          expect(discrepancy(batchVarUnbiased, ref.unbiasedVar).relative).to.be.below(1e-5);
        });
      });
      expect(leaked, 'tensors leaked').to.equal(0);
    });

    it('agrees with tf.batchNorm given the biased batch statistics', () => {
      tf.tidy(() => {
        const x = tf.randomNormal([3, 4, 2, 3], 0, 1, 'float32', 2);
        const gamma = tf.randomNormal([3], 1, 0.1, 'float32', 3);
        const beta = tf.randomNormal([3], 0, 0.1, 'float32', 4);
        const { y } = batchNormTrain(x, gamma, beta, { eps: 1e-3 });
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        expect(discrepancy(y, tf.batchNorm(x, mean, variance, beta, gamma, 1e-3)).maxAbs).to.be.below(1e-5);
      });
    });

    it('works on [N, C] (BatchNorm1d)', () => {
      tf.tidy(() => {
        const x = tf.tensor2d([[1, 10], [3, 30]]);
        const { y, batchMean, batchVarUnbiased } = batchNormTrain(x, tf.ones([2]), tf.zeros([2]), { eps: 0 });
        expect(discrepancy(y, [-1, -1, 1, 1]).maxAbs).to.be.below(1e-6);
        expect(Array.from(batchMean.dataSync())).to.deep.equal([2, 20]);
        expect(discrepancy(batchVarUnbiased, [2, 200]).relative).to.be.below(1e-6);
      });
    });

    it('refuses a single value per channel, like PyTorch', () => {
      tf.tidy(() => {
        expect(() => batchNormTrain(tf.ones([1, 1, 1, 3]), tf.ones([3]), tf.zeros([3]))).to.throw(/more than 1 value per channel/);
      });
    });

    // Both statistics modes, with and without the fused ReLU: each gradient against finite differences.
    const variants = {
      'batch statistics': (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => batchNormTrain(x, gamma, beta).y,
      'batch statistics + ReLU': (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => batchNormTrain(x, gamma, beta, { relu: true }).y,
      'frozen statistics': (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => batchNormFrozen(x, gamma, beta, tf.tensor1d([0.4, -0.2, 0.1]), tf.tensor1d([2, 0.5, 1.5])),
      'frozen statistics + ReLU': (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) =>
        batchNormFrozen(x, gamma, beta, tf.tensor1d([0.4, -0.2, 0.1]), tf.tensor1d([2, 0.5, 1.5]), { relu: true }),
    };
    for (const [variant, norm] of Object.entries(variants)) {
      for (const wrt of ['x', 'gamma', 'beta'] as const) {
        it(`${variant}: gradient with respect to ${wrt} matches finite differences`, () => {
          const leaked = tensorsLeakedBy(() => {
            tf.tidy(() => {
              const inputs = {
                x: tf.randomNormal([2, 3, 2, 3], 0.5, 1.5, 'float32', 5),
                gamma: tf.tensor1d([1.5, -0.7, 0.9]),
                beta: tf.tensor1d([0.1, 0.2, -0.3]),
              };
              const weights = tf.randomNormal([2, 3, 2, 3], 0, 1, 'float32', 6);
              // A nonlinear read-out, so the gradient through the batch statistics matters.
              const loss = (t: tf.Tensor): tf.Scalar => {
                const { x, gamma, beta }: Record<'x' | 'gamma' | 'beta', tf.Tensor> = { ...inputs, [wrt]: t };
                return tf.sum(tf.mul(tf.tanh(norm(x, gamma, beta)), weights));
              };
              const analytic = tf.grad(loss)(inputs[wrt]);
              expect(discrepancy(analytic, numericGradient(loss, inputs[wrt], 1e-2)).relative).to.be.below(3e-3);
            });
          });
          expect(leaked, 'tensors leaked').to.equal(0);
        });
      }
    }

    it('frozen statistics: the affine map of PyTorch eval-mode BN, ReLU fused', () => {
      tf.tidy(() => {
        const x = tf.randomNormal([2, 3, 4, 3], 0, 2, 'float32', 7);
        const [gamma, beta, mean, variance] = [tf.tensor1d([1.5, -0.7, 0.9]), tf.tensor1d([0.1, 0.2, -0.3]), tf.tensor1d([0.4, -0.2, 0.1]), tf.tensor1d([2, 0.5, 1.5])];
        const expected = tf.relu(tf.batchNorm(x, mean, variance, beta, gamma, 1e-3));
        expect(discrepancy(batchNormFrozen(x, gamma, beta, mean, variance, { eps: 1e-3, relu: true }), expected).maxAbs).to.be.below(1e-5);
      });
    });

    it('keeps only its input for the backward pass (the ReLU output is the next layer\'s input)', () => {
      const x = tf.randomNormal([2, 8, 8, 16], 0, 1, 'float32', 8);
      const [gamma, beta] = [tf.ones([16]), tf.zeros([16])];
      const leaked = tensorsLeakedBy(() => {
        // The output, and [C]-sized statistics kept for the backward pass: the batch mean and 1/std.
        expect(buffersHeldForBackward((t) => batchNormTrain(t!, gamma, beta, { relu: true }).y, [x])).to.equal(3);
      });
      expect(leaked, 'tensors leaked').to.equal(0);
      tf.dispose([x, gamma, beta]);
    });

    it('updateRunningStats blends with momentum as PyTorch does', () => {
      const runningMean = tf.variable(tf.tensor1d([1, 2]), false);
      const runningVar = tf.variable(tf.tensor1d([4, 8]), false);
      const leaked = tensorsLeakedBy(() => {
        tf.tidy(() => updateRunningStats(runningMean, runningVar, tf.tensor1d([11, 12]), tf.tensor1d([14, 18]), 0.25));
      });
      expect(discrepancy(runningMean, [0.75 * 1 + 0.25 * 11, 0.75 * 2 + 0.25 * 12]).maxAbs).to.be.below(1e-6);
      expect(discrepancy(runningVar, [0.75 * 4 + 0.25 * 14, 0.75 * 8 + 0.25 * 18]).maxAbs).to.be.below(1e-6);
      expect(leaked, 'tensors leaked').to.equal(0);
      tf.dispose([runningMean, runningVar]);
    });
  });
}
