/**
 * mmcv tests/test_cnn/test_generalized_attention.py (mmdet-reference §6.4), every non-zero
 * attention_type, state-dict keys (local_constraint_map included), init, and numeric checks
 * against a direct NCHW transcription of the attention (on cpu, and once on wasm).
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, loadStateDict, stateDictOf, withoutLeaks, type ComponentConfig, type RawTensor } from '@tsdet/core';
import { GeneralizedAttention, localConstraintMap, relativePositionEmbedding } from './generalized-attention.js';
import {
  buildFromConfig,
  conv1x1,
  expectClose,
  expectConfigError,
  fromNhwc,
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

function build(cfg: Omit<ComponentConfig, 'type'>): GeneralizedAttention {
  return buildFromConfig<GeneralizedAttention>({ type: 'GeneralizedAttention', ...cfg });
}

async function run(block: GeneralizedAttention, x: Nchw): Promise<Nchw> {
  return withoutLeaks(() => {
    const out = tf.tidy(() => block.forward(toNhwc(x)));
    const result = fromNhwc(out);
    out.dispose();
    return result;
  });
}

/** Every attention_type except '0000'. */
const ATTENTION_TYPES = Array.from({ length: 15 }, (_, i) => (i + 1).toString(2).padStart(4, '0'));

/** x[:, :, ::s, ::s], which is what AvgPool2d(kernel 1, stride s) computes. */
function subsample(x: Nchw, s: number): Nchw {
  const [n, c, h, w] = x.shape;
  const out = nchwZeros([n, c, Math.ceil(h / s), Math.ceil(w / s)]);
  const [, , oh, ow] = out.shape;
  for (let b = 0; b < n * c; b++) for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++) out.data[(b * oh + y) * ow + xx] = x.data[(b * h + y * s) * w + xx * s]!;
  return out;
}

/** F.interpolate(mode='bilinear', align_corners=False) to size (H, W). */
function bilinear(x: Nchw, outH: number, outW: number): Nchw {
  const [n, c, h, w] = x.shape;
  const out = nchwZeros([n, c, outH, outW]);
  const source = (dst: number, inSize: number, outSize: number): [number, number, number] => {
    const src = Math.max(((dst + 0.5) * inSize) / outSize - 0.5, 0);
    const i0 = Math.floor(src);
    return [i0, Math.min(i0 + 1, inSize - 1), src - i0];
  };
  for (let b = 0; b < n * c; b++) {
    for (let y = 0; y < outH; y++) {
      const [y0, y1, ly] = source(y, h, outH);
      for (let xx = 0; xx < outW; xx++) {
        const [x0, x1, lx] = source(xx, w, outW);
        const at = (yy: number, xxx: number) => x.data[(b * h + yy) * w + xxx]!;
        out.data[(b * outH + y) * outW + xx] = (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1));
      }
    }
  }
  return out;
}

interface GaSettings {
  heads: number;
  kvStride: number;
  qStride: number;
  posDim: number;
  magnitude: number;
  attentionType: string;
  spatialRange: number;
}

/**
 * The four-term energy of the paper as mmcv defines it, per query (y, x) and key (y', x'):
 *   [0] q.k  [1] q.(Px + Py)  [2] appr_bias.k  [3] geom_bias.(Px + Py)
 * with P from the sinusoidal embedding of the strided coordinate differences, in float64.
 */
