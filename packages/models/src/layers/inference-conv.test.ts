import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { discrepancy, initBackend, MODELS, tensorsLeakedBy, withWinogradMode } from '@tsdet/core';
import { ResNet } from '../backbones/resnet/resnet.js';
import { registerModels } from '../register.js';
import { ConvModule } from './conv-module.js';
import { Conv2d } from './conv2d.js';

const WINOGRAD = 'TsdetWinogradConv2D';

async function kernelsOf(fn: () => tf.Tensor | tf.Tensor[]): Promise<string[]> {
  const profile = await tf.profile(fn);
  tf.dispose(profile.result);
  return profile.kernelNames;
}

/** Largest |a - b| relative to max |b|, over paired outputs. */
function relativeError(a: tf.Tensor | tf.Tensor[], b: tf.Tensor | tf.Tensor[]): number {
  const as = Array.isArray(a) ? a : [a];
  const bs = Array.isArray(b) ? b : [b];
  return Math.max(...as.map((t, i) => discrepancy(t, bs[i]!).maxAbs / tf.tidy(() => tf.max(tf.abs(bs[i]!)).dataSync()[0]!)));
}

describe('layers/inference-conv: Winograd in eval mode on wasm', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', threads: 2, verbose: false });
    registerModels();
  });

  it('a bare Conv2d in eval mode runs as Winograd and agrees with the direct conv', async () => {
    const conv = new Conv2d({ inChannels: 32, outChannels: 64, kernelSize: 3, padding: 1, bias: true, init: 'torch' }).eval();
    conv.prepareInference();
    const x = tf.randomNormal([2, 11, 14, 32], 0, 1, 'float32', 1) as tf.Tensor4D;
    expect(await kernelsOf(() => conv.forward(x, 'relu'))).to.include(WINOGRAD);
    const leaked = tensorsLeakedBy(() => {
      const ours = conv.forward(x, 'relu');
      const direct = withWinogradMode('never', () => conv.forward(x, 'relu'));
      expect(relativeError(ours, direct)).to.be.below(1e-5);
      tf.dispose([ours, direct]);
    });
    expect(leaked, 'a forward after prepareInference allocates nothing lasting').to.equal(0);
    conv.dispose();
    x.dispose();
  });

  it('training mode, stride 2, dilation and 16 channels stay on the direct conv', async () => {
    const x = tf.randomNormal([1, 12, 12, 32], 0, 1, 'float32', 2) as tf.Tensor4D;
    const convs = [
      new Conv2d({ inChannels: 32, outChannels: 32, kernelSize: 3, padding: 1 }),
      new Conv2d({ inChannels: 32, outChannels: 32, kernelSize: 3, padding: 1, stride: 2 }).eval(),
      new Conv2d({ inChannels: 32, outChannels: 32, kernelSize: 3, padding: 2, dilation: 2 }).eval(),
      new Conv2d({ inChannels: 32, outChannels: 16, kernelSize: 3, padding: 1 }).eval(),
    ];
    for (const conv of convs) expect(await kernelsOf(() => conv.forward(x))).to.not.include(WINOGRAD);
    convs.forEach((conv) => conv.dispose());
    x.dispose();
  });

  it('eval() prepares the folded weights and their transform, so a ResNet-50 forward allocates nothing lasting', async () => {
    const start = tf.memory().numTensors;
    const backbone = MODELS.build({ type: 'ResNet', depth: 50, base_channels: 32, out_indices: [0, 1, 2, 3] }) as ResNet;
    const tensorsBefore = tf.memory().numTensors;
    backbone.eval();
    expect(tf.memory().numTensors, 'eval() cached the folded and transformed weights').to.be.above(tensorsBefore);
    const x = tf.randomNormal([1, 64, 96, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const leaked = tensorsLeakedBy(() => tf.dispose(backbone.forward(x)));
    expect(leaked).to.equal(0);
    const kernels = await kernelsOf(() => backbone.forward(x));
    expect(kernels.filter((k) => k === WINOGRAD).length, 'stride-1 3x3 convs with >= 32 channels').to.be.above(0);
    const ours = backbone.forward(x);
    const direct = withWinogradMode('never', () => backbone.forward(x));
    expect(relativeError(ours, direct)).to.be.below(1e-5);
    tf.dispose([ours, direct, x]);
    backbone.dispose();
    expect(tf.memory().numTensors, 'dispose() frees the weights and the caches').to.equal(start);
  });

  it('a new weight value is transformed again on the next forward', () => {
    const conv = new ConvModule({ inChannels: 32, outChannels: 32, kernelSize: 3, padding: 1, normCfg: null, actCfg: null }).eval();
    const x = tf.randomNormal([1, 8, 8, 32], 0, 1, 'float32', 4) as tf.Tensor4D;
    const before = conv.forward(x);
    conv.conv.weight.assign(tf.tidy(() => tf.mul(conv.conv.weight, 2)));
    const after = conv.forward(x);
    const bias = conv.conv.bias!;
    const expected = tf.tidy(() => tf.sub(tf.mul(before, 2), bias));
    expect(relativeError(after, expected)).to.be.below(1e-5);
    tf.dispose([before, after, expected, x]);
    conv.dispose();
  });
});
