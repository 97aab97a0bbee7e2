import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { installEagerGradientRelease, uninstallEagerGradientRelease } from './eager-release.js';
import { discrepancy } from './grad-check.js';
import { tensorsLeakedBy, tensorsLeakedByAsync } from '../testing/leaks.js';

/** A deep chain whose every op saves its input: tanh keeps its output, mul both operands. */
function chain(x: tf.Tensor, w: tf.Tensor, depth: number): tf.Scalar {
  let h = x;
  for (let i = 0; i < depth; i++) h = tf.tanh(tf.mul(h, w));
  return tf.sum(h);
}

/** Runs `fn` with tfjs's own backward pass, then puts the early release back. */
function withTfjsBackward<T>(fn: () => T): T {
  uninstallEagerGradientRelease();
  try {
    return fn();
  } finally {
    installEagerGradientRelease();
  }
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`autograd/eager-release on ${backend}`, () => {
    before(async () => {
      await initBackend({ backend, threads: backend === 'wasm' ? 2 : 1, verbose: false });
      installEagerGradientRelease();
    });

    it('gives the same gradients as tfjs, for independent and dependent xs, and leaves no tensors', () => {
      const leaked = tensorsLeakedBy(() => {
        tf.tidy(() => {
          const x = tf.randomNormal([3, 5], 0, 1, 'float32', 1);
          const w = tf.randomNormal([3, 5], 0, 1, 'float32', 2);
          const ours = tf.grads((a: tf.Tensor, b: tf.Tensor) => chain(a, b, 6))([x, w]);
          const theirs = withTfjsBackward(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => chain(a, b, 6))([x, w]));
          ours.forEach((g, i) => expect(discrepancy(g, theirs[i]!).maxAbs).to.equal(0));
          // b is computed from a inside f: its gradient is an intermediate one and must survive.
          const dependent = () =>
            tf.engine().gradients(() => chain(tf.mul(x, 2), w, 3), [x], undefined).grads[0]!;
          expect(discrepancy(dependent(), withTfjsBackward(dependent)).maxAbs).to.equal(0);
        });
      });
      expect(leaked).to.equal(0);
    });

    it("does not free the caller's dy", () => {
      tf.tidy(() => {
        const x = tf.randomNormal([4, 4], 0, 1, 'float32', 3);
        const dy = tf.randomNormal([4, 4], 0, 1, 'float32', 4);
        const g = tf.grad((a: tf.Tensor) => tf.tanh(tf.mul(a, a)))(x, dy);
        expect(dy.isDisposed).to.equal(false);
        expect(g.shape).to.deep.equal([4, 4]);
      });
    });

    it('keeps the backward pass from growing memory past the forward pass (tfjs held every saved tensor and gradient to the end)', async () => {
      const x = tf.randomNormal([64, 256], 0, 1, 'float32', 5);
      const w = tf.randomNormal([64, 256], 0, 1, 'float32', 6);
      // Bytes allocated during the backward pass beyond what the forward pass left allocated.
      const backwardGrowth = async (): Promise<number> => {
        let afterForward = 0;
        const loss = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => {
          const y = chain(a, b, 20);
          afterForward = tf.memory().numBytes;
          return y;
        };
        const info = await tf.profile(() => tf.grads(loss)([x, w]));
        tf.dispose(info.result as tf.Tensor[]);
        return info.peakBytes - afterForward;
      };
      const leaked = await tensorsLeakedByAsync(async () => {
        const ours = await backwardGrowth();
        uninstallEagerGradientRelease();
        const theirs = await backwardGrowth().finally(() => installEagerGradientRelease());
        const layerBytes = x.size * 4;
        // Ours: a few gradients in flight. tfjs: every layer's gradients, kept to the end.
        expect(ours, `eager ${ours} B, tfjs ${theirs} B`).to.be.at.most(6 * layerBytes);
        expect(theirs).to.be.at.least(20 * layerBytes);
      });
      expect(leaked).to.equal(0);
      tf.dispose([x, w]);
    });
  });
}
