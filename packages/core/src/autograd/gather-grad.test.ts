import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { gatherRows } from './gather-grad.js';
import { discrepancy, numericGradient } from './grad-check.js';
import { tensorsLeakedBy } from '../testing/leaks.js';
import { installTrainingKernels } from './index.js';

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`autograd/gatherRows on ${backend}`, () => {
    before(async () => {
      await initBackend({ backend, threads: backend === 'wasm' ? 2 : 1, verbose: false });
      installTrainingKernels();
    });

    it('gathers like tf.gather along axis 0', () => {
      tf.tidy(() => {
        const table = tf.randomNormal([5, 2, 3], 0, 1, 'float32', 1);
        const indices = tf.tensor2d([[4, 0], [2, 2]], [2, 2], 'int32');
        const rows = gatherRows(table, indices);
        expect(rows.shape).to.deep.equal([2, 2, 2, 3]);
        expect(discrepancy(rows, tf.gather(table, indices, 0)).maxAbs).to.equal(0);
      });
    });

    it('sums the gradient of duplicate indices into one row, untouched rows get zero', () => {
      const leaked = tensorsLeakedBy(() => {
        tf.tidy(() => {
          const table = tf.randomNormal([5, 3], 0, 1, 'float32', 2);
          const indices = tf.tensor1d([1, 3, 1, 1, 0], 'int32');
          const dy = tf.tensor2d([[1, 2, 3], [10, 20, 30], [100, 200, 300], [1000, 2000, 3000], [-1, -2, -3]]);
          const [dTable] = tf.grads((t: tf.Tensor) => gatherRows(t, indices))([table], dy);
          const expected = [[-1, -2, -3], [1101, 2202, 3303], [0, 0, 0], [10, 20, 30], [0, 0, 0]];
          expect(dTable!.arraySync()).to.deep.equal(expected);
        });
      });
      expect(leaked, 'tensors leaked').to.equal(0);
    });

    it('matches finite differences, with multi-dimensional rows and indices', () => {
      const leaked = tensorsLeakedBy(() => {
        tf.tidy(() => {
          const table = tf.randomNormal([6, 2, 2], 0, 1, 'float32', 3);
          const indices = tf.tensor2d([[5, 1, 1], [0, 5, 3]], [2, 3], 'int32');
          const weights = tf.randomNormal([2, 3, 2, 2], 0, 1, 'float32', 4);
          const loss = (t: tf.Tensor): tf.Scalar => tf.sum(tf.mul(tf.square(gatherRows(t, indices)), weights));
          const analytic = tf.grad(loss)(table);
          expect(discrepancy(analytic, numericGradient(loss, table, 1e-2)).relative).to.be.below(1e-3);
        });
      });
      expect(leaked, 'tensors leaked').to.equal(0);
    });

    it('trains a tf.Variable table through tf.variableGrads', () => {
      const table = tf.variable(tf.ones([4, 2]), true, `gather-table-${backend}`);
      const leaked = tensorsLeakedBy(() => {
        const indices = tf.tensor1d([2, 2, 0], 'int32');
        const { value, grads } = tf.variableGrads(() => tf.sum(gatherRows(table, indices)), [table]);
        expect(grads[table.name]!.arraySync()).to.deep.equal([[1, 1], [0, 0], [2, 2], [0, 0]]);
        tf.dispose([indices, value, grads]);
      });
      table.dispose();
      expect(leaked, 'tensors leaked').to.equal(0);
    });

    if (backend === 'cpu') {
      it('equals tfjs\'s own gather gradient on cpu', () => {
        tf.tidy(() => {
          const table = tf.randomNormal([7, 3], 0, 1, 'float32', 5);
          const indices = tf.tensor1d([6, 0, 6, 2, 2, 2], 'int32');
          const dy = tf.randomNormal([6, 3], 0, 1, 'float32', 6);
          const [ours] = tf.grads((t: tf.Tensor) => gatherRows(t, indices))([table], dy);
          const [builtin] = tf.grads((t: tf.Tensor) => tf.gather(t, indices, 0))([table], dy);
          expect(discrepancy(ours!, builtin!).maxAbs).to.be.below(1e-6);
        });
      });
    }

    it('rejects float indices', () => {
      tf.tidy(() => {
        expect(() => gatherRows(tf.ones([3, 2]), tf.tensor1d([0, 1]))).to.throw(/int32/);
      });
    });
  });
}
