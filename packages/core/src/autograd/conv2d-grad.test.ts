import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { conv2dFilterGrad, conv2dInputGrad, fastConvGradientsInstalled, type ConvOptions } from './conv2d-grad.js';
import { discrepancy, numericGradient } from './grad-check.js';
import { tensorsLeakedBy } from '../testing/leaks.js';
import { installTrainingKernels } from './index.js';

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  options: ConvOptions;
}

const CASES: ConvCase[] = [
  { name: '3x3 s1 same, odd 7x9, batch 2', x: [2, 7, 9, 3], filter: [3, 3, 3, 4], options: { strides: 1, pad: 'same' } },
  { name: '3x3 s2 same, odd 7x9', x: [2, 7, 9, 3], filter: [3, 3, 3, 2], options: { strides: 2, pad: 'same' } },
  { name: '3x3 s2 valid, 8x9', x: [1, 8, 9, 3], filter: [3, 3, 3, 2], options: { strides: 2, pad: 'valid' } },
  { name: '3x3 s2 explicit 1 (ResNet), 8x7', x: [2, 8, 7, 2], filter: [3, 3, 2, 3], options: { strides: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] } },
  { name: '3x3 s1 explicit asymmetric', x: [1, 6, 5, 2], filter: [3, 3, 2, 2], options: { strides: 1, pad: [[0, 0], [2, 0], [0, 1], [0, 0]] } },
  { name: '3x3 s2 numeric pad 1', x: [1, 7, 6, 2], filter: [3, 3, 2, 2], options: { strides: 2, pad: 1 } },
  { name: '3x3 dilation 2 same, 9x7', x: [1, 9, 7, 2], filter: [3, 3, 2, 3], options: { dilations: 2, pad: 'same' } },
  { name: '3x3 dilation 2 valid, batch 2', x: [2, 8, 9, 2], filter: [3, 3, 2, 2], options: { dilations: 2, pad: 'valid' } },
  { name: '3x2 dilation [2,1] explicit', x: [1, 8, 6, 2], filter: [3, 2, 2, 2], options: { dilations: [2, 1], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] } },
  { name: '1x1 s1 valid', x: [2, 5, 7, 4], filter: [1, 1, 4, 3], options: { strides: 1, pad: 'valid' } },
  { name: '1x1 s2 valid, odd 7x9', x: [2, 7, 9, 4], filter: [1, 1, 4, 3], options: { strides: 2, pad: 'valid' } },
  { name: '1x1 s2 same, 6x5', x: [1, 6, 5, 3], filter: [1, 1, 3, 2], options: { strides: 2, pad: 'same' } },
  { name: '1x1 s1 explicit pad 1', x: [1, 4, 5, 2], filter: [1, 1, 2, 2], options: { strides: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] } },
  { name: '7x7 s2 explicit 3 (stem), 11x13', x: [1, 11, 13, 3], filter: [7, 7, 3, 2], options: { strides: 2, pad: [[0, 0], [3, 3], [3, 3], [0, 0]] } },
  { name: '7x7 s1 same', x: [1, 8, 9, 2], filter: [7, 7, 2, 2], options: { strides: 1, pad: 'same' } },
  { name: '2x2 s2 valid', x: [2, 6, 8, 2], filter: [2, 2, 2, 3], options: { strides: 2, pad: 'valid' } },
  { name: '1x3 strides [1,2] same', x: [1, 5, 9, 2], filter: [1, 3, 2, 3], options: { strides: [1, 2], pad: 'same' } },
  { name: '3x2 strides [2,1] valid', x: [2, 9, 6, 3], filter: [3, 2, 3, 2], options: { strides: [2, 1], pad: 'valid' } },
  { name: '5x3 s3 same', x: [1, 10, 11, 2], filter: [5, 3, 2, 2], options: { strides: 3, pad: 'same' } },
];

const conv = (x: tf.Tensor, filter: tf.Tensor, o: ConvOptions): tf.Tensor4D =>
  tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, o.strides ?? 1, o.pad ?? 'valid', 'NHWC', o.dilations ?? 1, o.dimRoundingMode);

