/**
 * mmcv tests/test_cnn/test_context_block.py (mmdet-reference §6.4), plus state-dict keys, init
 * and a numeric check against a direct NCHW transcription of mmcv's forward.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, stateDictOf, withoutLeaks, type ComponentConfig } from '@tsdet/core';
import { ContextBlock, type ContextFusionType, type ContextPoolingType } from './context-block.js';
import {
  buildFromConfig,
  conv1x1,
  expectClose,
  expectConfigError,
  fromNhwc,
  idx,
  maxAbsDiff,
  nchwZeros,
  randomizeParameters,
  randomNchw,
  softmaxRow,
  toNhwc,
  torchParams,
  type Nchw,
  type TorchParam,
} from './nchw-reference.test.js';

function build(cfg: Omit<ComponentConfig, 'type'>): ContextBlock {
  return buildFromConfig<ContextBlock>({ type: 'ContextBlock', ...cfg });
}

/** Runs the block on an NCHW array, with a leak check, and returns NCHW. */
async function run(block: ContextBlock, x: Nchw): Promise<Nchw> {
  return withoutLeaks(() => {
    const out = tf.tidy(() => block.forward(toNhwc(x)));
    const result = fromNhwc(out);
    out.dispose();
    return result;
  });
}

/** mmcv ContextBlock.forward, transcribed on NCHW arrays. */
function contextBlockReference(x: Nchw, p: Map<string, TorchParam>, pooling: ContextPoolingType, fusions: ContextFusionType[]): Nchw {
  const [n, c, h, w] = x.shape;
  const plane = h * w;
  const out: Nchw = { shape: x.shape, data: Float64Array.from(x.data) };
  for (let b = 0; b < n; b++) {
    // context[c] = sum_p x[c, p] * softmax(conv_mask(x))[p], or the spatial mean.
    const weights = new Float64Array(plane).fill(1 / plane);
    if (pooling === 'att') {
      const mask = conv1x1({ shape: [1, c, h, w], data: x.data.subarray(b * c * plane, (b + 1) * c * plane) }, p.get('conv_mask.weight')!, p.get('conv_mask.bias')!);
      weights.set(mask.data);
      softmaxRow(weights);
    }
    const context = Array.from({ length: c }, (_, ch) => weights.reduce((sum, wt, q) => sum + wt * x.data[(b * c + ch) * plane + q]!, 0));
    const transform = (prefix: string): number[] => {
      const w0 = p.get(`${prefix}.0.weight`)!;
      const planes = w0.shape[0]!;
      const hidden = Array.from({ length: planes }, (_, j) => context.reduce((sum, v, ch) => sum + w0.data[j * c + ch]! * v, p.get(`${prefix}.0.bias`)!.data[j]!));
      // LayerNorm([planes, 1, 1]): biased variance, eps 1e-5, elementwise affine.
      const mean = hidden.reduce((a, v) => a + v, 0) / planes;
      const variance = hidden.reduce((a, v) => a + (v - mean) ** 2, 0) / planes;
      const normed = hidden.map((v, j) => ((v - mean) / Math.sqrt(variance + 1e-5)) * p.get(`${prefix}.1.weight`)!.data[j]! + p.get(`${prefix}.1.bias`)!.data[j]!);
      const relu = normed.map((v) => Math.max(v, 0));
      const w3 = p.get(`${prefix}.3.weight`)!;
      return Array.from({ length: c }, (_, ch) => relu.reduce((sum, v, j) => sum + w3.data[ch * planes + j]! * v, p.get(`${prefix}.3.bias`)!.data[ch]!));
    };
    const mul = fusions.includes('channel_mul') ? transform('channel_mul_conv').map((v) => 1 / (1 + Math.exp(-v))) : undefined;
    const add = fusions.includes('channel_add') ? transform('channel_add_conv') : undefined;
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < w; xx++) {
          const i = idx(out, b, ch, y, xx);
          if (mul) out.data[i] = out.data[i]! * mul[ch]!;
          if (add) out.data[i] = out.data[i]! + add[ch]!;
        }
      }
    }
  }
  return out;
}

