/**
 * mmcv tests/test_cnn/test_non_local.py (test_nonlocal, test_nonlocal2d; mmdet-reference §6.4),
 * plus state-dict keys, init, and every mode with and without sub_sample checked against a
 * direct NCHW transcription of mmcv's forward.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, stateDictOf, withoutLeaks, type ComponentConfig } from '@tsdet/core';
import { ConvModule } from '../layers/conv-module.js';
import { MaxPool2d, NON_LOCAL_MODES, NonLocal2d, PooledConv, type NonLocalMode } from './non-local.js';
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

function build(cfg: Omit<ComponentConfig, 'type'>): NonLocal2d {
  return buildFromConfig<NonLocal2d>({ type: 'NonLocal2d', ...cfg });
}

async function run(block: NonLocal2d, x: Nchw): Promise<Nchw> {
  return withoutLeaks(() => {
    const out = tf.tidy(() => block.forward(toNhwc(x)));
    const result = fromNhwc(out);
    out.dispose();
    return result;
  });
}

/** nn.MaxPool2d(2) on NCHW: floor(n / 2) outputs per axis. */
function maxPool2(x: Nchw): Nchw {
  const [n, c, h, w] = x.shape;
  const out = nchwZeros([n, c, Math.floor(h / 2), Math.floor(w / 2)]);
  const [, , oh, ow] = out.shape;
  for (let b = 0; b < n * c; b++) {
    for (let y = 0; y < oh; y++) {
      for (let xx = 0; xx < ow; xx++) {
        const at = (dy: number, dx: number) => x.data[(b * h + 2 * y + dy) * w + 2 * xx + dx]!;
        out.data[(b * oh + y) * ow + xx] = Math.max(at(0, 0), at(0, 1), at(1, 0), at(1, 1));
      }
    }
  }
  return out;
}

/** channel values of image b at flattened position q (NCHW: q = y * W + x). */
function column(t: Nchw, b: number, q: number): number[] {
  const [, c, h, w] = t.shape;
  return Array.from({ length: c }, (_, ch) => t.data[(b * c + ch) * h * w + q]!);
}

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);

/** mmcv _NonLocalNd.forward (2-D), transcribed on NCHW arrays. */
function nonLocalReference(x: Nchw, p: Map<string, TorchParam>, mode: NonLocalMode, subSample: boolean, useScale: boolean): Nchw {
  const [n, , h, w] = x.shape;
  const branchKey = (name: string) => (subSample ? `${name}.0.conv` : `${name}.conv`);
  const conv = (input: Nchw, key: string) => conv1x1(input, p.get(`${key}.weight`)!, p.get(`${key}.bias`));
  const maybePool = (t: Nchw) => (subSample ? maxPool2(t) : t);

  const g = maybePool(conv(x, branchKey('g')));
  const theta = mode === 'gaussian' ? x : conv(x, 'theta.conv');
  const phi = mode === 'gaussian' ? maybePool(x) : maybePool(conv(x, branchKey('phi')));
  const inter = g.shape[1];
  const positions = h * w;
  const kvPositions = g.shape[2] * g.shape[3];
  const project = p.get('concat_project.conv.weight');

  const y = nchwZeros([n, inter, h, w]);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < positions; i++) {
      const row = new Float64Array(kvPositions);
      for (let j = 0; j < kvPositions; j++) {
        if (mode === 'concatenation') {
          // concat_project: ReLU(w . [theta_i; phi_j]), no bias.
          const wTheta = Array.from(project!.data.subarray(0, inter));
          const wPhi = Array.from(project!.data.subarray(inter));
          row[j] = Math.max(dot(wTheta, column(theta, b, i)) + dot(wPhi, column(phi, b, j)), 0);
        } else {
          row[j] = dot(column(theta, b, i), column(phi, b, j));
        }
      }
      if (mode === 'gaussian') softmaxRow(row);
      if (mode === 'embedded_gaussian') {
        if (useScale) row.forEach((v, j) => (row[j] = v / Math.sqrt(inter)));
        softmaxRow(row);
      }
      if (mode === 'dot_product' || mode === 'concatenation') row.forEach((v, j) => (row[j] = v / kvPositions));
      for (let ch = 0; ch < inter; ch++) {
        let sum = 0;
        for (let j = 0; j < kvPositions; j++) sum += row[j]! * g.data[(b * inter + ch) * kvPositions + j]!;
        y.data[(b * inter + ch) * positions + i] = sum;
      }
    }
  }
  const out = conv(y, 'conv_out.conv');
  return { shape: x.shape, data: x.data.map((v, i) => v + out.data[i]!) };
}

/** Sample standard deviation around 0. */
function rms(values: Float64Array): number {
  return Math.sqrt(values.reduce((s, v) => s + v * v, 0) / values.length);
}

