import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { sliceColumns } from './slice-columns.js';

describe('kernels/slice-columns on wasm', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', threads: 2, verbose: false });
  });

  it('equals tf.slice for column runs that are whole vectors and for those that are not', () => {
    const x = tf.randomNormal([7, 24], 0, 1, 'float32', 1) as tf.Tensor2D;
    for (const [begin, size] of [[0, 12], [12, 12], [4, 8], [0, 24], [3, 5], [8, 0]]) {
      const ours = sliceColumns(x, begin!, size!);
      const theirs = tf.slice(x, [0, begin!], [7, size!]);
      expect(ours.shape).to.deep.equal([7, size]);
      expect(Array.from(ours.dataSync())).to.deep.equal(Array.from(theirs.dataSync()));
      tf.dispose([ours, theirs]);
    }
    x.dispose();
  });

  it('refuses columns outside the tensor', () => {
    const x = tf.zeros([2, 8]) as tf.Tensor2D;
    expect(() => sliceColumns(x, 4, 8)).to.throw(/columns 4\.\.12 of a \[2, 8\] tensor/);
    x.dispose();
  });
});
