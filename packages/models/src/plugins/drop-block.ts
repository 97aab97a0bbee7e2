/**
 * mmdet's DropBlock ("DropBlock: A regularization method for convolutional networks",
 * mmdet-reference §2.5): in training, zeroes random block_size x block_size squares of each
 * feature map and rescales the rest; in eval mode it is the identity. The drop rate ramps up
 * linearly over the first `warmup_iters` training forwards.
 *
 * The Bernoulli seeds come from an injectable random source (a `seed` gives a reproducible
 * sequence of masks), as the port's randomness rule asks (mmdet-reference §8).
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineComponent, Module, seededRandom } from '@tsdet/core';
import { pluginSchema, type PluginModule } from './plugin.js';

/** mmdet's eps in the rescaling, which keeps an all-dropped map at 0 instead of NaN. */
const EPS = 1e-6;

export interface DropBlockOptions {
  /** Probability of dropping each unit, in (0, 1]. */
  dropProb: number;
  /** Odd side of the dropped squares. */
  blockSize: number;
  /** Forwards over which the drop rate ramps up from 0 (default 2000; 0: full rate at once). */
  warmupIters?: number;
  /** Seed of the mask sequence; without it (and without `random`) masks differ run to run. */
  seed?: number;
  /** A uniform [0, 1) source to draw each mask's seed from; wins over `seed`. */
  random?: () => number;
}

export interface DropBlockConfig {
  drop_prob: number;
  block_size: number;
  warmup_iters: number;
  seed?: number;
  /** Passed by ResNet blocks, unused (mmdet swallows it with **kwargs). */
  in_channels?: number;
  postfix?: string | number;
}


export class DropBlock extends Module implements PluginModule {
  readonly dropProb: number;
  readonly blockSize: number;
  readonly warmupIters: number;
  /** Training forwards so far (mmdet's iter_cnt), which drives the warmup. */
  iterCnt = 0;
  readonly #random: () => number;

  constructor(options: DropBlockOptions) {
    super();
    const { dropProb, blockSize, warmupIters = 2000 } = options;
    if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize % 2 !== 1) throw new Error(`DropBlock: block_size must be a positive odd integer, got ${blockSize}`);
    if (!(dropProb > 0 && dropProb <= 1)) throw new Error(`DropBlock: drop_prob must be in (0, 1], got ${dropProb}`);
    if (!(warmupIters >= 0)) throw new Error(`DropBlock: warmup_iters must be >= 0, got ${warmupIters}`);
    this.dropProb = dropProb;
    this.blockSize = blockSize;
    this.warmupIters = warmupIters;
    this.#random = options.random ?? (options.seed !== undefined ? seededRandom(options.seed) : Math.random);
  }

  /**
   * The Bernoulli rate of block seeds for an h x w map at the current iteration:
   * drop_prob * h * w / ((h - bs + 1) * (w - bs + 1)) / bs^2, times the warmup factor.
   */
  gamma(h: number, w: number): number {
    const bs = this.blockSize;
    let gamma = (this.dropProb * h * w) / ((h - bs + 1) * (w - bs + 1));
    gamma /= bs ** 2;
    // mmdet writes `iter_cnt > warmup_iters`; at equality its factor is 1 too, and >= avoids 0 / 0.
    const factor = this.iterCnt >= this.warmupIters ? 1 : this.iterCnt / this.warmupIters;
    return gamma * factor;
  }

  /** Eval mode: x's values unchanged (a new handle, so the caller owns what it gets back). */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    if (!this.training) return tf.clone(x);
    this.iterCnt += 1;
    const [n, h, w, c] = x.shape;
    const bs = this.blockSize;
    if (h < bs || w < bs) throw new Error(`DropBlock: a ${h}x${w} feature map is smaller than block_size ${bs}`);
    const gamma = this.gamma(h, w);
    const seed = Math.floor(this.#random() * 2 ** 31);
    return tf.tidy(() => {
      // Block seeds only where a whole block fits, so every dropped square lies inside the map.
      const seeds = tf.cast(tf.less(tf.randomUniform([n, h - bs + 1, w - bs + 1, c], 0, 1, 'float32', seed), gamma), 'float32');
      // mmdet pads by bs//2 and max-pools with padding bs//2; since the mask is >= 0, zero
      // padding by bs - 1 and a 'valid' pool give the same h x w map of dropped units.
      const pad = bs - 1;
      const padded = tf.pad(seeds, [[0, 0], [pad, pad], [pad, pad], [0, 0]]);
      const dropped = tf.maxPool(padded as tf.Tensor4D, bs, 1, 'valid');
      const keep = tf.sub(1, dropped);
      // mmdet: x * mask * mask.numel() / (eps + mask.sum()), in that order.
      return tf.div(tf.mul(tf.mul(x, keep), keep.size), tf.add(EPS, tf.sum(keep))) as tf.Tensor4D;
    });
  }
}

export const dropBlockDescriptor = defineComponent<DropBlockConfig, DropBlock>({
  type: 'DropBlock',
  abbreviation: 'drop_block',
  description: 'DropBlock regularisation (mmdet DropBlock); identity in eval mode',
  schema: {
    ...pluginSchema({
      drop_prob: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
      block_size: { type: 'integer', minimum: 1, not: { multipleOf: 2 }, description: 'odd' },
      warmup_iters: { type: 'integer', minimum: 0, default: 2000 },
      seed: { type: 'integer', description: 'makes the sequence of masks reproducible (tsdet extension)' },
    }),
    // mmdet's DropBlock takes in_channels only through **kwargs: it is optional here, so the
    // block can also be built on its own.
    required: ['drop_prob', 'block_size'],
  },
  build: (cfg) => new DropBlock({ dropProb: cfg.drop_prob, blockSize: cfg.block_size, warmupIters: cfg.warmup_iters, seed: cfg.seed }),
});
