/**
 * mmdet tests/test_models/test_layers/test_plugins.py::test_dropblock (mmdet-reference §6.3),
 * plus eval identity, warmup, seeding, and the statistics and block structure of the masks.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, withoutLeaks, type ComponentConfig } from '@tsdet/core';
import { seededRandom } from '@tsdet/core';
import { DropBlock } from './drop-block.js';
import { buildFromConfig, expectConfigError } from './nchw-reference.test.js';

function build(cfg: Omit<ComponentConfig, 'type'>): DropBlock {
  return buildFromConfig<DropBlock>({ type: 'DropBlock', ...cfg });
}

/** Runs one forward on a copy of `values` (NHWC) with a leak check; returns the output values. */
async function run(block: DropBlock, shape: [number, number, number, number], fill: (i: number) => number = () => 1): Promise<Float32Array> {
  return withoutLeaks(() => {
    const size = shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor4d(Float32Array.from({ length: size }, (_, i) => fill(i)), shape);
    const y = block.forward(x);
    const values = y.dataSync() as Float32Array;
    tf.dispose([x, y]);
    return values;
  });
}

/** Whether every zero of channel c lies in some all-zero bs x bs square inside the map. */
function zerosFormInnerBlocks(values: Float32Array, [n, h, w, c]: number[], bs: number): boolean {
  const at = (b: number, y: number, x: number, ch: number) => values[((b * h! + y) * w! + x) * c! + ch]!;
  const squareIsZero = (b: number, y0: number, x0: number, ch: number) => {
    for (let y = y0; y < y0 + bs; y++) for (let x = x0; x < x0 + bs; x++) if (at(b, y, x, ch) !== 0) return false;
    return true;
  };
  for (let b = 0; b < n!; b++) {
    for (let ch = 0; ch < c!; ch++) {
      for (let y = 0; y < h!; y++) {
        for (let x = 0; x < w!; x++) {
          if (at(b, y, x, ch) !== 0) continue;
          let covered = false;
          for (let y0 = Math.max(0, y - bs + 1); y0 <= Math.min(y, h! - bs) && !covered; y0++) {
            for (let x0 = Math.max(0, x - bs + 1); x0 <= Math.min(x, w! - bs) && !covered; x0++) covered = squareIsZero(b, y0, x0, ch);
          }
          if (!covered) return false;
        }
      }
    }
  }
  return true;
}

/**
 * The exact expected fraction of kept units: unit (y, x) survives when none of the block seeds
 * covering it fires, and (h - bs + 1) x (w - bs + 1) seed positions each cover a bs x bs square.
 */
function expectedKeptFraction(h: number, w: number, bs: number, gamma: number): number {
  const seedsCovering = (i: number, size: number) => Math.min(i, size - bs) - Math.max(0, i - bs + 1) + 1;
  let sum = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) sum += (1 - gamma) ** (seedsCovering(y, h) * seedsCovering(x, w));
  return sum / (h * w);
}