function generalizedAttentionReference(x: Nchw, p: Map<string, TorchParam>, s: GaSettings): Nchw {
  const [n, channels, height, width] = x.shape;
  const bits = [...s.attentionType].map((b) => b === '1');
  const d = Math.floor(channels / s.heads);
  const xq = subsample(x, s.qStride);
  const xkv = subsample(x, s.kvStride);
  const [, , h, w] = xq.shape;
  const [, , hk, wk] = xkv.shape;
  const query = bits[0] || bits[1] ? conv1x1(xq, p.get('query_conv.weight')!) : undefined;
  const key = bits[0] || bits[2] ? conv1x1(xkv, p.get('key_conv.weight')!) : undefined;
  const value = conv1x1(xkv, p.get('value_conv.weight')!);
  const outC = d * s.heads;

  const embedding = (i: number, j: number): number[] => {
    const delta = (i * s.qStride - j * s.kvStride) * s.magnitude;
    const freqs = Array.from({ length: s.posDim / 4 }, (_, k) => 1000 ** ((4 / s.posDim) * k));
    return [...freqs.map((f) => Math.sin(delta / f)), ...freqs.map((f) => Math.cos(delta / f))];
  };
  /** fc(embedding(i, j)) / sqrt(2), the channels of one head (memoised: the loops below revisit them). */
  const positionFeatures = new Map<string, number[]>();
  const positionFeature = (fcKey: string, i: number, j: number, head: number): number[] => {
    const memoKey = `${fcKey}:${i}:${j}:${head}`;
    if (!positionFeatures.has(memoKey)) {
      const fc = p.get(fcKey)!;
      const e = embedding(i, j);
      positionFeatures.set(memoKey, Array.from({ length: d }, (_, dd) => e.reduce((sum, v, k) => sum + fc.data[(head * d + dd) * e.length + k]! * v, 0) / Math.SQRT2));
    }
    return positionFeatures.get(memoKey)!;
  };
  /** The d channels of `head` (channel head * d + dd) at position `pos` of image b. */
  const headChannels = (t: Nchw | undefined, b: number, head: number, pos: number): number[] => {
    if (!t) return [];
    const [, c, th, tw] = t.shape;
    return Array.from({ length: d }, (_, dd) => t.data[(b * c + head * d + dd) * th * tw + pos]!);
  };
  /** The d entries of a per-channel bias vector that belong to `head`. */
  const headBias = (key: string, head: number): number[] => Array.from(p.get(key)!.data.subarray(head * d, (head + 1) * d));
  const dot = (a: number[], b: number[]) => a.reduce((sum, v, i) => sum + v * b[i]!, 0);
  // mmcv's window (local_constraint_map), in key/value coordinates.
  const inWindow = (qi: number, ki: number) => Math.floor((qi - s.spatialRange) / s.kvStride) <= ki && ki <= Math.floor((qi + s.spatialRange + 1) / s.kvStride);
  const saliencyOnly = s.attentionType === '0010';

  const attended = nchwZeros([n, outC, h, w]);
  for (let b = 0; b < n; b++) {
    for (let head = 0; head < s.heads; head++) {
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < w; xx++) {
          const q = headChannels(query, b, head, y * w + xx);
          const energies = new Float64Array(hk * wk);
          for (let ky = 0; ky < hk; ky++) {
            for (let kx = 0; kx < wk; kx++) {
              const k = headChannels(key, b, head, ky * wk + kx);
              let e = 0;
              if (bits[0]) e += dot(q, k);
              if (bits[2]) e += dot(headBias('appr_bias', head), k);
              if (bits[1] || bits[3]) {
                const px = positionFeature('appr_geom_fc_x.weight', xx, kx, head);
                const py = positionFeature('appr_geom_fc_y.weight', y, ky, head);
                const pos = px.map((v, i) => v + py[i]!);
                if (bits[1]) e += dot(q, pos);
                if (bits[3]) e += dot(headBias('geom_bias', head), pos);
              }
              // mmcv's saliency-only path computes one query row, masked with query (0, 0)'s window.
              const [wy, wx] = saliencyOnly ? [0, 0] : [y, xx];
              if (s.spatialRange >= 0 && !(inWindow(wy, ky) && inWindow(wx, kx))) e = -Infinity;
              energies[ky * wk + kx] = e;
            }
          }
          softmaxRow(energies);
          for (let dv = 0; dv < d; dv++) {
            let sum = 0;
            for (let j = 0; j < hk * wk; j++) sum += energies[j]! * value.data[(b * outC + head * d + dv) * hk * wk + j]!;
            attended.data[((b * outC + head * d + dv) * h + y) * w + xx] = sum;
          }
        }
      }
    }
  }
  let out = conv1x1(attended, p.get('proj_conv.weight')!, p.get('proj_conv.bias')!);
  if (s.qStride > 1) out = bilinear(out, height, width);
  const gamma = p.get('gamma')!.data[0]!;
  return { shape: x.shape, data: x.data.map((v, i) => gamma * out.data[i]! + v) };
}

