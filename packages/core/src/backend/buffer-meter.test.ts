import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { startBufferMeter } from './buffer-meter.js';
import { initBackend } from './init-backend.js';

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`backend/buffer-meter on ${backend}`, () => {
    before(async () => {
      await initBackend({ backend, threads: backend === 'wasm' ? 2 : 1, verbose: false });
    });

    it('counts each buffer once (clones and reshapes share theirs) and follows frees', () => {
      const meter = startBufferMeter();
      try {
        tf.tidy(() => {
          const a = tf.zeros([256]); // 1 KB
          const views = [a.clone(), tf.reshape(a, [16, 16]), a.clone()];
          expect(meter.currentBytes).to.equal(1024);
          const b = tf.add(a, 1); // a second buffer
          expect(meter.currentBytes).to.equal(2048);
          tf.dispose([a, ...views]);
          expect(meter.currentBytes).to.equal(1024);
          b.dispose();
        });
        expect(meter.currentBytes).to.be.at.most(0);
        expect(meter.peakBytes).to.be.at.least(2048).and.below(2048 + 64);
      } finally {
        meter.stop();
      }
    });
  });
}
