import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { tensorsLeakedBy } from '../testing/index.js';
import { parseLosses } from './losses.js';

describe('parseLosses (mmengine parse_losses)', () => {
  before(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('means tensors, sums lists of means, and totals only the keys containing "loss"', () => {
    const leaked = tensorsLeakedBy(() => tf.tidy(() => {
      const parsed = parseLosses({
        loss_cls: tf.tensor1d([1, 3]) as unknown as tf.Scalar,
        loss_rpn: [tf.scalar(0.5), tf.tensor1d([1, 2]) as unknown as tf.Scalar],
        acc: tf.scalar(75),
      });
      expect(parsed.logVars.loss_cls!.dataSync()[0]).to.equal(2);
      expect(parsed.logVars.loss_rpn!.dataSync()[0]).to.equal(2);
      expect(parsed.logVars.acc!.dataSync()[0]).to.equal(75);
      expect(parsed.total.dataSync()[0]).to.equal(4);
      expect(parsed.logVars.loss).to.equal(parsed.total);
    }));
    expect(leaked).to.equal(0);
  });

  it('refuses a dict with nothing to optimise', () => {
    const acc = tf.scalar(1);
    expect(() => parseLosses({ acc })).to.throw(/no term has "loss"/);
    acc.dispose();
  });
});
