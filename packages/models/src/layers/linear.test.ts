import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { discrepancy, initBackend, tensorsLeakedBy, type BackendName } from '@tsdet/core';
import { Linear } from './linear.js';

for (const backend of ['wasm', 'cpu'] as BackendName[]) {
  describe(`layers/linear forwardNchwFlattened (${backend})`, () => {
    before(async () => {
      await initBackend({ backend, threads: backend === 'wasm' ? 2 : 1, verbose: false });
    });

    // 256 x 7 x 7 = 12544 inputs: the RoI head's first fc, long enough to be split on wasm.
    for (const [h, w, c] of [[7, 7, 256], [3, 2, 5]] as const) {
      it(`equals forward() of the NCHW-flattened map, in eval mode and in training mode ([${h}, ${w}, ${c}])`, () => {
        const fc = new Linear({ inFeatures: h * w * c, outFeatures: 24 });
        const x = tf.randomNormal([5, h, w, c], 0, 1, 'float32', 1) as tf.Tensor4D;
        const expected = tf.tidy(() => fc.forward(tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [5, -1]) as tf.Tensor2D));
        const scale = tf.tidy(() => tf.max(tf.abs(expected)).dataSync()[0]!);
        const training = fc.forwardNchwFlattened(x);
        expect(discrepancy(training, expected).maxAbs).to.equal(0);
        fc.eval();
        fc.prepareNchwFlattened([h, w, c]);
        const leaked = tensorsLeakedBy(() => {
          const inference = fc.forwardNchwFlattened(x);
          // float32 sums of 12544 products in another order (two halves): relative noise ~1e-6.
          expect(discrepancy(inference, expected).maxAbs / scale).to.be.below(1e-5);
          inference.dispose();
        });
        expect(leaked, 'prepared in eval mode: nothing lasting allocated').to.equal(0);
        // A new weight value is picked up (the cache is keyed by the weight's data).
        fc.weight.assign(tf.tidy(() => tf.neg(fc.weight)));
        const negated = fc.forwardNchwFlattened(x);
        const expectedNegated = tf.tidy(() => fc.forward(tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [5, -1]) as tf.Tensor2D));
        expect(discrepancy(negated, expectedNegated).maxAbs / scale).to.be.below(1e-5);
        tf.dispose([x, expected, training, negated, expectedNegated]);
        fc.dispose();
      });
    }

    it('names the shapes when the map does not flatten to the layer width', () => {
      const fc = new Linear({ inFeatures: 12, outFeatures: 2 });
      const x = tf.zeros([1, 2, 2, 4]) as tf.Tensor4D;
      expect(() => fc.forwardNchwFlattened(x)).to.throw(/\[1, 2, 2, 4\] flattens to 16 features, the layer takes 12/);
      tf.dispose(x);
      fc.dispose();
    });
  });
}
