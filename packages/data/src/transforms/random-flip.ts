import { defineComponent, globalRandom } from '@tsdet/core';
import { flipBoxes } from '../boxes/boxes.js';
import { flipImage, type FlipDirection } from '../image/flip.js';
import { requireImage } from './require.js';
import type { DetResults, Transform, TransformContext } from './types.js';

export interface RandomFlipConfig {
  /** Probability of flipping, in [0, 1]. */
  prob: number;
  direction: FlipDirection;
}

export interface RandomFlipOptions {
  /** Uniform [0, 1) source used when a call brings no context. Default: core's globalRandom(). */
  random?: () => number;
}

/**
 * mmdet RandomFlip with one direction: flips `img` and `gt_bboxes` with probability `prob`, and
 * records `flip` and `flip_direction` (null when not flipped). mmcv's lists of directions and
 * probabilities are not ported.
 *
 * The draw comes from the call's context when there is one (the data loader passes each sample's
 * stream, derived from seed, epoch and index), so that a flip does not depend on load order.
 */
export class RandomFlip implements Transform {
  readonly #random: () => number;

  constructor(
    readonly cfg: RandomFlipConfig,
    options: RandomFlipOptions = {},
  ) {
    if (!(cfg.prob >= 0 && cfg.prob <= 1)) throw new Error(`RandomFlip: prob must be in [0, 1], got ${cfg.prob}`);
    this.#random = options.random ?? globalRandom().uniform;
  }

  transform(results: DetResults, context?: TransformContext): DetResults {
    const draw = context?.random ?? this.#random;
    // mmcv draws from [direction, None] with p = [prob, 1 - prob]: a flip when u < prob.
    if (!(draw() < this.cfg.prob)) return { ...results, flip: false, flip_direction: null };
    const direction = this.cfg.direction;
    const img = flipImage(requireImage(results, 'RandomFlip'), direction);
    const flipped: DetResults = { ...results, img, flip: true, flip_direction: direction };
    return results.gt_bboxes ? { ...flipped, gt_bboxes: flipBoxes(results.gt_bboxes, [img.height, img.width], direction) } : flipped;
  }
}

export const randomFlipDescriptor = defineComponent<RandomFlipConfig, RandomFlip>({
  type: 'RandomFlip',
  description: 'flip the image and its boxes with probability prob',
  schema: {
    properties: {
      prob: { type: 'number', minimum: 0, maximum: 1 },
      direction: { enum: ['horizontal', 'vertical', 'diagonal'], default: 'horizontal' },
    },
    required: ['prob'],
  },
  build: (cfg) => new RandomFlip(cfg),
});
