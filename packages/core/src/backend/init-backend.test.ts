import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { activeBackend, BackendError, formatBackendInfo, initBackend, resolveBackendOptions, shutdownBackend } from './init-backend.js';

describe('backend selection', () => {
  it('reads the choice from options first, then TSDET_BACKEND / TSDET_THREADS, then defaults to auto', () => {
    expect(resolveBackendOptions({ backend: 'cpu', threads: 3 }, { TSDET_BACKEND: 'wasm' })).to.deep.include({ backend: 'cpu', threads: 3 });
    expect(resolveBackendOptions({}, { TSDET_BACKEND: 'wasm', TSDET_THREADS: '2' })).to.deep.include({ backend: 'wasm', threads: 2 });
    expect(resolveBackendOptions({}, {}).backend).to.equal('auto');
  });

  it('rejects unknown backends and bad thread counts with the source named', () => {
    expect(() => resolveBackendOptions({}, { TSDET_BACKEND: 'gpu' })).to.throw(BackendError, "backend: expected one of auto, tensorflow, wasm, cpu, got 'gpu' (from TSDET_BACKEND)");
    expect(() => resolveBackendOptions({ threads: 0 }, {})).to.throw(BackendError, /threads: expected an integer >= 1, got '0'/);
  });

  it('auto falls back from the native packages to wasm with SIMD and reports why in one line', async () => {
    shutdownBackend(); // a fresh selection, whatever earlier tests chose
    const info = await initBackend({ backend: 'auto', threads: 2, verbose: false });
    expect(info.name).to.equal('wasm');
    expect(info.simd).to.equal(true);
    expect(info.threads).to.equal(2);
    expect(info.skipped).to.have.length(1);
    expect(info.skipped[0]).to.match(/^tensorflow: neither @tensorflow\/tfjs-node-gpu nor @tensorflow\/tfjs-node is installed/);
    expect(formatBackendInfo(info).split('\n')).to.have.length(1);
    expect(activeBackend()).to.equal(info);
  });

  it('switches between wasm thread counts and to cpu, with gradients registered', async () => {
    const single = await initBackend({ backend: 'wasm', threads: 1, verbose: false });
    expect(single.threads).to.equal(1);
    const cpu = await initBackend({ backend: 'cpu', verbose: false });
    expect([cpu.name, tf.getBackend()]).to.deep.equal(['cpu', 'cpu']);
    const grad = tf.tidy(() => Array.from(tf.grad((x: tf.Tensor) => tf.sum(tf.square(x)))(tf.tensor1d([1, 2, 3])).dataSync()));
    expect(grad).to.deep.equal([2, 4, 6]);
  });

  it('wasm and cpu agree on a convolution', async () => {
    const x = tf.randomNormal([1, 9, 7, 4], 0, 1, 'float32', 1);
    const w = tf.randomNormal([3, 3, 4, 5], 0, 1, 'float32', 2);
    const xs = x.dataSync().slice();
    const ws = w.dataSync().slice();
    tf.dispose([x, w]);
    const run = (): Float32Array => {
      const y = tf.tidy(() => tf.conv2d(tf.tensor4d(xs, [1, 9, 7, 4]), tf.tensor4d(ws, [3, 3, 4, 5]), 2, 'same'));
      const values = Float32Array.from(y.dataSync());
      y.dispose();
      return values;
    };
    await initBackend({ backend: 'cpu', verbose: false });
    const onCpu = run();
    await initBackend({ backend: 'wasm', threads: 2, verbose: false });
    const onWasm = run();
    const maxDiff = onCpu.reduce((m, v, i) => Math.max(m, Math.abs(v - onWasm[i]!)), 0);
    expect(maxDiff).to.be.below(1e-4);
  });

  it('clones on wasm share the buffer (the gradient tape saves tensors as clones) and outlive their source', async () => {
    await initBackend({ backend: 'wasm', threads: 2, verbose: false });
    const x = tf.tensor1d([1, 2, 3]);
    const buffersBefore = tf.memory().numDataBuffers;
    const copy = x.clone();
    expect(tf.memory().numDataBuffers).to.equal(buffersBefore);
    x.dispose();
    expect(Array.from(copy.dataSync())).to.deep.equal([1, 2, 3]);
    copy.dispose();
    expect(tf.memory().numDataBuffers).to.equal(buffersBefore - 1);
  });
});