describe('ContextBlock (mmcv test_context_block)', () => {
  before(() => initBackend({ backend: 'cpu', verbose: false }));

  describe('construction errors (schema and builder)', () => {
    it("rejects pooling_type 'unsupport_type'", () => {
      expectConfigError({ type: 'ContextBlock', in_channels: 16, ratio: 1 / 4, pooling_type: 'unsupport_type' }, /pooling_type/);
    });

    it('rejects fusion_types given as a string, not a list', () => {
      expectConfigError({ type: 'ContextBlock', in_channels: 16, ratio: 1 / 4, fusion_types: 'unsupport_type' }, /fusion_types/);
    });

    it("rejects fusion_types ['unsupport_type']", () => {
      expectConfigError({ type: 'ContextBlock', in_channels: 16, ratio: 1 / 4, fusion_types: ['unsupport_type'] }, /fusion_types\.0/);
    });

    it('needs at least one fusion type', () => {
      expectConfigError({ type: 'ContextBlock', in_channels: 16, ratio: 1 / 4, fusion_types: [] }, /fusion_types/);
    });

    it('needs a ratio, and one that leaves a bottleneck channel', () => {
      expectConfigError({ type: 'ContextBlock', in_channels: 16 }, /ratio/);
      expect(() => build({ in_channels: 16, ratio: 1 / 32 })).to.throw(/no bottleneck channel/);
    });
  });

  it("'att' pooling: conv_mask maps in_channels to 1; the shape is kept", async () => {
    const block = build({ in_channels: 16, ratio: 1 / 4, pooling_type: 'att' });
    expect(block.convMask!.inChannels).to.equal(16);
    expect(block.convMask!.outChannels).to.equal(1);
    expect((await run(block, randomNchw([2, 16, 20, 20], 1))).shape).to.deep.equal([2, 16, 20, 20]);
    block.dispose();
  });

  it("'avg' pooling has no conv_mask (mmcv's avg_pool has no parameters); the shape is kept", async () => {
    const block = build({ in_channels: 16, ratio: 1 / 4, pooling_type: 'avg' });
    expect(block.convMask).to.equal(undefined);
    expect(block.poolingType).to.equal('avg');
    expect((await run(block, randomNchw([2, 16, 20, 20], 2))).shape).to.deep.equal([2, 16, 20, 20]);
    block.dispose();
  });

  const fusionCases: [ContextFusionType[], boolean, boolean][] = [
    [['channel_add'], true, false],
    [['channel_mul'], false, true],
    [['channel_add', 'channel_mul'], true, true],
  ];
  for (const [fusionTypes, hasAdd, hasMul] of fusionCases) {
    it(`fusion_types [${fusionTypes.join(', ')}]: add branch ${hasAdd ? 'present' : 'absent'}, mul branch ${hasMul ? 'present' : 'absent'}; shape kept on odd sizes`, async () => {
      const block = build({ in_channels: 16, ratio: 1 / 4, fusion_types: fusionTypes });
      expect(block.channelAddConv !== undefined).to.equal(hasAdd);
      expect(block.channelMulConv !== undefined).to.equal(hasMul);
      expect((await run(block, randomNchw([2, 16, 7, 9], 3))).shape).to.deep.equal([2, 16, 7, 9]);
      block.dispose();
    });
  }

  it('defaults to att pooling and channel_add; planes is floor(in_channels * ratio)', () => {
    const block = build({ in_channels: 64, ratio: 1 / 16 });
    expect([block.poolingType, block.fusionTypes, block.planes]).to.deep.equal(['att', ['channel_add'], 4]);
    const small = new ContextBlock({ inChannels: 10, ratio: 0.25 });
    expect(small.planes).to.equal(2);
    small.dispose();
    block.dispose();
  });

  it("has mmcv's state-dict keys and PyTorch shapes", () => {
    const block = build({ in_channels: 16, ratio: 1 / 4, fusion_types: ['channel_add', 'channel_mul'] });
    const shapes = Object.fromEntries([...stateDictOf(block)].map(([key, t]) => [key, t.shape]));
    const branch = (name: string) => ({
      [`${name}.0.weight`]: [4, 16, 1, 1],
      [`${name}.0.bias`]: [4],
      [`${name}.1.weight`]: [4, 1, 1],
      [`${name}.1.bias`]: [4, 1, 1],
      [`${name}.3.weight`]: [16, 4, 1, 1],
      [`${name}.3.bias`]: [16],
    });
    expect(shapes).to.deep.equal({ 'conv_mask.weight': [1, 16, 1, 1], 'conv_mask.bias': [1], ...branch('channel_add_conv'), ...branch('channel_mul_conv') });
    block.dispose();
  });

  it("initialises as mmcv: zero last convs, so a fresh channel_add block is an identity", async () => {
    const block = build({ in_channels: 16, ratio: 1 / 4 });
    const p = torchParams(block);
    for (const key of ['channel_add_conv.3.weight', 'channel_add_conv.3.bias', 'conv_mask.bias']) expect(p.get(key)!.data.every((v) => v === 0), key).to.equal(true);
    expect(p.get('channel_add_conv.1.weight')!.data.every((v) => v === 1)).to.equal(true);
    expect(p.get('conv_mask.weight')!.data.some((v) => v !== 0)).to.equal(true);
    const x = randomNchw([1, 16, 5, 3], 4);
    expectClose(await run(block, x), x, 1e-6, 0);
    block.dispose();
  });

  describe('matches an NCHW transcription of mmcv on random weights (odd 5x7 maps, batch 2)', () => {
    const cases: [ContextPoolingType, ContextFusionType[]][] = [
      ['att', ['channel_add']],
      ['att', ['channel_mul']],
      ['att', ['channel_add', 'channel_mul']],
      ['avg', ['channel_add', 'channel_mul']],
    ];
    for (const [pooling, fusions] of cases) {
      it(`${pooling} pooling, ${fusions.join(' + ')}`, async () => {
        const block = build({ in_channels: 8, ratio: 1 / 2, pooling_type: pooling, fusion_types: fusions });
        randomizeParameters(block, 11);
        const x = randomNchw([2, 8, 5, 7], 12);
        const out = await run(block, x);
        const expected = contextBlockReference(x, torchParams(block), pooling, fusions);
        expectClose(out, expected, 1e-5, 1e-4);
        // The block must really change its input, or the comparison proves little.
        expect(maxAbsDiff(expected, x)).to.be.greaterThan(0.1);
        block.dispose();
      });
    }

    it('attention pooling weights positions as y * W + x (a single hot position selects its features)', async () => {
      // conv_mask puts a huge logit on the position whose channel 0 is largest: the context
      // becomes that position's feature vector, so a layout mix-up picks the wrong one.
      const block = build({ in_channels: 2, ratio: 1, pooling_type: 'att' });
      const x = nchwZeros([1, 2, 3, 5]);
      x.data[idx(x, 0, 0, 2, 1)] = 1; // position y=2, x=1
      x.data[idx(x, 0, 1, 2, 1)] = 7;
      x.data[idx(x, 0, 1, 0, 3)] = -3;
      tf.tidy(() => block.convMask!.weight.assign(tf.tensor4d([100, 0], [1, 1, 2, 1])));
      const context = await withoutLeaks(() => {
        const t = tf.tidy(() => block.spatialPool(toNhwc(x)));
        const values = Array.from(t.dataSync());
        t.dispose();
        return values;
      });
      expect(context[0]).to.be.closeTo(1, 1e-6);
      expect(context[1]).to.be.closeTo(7, 1e-5);
      block.dispose();
    });
  });
});