describe('NonLocal2d (mmcv test_non_local)', () => {
  before(() => initBackend({ backend: 'cpu', verbose: false }));

  describe('test_nonlocal: construction', () => {
    it("rejects mode 'unsupport_mode' (mmcv: ValueError)", () => {
      expectConfigError({ type: 'NonLocal2d', in_channels: 3, mode: 'unsupport_mode' }, /mode/);
    });

    it('rejects unknown keys and a non-plain conv_cfg', () => {
      expectConfigError({ type: 'NonLocal2d', in_channels: 3, reductoin: 2 }, /reductoin/);
      expectConfigError({ type: 'NonLocal2d', in_channels: 3, conv_cfg: { type: 'DCN' } }, /conv_cfg/);
    });

    const variants: [string, Omit<ComponentConfig, 'type'>][] = [
      ['defaults', {}],
      ['norm_cfg BN', { norm_cfg: { type: 'BN' } }],
      ['zeros_init false', { zeros_init: false }],
      ['norm_cfg BN and zeros_init false', { norm_cfg: { type: 'BN' }, zeros_init: false }],
    ];
    for (const [name, cfg] of variants) {
      it(`constructs with ${name}`, () => {
        const block = build({ in_channels: 3, ...cfg });
        expect(block.interChannels).to.equal(1);
        block.dispose();
      });
    }
  });

  describe('test_nonlocal2d: shapes and structure', () => {
    for (const mode of NON_LOCAL_MODES) {
      it(`${mode} keeps the shape of (2, 3, 20, 20)`, async () => {
        const block = build({ in_channels: 3, mode });
        expect((await run(block, randomNchw([2, 3, 20, 20], 1))).shape).to.deep.equal([2, 3, 20, 20]);
        block.dispose();
      });
    }

    it('gaussian mode has no theta and no phi', () => {
      const block = build({ in_channels: 3, mode: 'gaussian' });
      expect(block.theta).to.equal(undefined);
      expect(block.phi).to.equal(undefined);
      block.dispose();
    });

    it('gaussian + sub_sample: g is (ConvModule, MaxPool2d 2x2), phi a bare MaxPool2d; shape kept', async () => {
      const block = build({ in_channels: 3, mode: 'gaussian', sub_sample: true });
      expect(block.g).to.be.instanceOf(PooledConv);
      const [conv, pool] = (block.g as PooledConv).layers;
      expect(conv).to.be.instanceOf(ConvModule);
      expect(pool).to.be.instanceOf(MaxPool2d);
      expect(pool.kernelSize).to.deep.equal([2, 2]);
      expect(block.phi).to.be.instanceOf(MaxPool2d);
      expect((await run(block, randomNchw([2, 3, 20, 20], 2))).shape).to.deep.equal([2, 3, 20, 20]);
      block.dispose();
    });

    it('dot_product + sub_sample: g and phi are (ConvModule, MaxPool2d 2x2); shape kept', async () => {
      const block = build({ in_channels: 3, mode: 'dot_product', sub_sample: true });
      for (const branch of [block.g, block.phi]) {
        expect(branch).to.be.instanceOf(PooledConv);
        expect((branch as PooledConv).layers[1].kernelSize).to.deep.equal([2, 2]);
      }
      expect((await run(block, randomNchw([2, 3, 20, 20], 3))).shape).to.deep.equal([2, 3, 20, 20]);
      block.dispose();
    });

    for (const mode of NON_LOCAL_MODES) {
      for (const subSample of [false, true]) {
        it(`${mode}${subSample ? ' + sub_sample' : ''} keeps odd shapes (2, 3, 7, 9)`, async () => {
          const block = build({ in_channels: 3, mode, sub_sample: subSample });
          expect((await run(block, randomNchw([2, 3, 7, 9], 4))).shape).to.deep.equal([2, 3, 7, 9]);
          block.dispose();
        });
      }
    }

    it('runs with a BN conv_out in eval mode', async () => {
      const block = build({ in_channels: 4, norm_cfg: { type: 'BN' } }).eval();
      expect((await run(block, randomNchw([1, 4, 3, 5], 5))).shape).to.deep.equal([1, 4, 3, 5]);
      block.dispose();
    });
  });

  describe("state-dict keys (mmcv's names, PyTorch shapes)", () => {
    const shapesOf = (block: NonLocal2d) => Object.fromEntries([...stateDictOf(block)].map(([key, t]) => [key, t.shape]));
    const conv = (name: string, cin: number, cout: number, bias = true) => ({
      [`${name}.weight`]: [cout, cin, 1, 1],
      ...(bias ? { [`${name}.bias`]: [cout] } : {}),
    });

    it('embedded_gaussian: g, conv_out, theta, phi ConvModules', () => {
      const block = build({ in_channels: 16 });
      expect(shapesOf(block)).to.deep.equal({ ...conv('g.conv', 16, 8), ...conv('conv_out.conv', 8, 16), ...conv('theta.conv', 16, 8), ...conv('phi.conv', 16, 8) });
      block.dispose();
    });

    it('sub_sample nests g and phi as nn.Sequential index 0', () => {
      const block = build({ in_channels: 16, sub_sample: true });
      expect(Object.keys(shapesOf(block))).to.have.members(['g.0.conv.weight', 'g.0.conv.bias', 'conv_out.conv.weight', 'conv_out.conv.bias', 'theta.conv.weight', 'theta.conv.bias', 'phi.0.conv.weight', 'phi.0.conv.bias']);
      block.dispose();
    });

    it('concatenation adds a bias-free concat_project; gaussian has only g and conv_out', () => {
      const concat = build({ in_channels: 16, mode: 'concatenation' });
      expect(shapesOf(concat)).to.include.keys('concat_project.conv.weight');
      expect(shapesOf(concat)['concat_project.conv.weight']).to.deep.equal([1, 16, 1, 1]);
      expect(shapesOf(concat)).not.to.have.key('concat_project.conv.bias');
      const gaussian = build({ in_channels: 16, mode: 'gaussian', sub_sample: true });
      expect(Object.keys(shapesOf(gaussian))).to.have.members(['g.0.conv.weight', 'g.0.conv.bias', 'conv_out.conv.weight', 'conv_out.conv.bias']);
      concat.dispose();
      gaussian.dispose();
    });

    it('norm_cfg puts a bias-free conv and a bn into conv_out', () => {
      const block = build({ in_channels: 16, norm_cfg: { type: 'BN' } });
      expect(Object.keys(shapesOf(block)).filter((k) => k.startsWith('conv_out'))).to.have.members([
        'conv_out.conv.weight',
        'conv_out.bn.weight',
        'conv_out.bn.bias',
        'conv_out.bn.running_mean',
        'conv_out.bn.running_var',
        'conv_out.bn.num_batches_tracked',
      ]);
      block.dispose();
    });
  });

  describe('init (mmcv init_weights)', () => {
    it('g/theta/phi ~ N(0, 0.01) with zero bias; zeros_init makes a fresh block an identity', async () => {
      const block = build({ in_channels: 64 });
      const p = torchParams(block);
      for (const name of ['g', 'theta', 'phi']) {
        expect(rms(p.get(`${name}.conv.weight`)!.data), name).to.be.within(0.008, 0.012);
        expect(p.get(`${name}.conv.bias`)!.data.every((v) => v === 0)).to.equal(true);
      }
      expect(p.get('conv_out.conv.weight')!.data.every((v) => v === 0)).to.equal(true);
      const x = randomNchw([1, 64, 3, 5], 6);
      expectClose(await run(block, x), x, 1e-6, 0);
      block.dispose();
    });

    it('zeros_init false: conv_out ~ N(0, std); with a norm the norm is initialised instead', () => {
      const paramsOf = (cfg: Omit<ComponentConfig, 'type'>) => {
        const block = build({ in_channels: 64, ...cfg });
        const params = torchParams(block);
        block.dispose();
        return params;
      };
      const plain = paramsOf({ zeros_init: false, std: 0.02 });
      expect(rms(plain.get('conv_out.conv.weight')!.data)).to.be.within(0.016, 0.024);
      const zeroNorm = paramsOf({ norm_cfg: { type: 'BN' } });
      expect([...zeroNorm.get('conv_out.bn.weight')!.data, ...zeroNorm.get('conv_out.bn.bias')!.data].every((v) => v === 0)).to.equal(true);
      const normalNorm = paramsOf({ norm_cfg: { type: 'BN' }, zeros_init: false });
      expect(rms(normalNorm.get('conv_out.bn.weight')!.data)).to.be.within(0.005, 0.015);
      expect(normalNorm.get('conv_out.bn.bias')!.data.every((v) => v === 0)).to.equal(true);
    });
  });

  describe('matches an NCHW transcription of mmcv on random weights (odd 5x7 maps, batch 2)', () => {
    for (const mode of NON_LOCAL_MODES) {
      for (const subSample of [false, true]) {
        it(`${mode}${subSample ? ' + sub_sample' : ''}`, async () => {
          const block = build({ in_channels: 6, mode, sub_sample: subSample });
          randomizeParameters(block, 21);
          const x = randomNchw([2, 6, 5, 7], 22);
          const expected = nonLocalReference(x, torchParams(block), mode, subSample, true);
          expectClose(await run(block, x), expected, 2e-5, 1e-4);
          expect(maxAbsDiff(expected, x)).to.be.greaterThan(0.05);
          block.dispose();
        });
      }
    }

    it('embedded_gaussian without use_scale', async () => {
      const block = build({ in_channels: 6, use_scale: false, reduction: 3 });
      expect(block.interChannels).to.equal(2);
      randomizeParameters(block, 23);
      const x = randomNchw([1, 6, 3, 5], 24);
      expectClose(await run(block, x), nonLocalReference(x, torchParams(block), 'embedded_gaussian', false, false), 2e-5, 1e-4);
      block.dispose();
    });
  });
});