describe('DropBlock (mmdet test_dropblock)', () => {
  before(() => initBackend({ backend: 'cpu', verbose: false }));

  it('drop_prob 1 with block_size 11 on an 11x11 map drops everything (training mode by default)', async () => {
    const block = build({ drop_prob: 1.0, block_size: 11, warmup_iters: 0 });
    expect(block.training).to.equal(true);
    const out = await run(block, [1, 11, 11, 1], () => Math.random());
    expect(out).to.have.length(121);
    expect(out.every((v) => v === 0)).to.equal(true);
  });

  it('drop_prob 0.5 with block_size 5 keeps the shape', async () => {
    const block = build({ drop_prob: 0.5, block_size: 5, warmup_iters: 0 });
    await withoutLeaks(() => {
      const x = tf.randomUniform([1, 11, 11, 1]) as tf.Tensor4D;
      const y = block.forward(x);
      expect(y.shape).to.deep.equal([1, 11, 11, 1]);
      tf.dispose([x, y]);
    });
  });

  describe('construction errors', () => {
    it('rejects drop_prob 1.5, an even block_size and a negative warmup_iters (schema)', () => {
      expectConfigError({ type: 'DropBlock', drop_prob: 1.5, block_size: 3 }, /drop_prob/);
      expectConfigError({ type: 'DropBlock', drop_prob: 0.5, block_size: 2 }, /block_size/);
      expectConfigError({ type: 'DropBlock', drop_prob: 0.5, block_size: 3, warmup_iters: -1 }, /warmup_iters/);
      expectConfigError({ type: 'DropBlock', drop_prob: 0, block_size: 3 }, /drop_prob/);
    });

    it('rejects the same when the class is constructed directly', () => {
      expect(() => new DropBlock({ dropProb: 1.5, blockSize: 3 })).to.throw(/drop_prob/);
      expect(() => new DropBlock({ dropProb: 0.5, blockSize: 2 })).to.throw(/block_size/);
      expect(() => new DropBlock({ dropProb: 0.5, blockSize: 3, warmupIters: -1 })).to.throw(/warmup_iters/);
    });

    it('takes in_channels from a ResNet block but does not need it (mmdet swallows it in **kwargs)', () => {
      expect(build({ in_channels: 64, drop_prob: 0.1, block_size: 3 }).warmupIters).to.equal(2000);
      expect(build({ drop_prob: 0.1, block_size: 3 }).blockSize).to.equal(3);
    });

    it('refuses a map smaller than the block', async () => {
      const block = build({ drop_prob: 0.1, block_size: 5 });
      await withoutLeaks(() => {
        const x = tf.ones([1, 4, 9, 1]) as tf.Tensor4D;
        expect(() => block.forward(x)).to.throw(/smaller than block_size 5/);
        x.dispose();
      });
    });
  });

  it('is the identity in eval mode, and returns a handle the caller owns', async () => {
    const block = build({ drop_prob: 1.0, block_size: 3, warmup_iters: 0 }).eval();
    await withoutLeaks(() => {
      const x = tf.randomNormal([2, 5, 6, 3]) as tf.Tensor4D;
      const y = block.forward(x);
      expect(y).to.not.equal(x);
      expect(Array.from(y.dataSync())).to.deep.equal(Array.from(x.dataSync()));
      y.dispose();
      expect(x.isDisposed).to.equal(false);
      x.dispose();
    });
    expect(block.iterCnt).to.equal(0);
  });

  it('ramps gamma up linearly over warmup_iters training forwards', async () => {
    const block = build({ drop_prob: 0.3, block_size: 3, warmup_iters: 4, seed: 1 });
    const full = (0.3 * 9 * 9) / (7 * 7) / 9;
    const gammas: number[] = [];
    for (let i = 0; i < 6; i++) {
      await run(block, [1, 9, 9, 2]);
      gammas.push(block.gamma(9, 9));
    }
    expect(block.iterCnt).to.equal(6);
    gammas.forEach((g, i) => expect(g).to.be.closeTo(full * Math.min((i + 1) / 4, 1), 1e-12));
  });

  it('drops the expected fraction of units, in whole blocks inside the map, and rescales the rest', async () => {
    const [h, w, bs, dropProb] = [21, 19, 5, 0.2];
    const shape: [number, number, number, number] = [2, h, w, 64];
    const block = build({ drop_prob: dropProb, block_size: bs, warmup_iters: 0, seed: 42 });
    const out = await run(block, shape);
    const kept = out.filter((v) => v !== 0).length / out.length;
    expect(kept).to.be.closeTo(expectedKeptFraction(h, w, bs, block.gamma(h, w)), 0.02);
    expect(kept).to.be.within(0.7, 0.9); // the schedule really drops something, roughly drop_prob
    // Rescaling: kept units are numel / sum(mask), so the mean of an all-ones input stays 1.
    const mean = out.reduce((a, v) => a + v, 0) / out.length;
    expect(mean).to.be.closeTo(1, 1e-4);
    expect(zerosFormInnerBlocks(out, shape, bs)).to.equal(true);
  });

  it('the block-structure check catches a lone dropped unit', () => {
    const values = new Float32Array(25).fill(1);
    values[12] = 0;
    expect(zerosFormInnerBlocks(values, [1, 5, 5, 1], 3)).to.equal(false);
  });

  it('is reproducible with a seed, and draws a new mask on every forward', async () => {
    const masks = async (seed: number) => {
      const block = build({ drop_prob: 0.5, block_size: 3, warmup_iters: 0, seed });
      return [await run(block, [1, 9, 9, 4]), await run(block, [1, 9, 9, 4])];
    };
    const [first, second] = await masks(7);
    const [againFirst, againSecond] = await masks(7);
    const [otherFirst] = await masks(8);
    expect(Array.from(againFirst!)).to.deep.equal(Array.from(first!));
    expect(Array.from(againSecond!)).to.deep.equal(Array.from(second!));
    expect(Array.from(second!)).to.not.deep.equal(Array.from(first!));
    expect(Array.from(otherFirst!)).to.not.deep.equal(Array.from(first!));
  });

  it('takes an injected random source', async () => {
    const random = seededRandom(3);
    let calls = 0;
    const block = new DropBlock({ dropProb: 0.5, blockSize: 3, warmupIters: 0, random: () => (calls++, random()) });
    await run(block, [1, 5, 5, 1]);
    expect(calls).to.equal(1);
  });
});