function settingsOf(block: GeneralizedAttention): GaSettings {
  return {
    heads: block.numHeads,
    kvStride: block.kvStride,
    qStride: block.qStride,
    posDim: block.positionEmbeddingDim,
    magnitude: block.positionMagnitude,
    attentionType: block.attentionType,
    spatialRange: block.spatialRange,
  };
}

/**
 * Randomises the weights (gamma included), runs the block and compares with the reference.
 * Returns the reference output, for further checks.
 */
async function expectMatchesReference(block: GeneralizedAttention, x: Nchw, seed: number, weightScale = 0.5): Promise<Nchw> {
  randomizeParameters(block, seed, weightScale);
  const expected = generalizedAttentionReference(x, torchParams(block), settingsOf(block));
  expectClose(await run(block, x), expected, 5e-5, 1e-4);
  expect(maxAbsDiff(expected, x), 'the block must change its input').to.be.greaterThan(1e-2);
  return expected;
}

describe('GeneralizedAttention (mmcv test_generalized_attention)', () => {
  before(() => initBackend({ backend: 'cpu', verbose: false }));

  describe('construction errors (schema and builder)', () => {
    for (const bad of ['0000', '111', '11111', '1a11', '']) {
      it(`rejects attention_type '${bad}'`, () => {
        expectConfigError({ type: 'GeneralizedAttention', in_channels: 16, attention_type: bad }, /attention_type/);
      });
    }

    it('rejects non-positive num_heads and strides', () => {
      expectConfigError({ type: 'GeneralizedAttention', in_channels: 16, num_heads: 0 }, /num_heads/);
      expectConfigError({ type: 'GeneralizedAttention', in_channels: 16, kv_stride: 0, q_stride: 0 }, /kv_stride[\s\S]*q_stride/);
    });

    it('explains the cases where mmcv crashes', () => {
      // mmcv: UnboundLocalError (max_len) for any other channel count.
      expect(() => build({ in_channels: 16, spatial_range: 3 })).to.throw(/in_channels 256 or 512/);
      expect(() => build({ in_channels: 8, num_heads: 9 })).to.throw(/num_heads/);
      // A position embedding dim that is not a multiple of 4 breaks mmcv's Linear shapes.
      expect(() => build({ in_channels: 18, attention_type: '0100' })).to.throw(/multiple of 4/);
      const appearanceOnly = build({ in_channels: 18, attention_type: '1000' });
      appearanceOnly.dispose();
    });
  });

  describe('mmcv test cases (input (2, 16, 20, 20), 9 heads)', () => {
    const x = randomNchw([2, 16, 20, 20], 1);

    it("'1000': query_conv and key_conv read 16 channels; shape kept", async () => {
      const block = build({ in_channels: 16, attention_type: '1000' });
      expect([block.queryConv!.inChannels, block.keyConv!.inChannels]).to.deep.equal([16, 16]);
      expect((await run(block, x)).shape).to.deep.equal([2, 16, 20, 20]);
      block.dispose();
    });

    it("'0100': query_conv reads 16 channels, appr_geom_fc_x/y take 8 features; shape kept", async () => {
      const block = build({ in_channels: 16, attention_type: '0100' });
      expect(block.queryConv!.inChannels).to.equal(16);
      expect([block.apprGeomFcX!.inFeatures, block.apprGeomFcY!.inFeatures]).to.deep.equal([8, 8]);
      expect((await run(block, x)).shape).to.deep.equal([2, 16, 20, 20]);
      block.dispose();
    });

    it("'0010': key_conv reads 16 channels, appr_bias exists; shape kept (broadcast saliency)", async () => {
      const block = build({ in_channels: 16, attention_type: '0010' });
      expect(block.keyConv!.inChannels).to.equal(16);
      expect(block.apprBias).to.not.equal(undefined);
      expect(block.saliencyOnly).to.equal(true);
      expect((await run(block, x)).shape).to.deep.equal([2, 16, 20, 20]);
      block.dispose();
    });

    it("'0001': appr_geom_fc_x/y take 8 features, geom_bias exists; shape kept", async () => {
      const block = build({ in_channels: 16, attention_type: '0001' });
      expect([block.apprGeomFcX!.inFeatures, block.apprGeomFcY!.inFeatures]).to.deep.equal([8, 8]);
      expect(block.geomBias).to.not.equal(undefined);
      expect((await run(block, x)).shape).to.deep.equal([2, 16, 20, 20]);
      block.dispose();
    });

    it('spatial_range 10 with 256 channels: local_constraint_map exists; shape kept', async () => {
      const block = build({ in_channels: 256, spatial_range: 10 });
      expect(block.localConstraintMap!.shape).to.deep.equal([84, 84, 42, 42]);
      expect((await run(block, randomNchw([2, 256, 20, 20], 2))).shape).to.deep.equal([2, 256, 20, 20]);
      block.dispose();
    });

    it('q_stride 2: queries are subsampled and the output upsampled back; shape kept', async () => {
      const block = build({ in_channels: 16, q_stride: 2 });
      expect(block.qStride).to.equal(2);
      expect((await run(block, x)).shape).to.deep.equal([2, 16, 20, 20]);
      block.dispose();
    });

    it('kv_stride 2 (the default): keys and values are subsampled; shape kept', async () => {
      const block = build({ in_channels: 16 });
      expect(block.kvStride).to.equal(2);
      expect((await run(block, x)).shape).to.deep.equal([2, 16, 20, 20]);
      block.dispose();
    });
  });

  describe('every non-zero attention_type keeps odd shapes (2, 16, 7, 9)', () => {
    const x = randomNchw([2, 16, 7, 9], 3);
    for (const attentionType of ATTENTION_TYPES) {
      it(`'${attentionType}' with kv_stride 2, and with q_stride 2 too`, async () => {
        for (const strides of [{}, { q_stride: 2 }]) {
          const block = build({ in_channels: 16, num_heads: 8, attention_type: attentionType, ...strides });
          randomizeParameters(block, 4);
          expect((await run(block, x)).shape).to.deep.equal([2, 16, 7, 9]);
          block.dispose();
        }
      });
    }
  });

  describe('state dict', () => {
    it("has mmcv's keys and PyTorch shapes for '1111' with a local constraint", () => {
      const block = build({ in_channels: 512, num_heads: 8, spatial_range: 2 });
      const shapes = Object.fromEntries([...stateDictOf(block)].map(([key, t]) => [key, t.shape]));
      expect(shapes).to.deep.equal({
        appr_bias: [512],
        geom_bias: [512],
        gamma: [1],
        'query_conv.weight': [512, 512, 1, 1],
        'key_conv.weight': [512, 512, 1, 1],
        'value_conv.weight': [512, 512, 1, 1],
        'appr_geom_fc_x.weight': [512, 256],
        'appr_geom_fc_y.weight': [512, 256],
        'proj_conv.weight': [512, 512, 1, 1],
        'proj_conv.bias': [512],
        local_constraint_map: [42, 42, 21, 21],
      });
      // Not trainable, as mmcv's requires_grad=False parameter.
      expect(block.namedParameters().map(([key]) => key)).not.to.include('local_constraint_map');
      block.dispose();
    });

    it('leaves out the terms attention_type does not use', () => {
      const keysOf = (attentionType: string) => {
        const block = build({ in_channels: 16, attention_type: attentionType });
        const keys = [...stateDictOf(block).keys()];
        block.dispose();
        return keys;
      };
      expect(keysOf('0010')).to.have.members(['appr_bias', 'gamma', 'key_conv.weight', 'value_conv.weight', 'proj_conv.weight', 'proj_conv.bias']);
      expect(keysOf('0001')).to.have.members(['geom_bias', 'gamma', 'value_conv.weight', 'appr_geom_fc_x.weight', 'appr_geom_fc_y.weight', 'proj_conv.weight', 'proj_conv.bias']);
    });

    it('loads a PyTorch state dict, including the uint8 local_constraint_map, strictly', async () => {
      const block = build({ in_channels: 512, num_heads: 8, spatial_range: 1, kv_stride: 4 });
      const torchState = new Map<string, RawTensor>();
      let mapBytes = new Uint8Array(0);
      for (const [key, t] of stateDictOf(block)) {
        if (key === 'local_constraint_map') {
          // mmcv saves it as uint8; flip one entry to see that the loaded values are the ones kept.
          mapBytes = Uint8Array.from(t.data as BigInt64Array, Number);
          mapBytes[1] = 1 - mapBytes[1]!;
          torchState.set(key, { dtype: 'uint8', shape: t.shape, data: mapBytes });
        } else {
          torchState.set(key, { dtype: 'float32', shape: t.shape, data: Float32Array.from(t.data as Float32Array, (_, i) => Math.sin(i + 1)) });
        }
      }
      const report = loadStateDict(block, torchState);
      expect(report.loaded).to.have.length(torchState.size);
      expect(Array.from(await block.localConstraintMap!.data())).to.deep.equal(Array.from(mapBytes));
      expect(torchParams(block).get('gamma')!.data[0]).to.be.closeTo(Math.sin(1), 1e-6);
      block.dispose();
    });
  });

  describe('init', () => {
    it('gamma 0 (a fresh block is an identity), Kaiming-uniform convs and linears, proj bias 0, biases in (-s, s]', async () => {
      const block = build({ in_channels: 64, num_heads: 8 });
      const p = torchParams(block);
      expect(p.get('gamma')!.data[0]).to.equal(0);
      expect(p.get('proj_conv.bias')!.data.every((v) => v === 0)).to.equal(true);
      const bound = (fanIn: number) => Math.sqrt(3 / fanIn);
      for (const [key, fanIn] of [
        ['query_conv.weight', 64],
        ['value_conv.weight', 64],
        ['appr_geom_fc_x.weight', 32],
      ] as const) {
        const values = p.get(key)!.data;
        expect(Math.max(...values.map(Math.abs)), key).to.be.at.most(bound(fanIn));
        // uniform: the largest value comes near the bound
        expect(Math.max(...values.map(Math.abs)), key).to.be.greaterThan(0.9 * bound(fanIn));
      }
      const s = 1 / Math.sqrt(2 * 8);
      for (const key of ['appr_bias', 'geom_bias']) {
        const values = p.get(key)!.data;
        expect(Math.min(...values)).to.be.greaterThan(-s - 1e-7);
        expect(Math.max(...values)).to.be.at.most(s + 1e-7);
      }
      const x = randomNchw([1, 64, 5, 3], 5);
      expectClose(await run(block, x), x, 0, 1e-6);
      block.dispose();
    });
  });

  describe('position embedding and local constraint map', () => {
    it('relativePositionEmbedding is sin/cos of (i*qs - j*kvs)*magnitude / 1000^(4k/dim)', () => {
      const embedding = relativePositionEmbedding(3, 2, 2, 3, 0.5, 8);
      const expectedAt = (i: number, j: number) => {
        const delta = (i * 2 - j * 3) * 0.5;
        const freqs = [1, 1000 ** 0.5];
        return [...freqs.map((f) => Math.sin(delta / f)), ...freqs.map((f) => Math.cos(delta / f))];
      };
      for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) expectedAt(i, j).forEach((v, k) => expect(embedding[(i * 2 + j) * 4 + k]).to.be.closeTo(v, 1e-6));
    });

    it("localConstraintMap marks keys outside mmcv's window with 1", () => {
      const { data, shape } = localConstraintMap(6, 2, 1);
      expect(shape).to.deep.equal([6, 6, 3, 3]);
      const at = (qy: number, qx: number, ky: number, kx: number) => data[((qy * 6 + qx) * 3 + ky) * 3 + kx];
      // query row 0: key rows floor(-1/2)=-1..floor(2/2)=1 -> 0 and 1 allowed, 2 masked.
      expect([at(0, 0, 0, 0), at(0, 0, 1, 1), at(0, 0, 2, 0), at(0, 0, 0, 2)]).to.deep.equal([0, 0, 1, 1]);
      // query row 4: key rows floor(3/2)=1..floor(6/2)=3 -> 1 and 2 allowed, 0 masked.
      expect([at(4, 4, 0, 1), at(4, 4, 1, 1), at(4, 4, 2, 2)]).to.deep.equal([1, 0, 0]);
    });
  });

  describe('matches an NCHW transcription of the attention on random weights (odd 5x7 maps, batch 2)', () => {
    const x = randomNchw([2, 8, 5, 7], 6);
    for (const attentionType of ATTENTION_TYPES) {
      it(`'${attentionType}' (2 heads, kv_stride 2)`, async () => {
        const block = build({ in_channels: 8, num_heads: 2, attention_type: attentionType });
        await expectMatchesReference(block, x, 7);
        block.dispose();
      });
    }

    for (const attentionType of ['1111', '0110', '0010']) {
      it(`'${attentionType}' with q_stride 2 (bilinear upsampling back) and kv_stride 1`, async () => {
        const block = build({ in_channels: 8, num_heads: 2, attention_type: attentionType, q_stride: 2, kv_stride: 1 });
        await expectMatchesReference(block, x, 8);
        block.dispose();
      });
    }

    it("default 9 heads on 16 channels (out_c 9 != 16), position_embedding_dim 8, magnitude 0.5, q_stride 3", async () => {
      const block = build({ in_channels: 16, position_embedding_dim: 8, position_magnitude: 0.5, q_stride: 3 });
      await expectMatchesReference(block, randomNchw([1, 16, 7, 8], 9), 10);
      block.dispose();
    });

    for (const attentionType of ['1111', '0010']) {
      it(`'${attentionType}' with spatial_range 1 (256 channels, 8 heads)`, async () => {
        const block = build({ in_channels: 256, num_heads: 8, spatial_range: 1, attention_type: attentionType });
        const x256 = randomNchw([1, 256, 7, 9], 11);
        // Small weights keep the 256-channel energies in a range where float32 softmax is accurate.
        const expected = await expectMatchesReference(block, x256, 12, 0.1);
        const unconstrained = generalizedAttentionReference(x256, torchParams(block), { ...settingsOf(block), spatialRange: -1 });
        expect(maxAbsDiff(expected, unconstrained), 'the window must matter in this test').to.be.greaterThan(1e-3);
        block.dispose();
      });
    }
  });

  describe('on the wasm backend (1 thread)', () => {
    before(() => initBackend({ backend: 'wasm', threads: 1, verbose: false }));
    after(() => initBackend({ backend: 'cpu', verbose: false }));

    it("'1111' with q_stride 2 matches the NCHW transcription", async () => {
      expect(tf.getBackend()).to.equal('wasm');
      const block = build({ in_channels: 8, num_heads: 2, q_stride: 2 });
      await expectMatchesReference(block, randomNchw([2, 8, 5, 7], 13), 14);
      block.dispose();
    });
  });
});