/** Random x, filter and upstream gradient dy for a case (seeded, so identical on both backends). */
function tensorsFor(c: ConvCase): { x: tf.Tensor4D; filter: tf.Tensor4D; dy: tf.Tensor4D } {
  const x = tf.randomNormal(c.x, 0, 1, 'float32', 11) as tf.Tensor4D;
  const filter = tf.randomNormal(c.filter, 0, 1, 'float32', 12) as tf.Tensor4D;
  const outShape = tf.tidy(() => conv(x, filter, c.options).shape);
  const dy = tf.randomNormal(outShape, 0, 1, 'float32', 13) as tf.Tensor4D;
  return { x, filter, dy };
}

// Conv is linear in x and in the filter, so central differences with eps = 1 are exact up to
// float32 rounding of the summed loss.
const LINEAR_EPS = 1;
const FD_TOLERANCE = 2e-5;

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`autograd/conv2d-grad on ${backend}`, () => {
    before(async () => {
      await initBackend({ backend, threads: backend === 'wasm' ? 2 : 1, verbose: false });
      installTrainingKernels();
    });

    it('is the registered Conv2D gradient', () => {
      expect(fastConvGradientsInstalled()).to.equal(true);
    });

    for (const c of CASES) {
      it(`matches finite differences: ${c.name}`, () => {
        const leaked = tensorsLeakedBy(() => {
          const { x, filter, dy } = tensorsFor(c);
          const dW = conv2dFilterGrad(x, dy, filter.shape, c.options);
          const dX = conv2dInputGrad(dy, filter, x.shape, c.options);
          const viaFilter = { loss: (w: tf.Tensor): tf.Scalar => tf.sum(tf.mul(conv(x, w, c.options), dy)) };
          const viaInput = { loss: (t: tf.Tensor): tf.Scalar => tf.sum(tf.mul(conv(t, filter, c.options), dy)) };
          const dWError = discrepancy(dW, numericGradient(viaFilter.loss, filter, LINEAR_EPS));
          const dXError = discrepancy(dX, numericGradient(viaInput.loss, x, LINEAR_EPS));
          expect(dW.shape).to.deep.equal(filter.shape);
          expect(dX.shape).to.deep.equal(x.shape);
          expect(dWError.relative, `dW ${JSON.stringify(dWError)}`).to.be.below(FD_TOLERANCE);
          expect(dXError.relative, `dX ${JSON.stringify(dXError)}`).to.be.below(FD_TOLERANCE);
          tf.dispose([x, filter, dy, dW, dX]);
        });
        expect(leaked, 'tensors leaked').to.equal(0);
      });
    }

    it('is what tf.grads uses for conv2d (all cases)', () => {
      const leaked = tensorsLeakedBy(() => {
        for (const c of CASES) {
          tf.tidy(() => {
            const { x, filter, dy } = tensorsFor(c);
            const [dX, dW] = tf.grads((a: tf.Tensor, b: tf.Tensor) => conv(a, b, c.options))([x, filter], dy);
            expect(discrepancy(dX!, conv2dInputGrad(dy, filter, x.shape, c.options)).maxAbs, c.name).to.equal(0);
            expect(discrepancy(dW!, conv2dFilterGrad(x, dy, filter.shape, c.options)).maxAbs, c.name).to.equal(0);
          });
        }
      });
      expect(leaked, 'tensors leaked').to.equal(0);
    });

    it('computes the same filter gradient tapwise and as one correlation (k > 1, incl. a wide 3x3 that auto sends tapwise)', () => {
      const wide: ConvCase = { name: '3x3 s1 same, 72x64 channels', x: [2, 5, 6, 72], filter: [3, 3, 72, 64], options: { strides: 1, pad: 'same' } };
      const leaked = tensorsLeakedBy(() => {
        for (const c of [...CASES, wide].filter((k) => k.filter[0] * k.filter[1] > 1)) {
          tf.tidy(() => {
            const { x, filter, dy } = tensorsFor(c);
            const tapwise = conv2dFilterGrad(x, dy, filter.shape, c.options, 'tapwise');
            expect(discrepancy(conv2dFilterGrad(x, dy, filter.shape, c.options, 'correlation'), tapwise).relative, c.name).to.be.below(1e-5);
            expect(discrepancy(conv2dFilterGrad(x, dy, filter.shape, c.options), tapwise).relative, c.name).to.be.below(1e-5);
          });
        }
      });
      expect(leaked, 'tensors leaked').to.equal(0);
    });

    it('refuses the correlation method for a strided and dilated conv', () => {
      tf.tidy(() => {
        const x = tf.zeros([1, 9, 9, 2]) as tf.Tensor4D;
        const dy = tf.zeros([1, 3, 3, 2]) as tf.Tensor4D;
        expect(() => conv2dFilterGrad(x, dy, [3, 3, 2, 2], { strides: 2, dilations: 2, pad: 'valid' }, 'correlation')).to.throw(/stride and a dilation/);
      });
    });

    it('rejects a dy whose shape is not the forward output', () => {
      tf.tidy(() => {
        const x = tf.zeros([1, 5, 5, 2]) as tf.Tensor4D;
        const dy = tf.zeros([1, 4, 4, 3]) as tf.Tensor4D;
        expect(() => conv2dFilterGrad(x, dy, [3, 3, 2, 3], { pad: 'same' })).to.throw(/dy has shape/);
      });
    });

    if (backend === 'cpu') {
      it('equals tfjs\'s own Conv2DBackpropFilter / Conv2DBackpropInput kernels (dilation 1) within 1e-4', () => {
        const leaked = tensorsLeakedBy(() => {
          for (const c of CASES.filter((k) => (k.options.dilations ?? 1) === 1)) {
            tf.tidy(() => {
              const { x, filter, dy } = tensorsFor(c);
              const attrs = { strides: c.options.strides ?? 1, pad: c.options.pad ?? 'valid', dataFormat: 'NHWC', dimRoundingMode: c.options.dimRoundingMode };
              const kernelAttrs = (extra: object): tf.NamedAttrMap => ({ ...attrs, ...extra }) as unknown as tf.NamedAttrMap;
              const builtinDW = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, kernelAttrs({ filterShape: filter.shape })) as tf.Tensor;
              const builtinDX = tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, kernelAttrs({ inputShape: x.shape })) as tf.Tensor;
              expect(discrepancy(conv2dFilterGrad(x, dy, filter.shape, c.options), builtinDW).relative, `dW ${c.name}`).to.be.below(1e-4);
              expect(discrepancy(conv2dInputGrad(dy, filter, x.shape, c.options), builtinDX).relative, `dX ${c.name}`).to.be.below(1e-4);
            });
          }
        });
        expect(leaked, 'tensors leaked').to.equal(0);
      });
    }

    it('trains through a small conv net: the loss gradient matches finite differences on a weight', () => {
      const leaked = tensorsLeakedBy(() => {
        const x = tf.randomNormal([2, 9, 7, 3], 0, 1, 'float32', 21);
        const w1 = tf.randomNormal([3, 3, 3, 4], 0, 0.5, 'float32', 22);
        const w2 = tf.randomNormal([1, 1, 4, 2], 0, 0.5, 'float32', 23);
        const net = (a: tf.Tensor, b: tf.Tensor): tf.Scalar =>
          tf.sum(tf.square(conv(tf.tanh(conv(x, a, { strides: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] })), b, {})));
        const [g1] = tf.grads((a: tf.Tensor) => net(a, w2))([w1]);
        const numeric = numericGradient((a) => net(a, w2), w1, 1e-2);
        expect(discrepancy(g1!, numeric).relative).to.be.below(2e-3);
        tf.dispose([x, w1, w2, g1!]);
      });
      expect(leaked, 'tensors leaked').to.equal(0);
    });
  });
}
