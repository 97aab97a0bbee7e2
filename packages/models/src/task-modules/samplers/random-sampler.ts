/**
 * mmdet's RandomSampler (BaseSampler.sample with random _sample_pos / _sample_neg), on host
 * arrays (mmdet-reference §4.6):
 *
 * 1. add_gt_as_proposals with gts: the gt boxes are prepended to the priors and the assign
 *    result gets gt_inds 1..G, max_overlaps 1 and the gt labels prepended (in place, as
 *    mmdet's add_gt_);
 * 2. up to int(num * pos_fraction) positives (gt_inds > 0), a uniform random subset when there
 *    are more;
 * 3. up to num - #pos negatives (gt_inds == 0), capped at int(neg_pos_ub * max(1, #pos)) when
 *    neg_pos_ub >= 0, chosen the same way.
 *
 * Randomness comes from the caller's PRNG, by default the training stream globalRandom() of
 * @tsdet/core (seeded once per run, saved with checkpoints): the same seed gives the same sample. torch.randperm is replaced by a partial Fisher-Yates shuffle; indices come
 * out sorted and unique, as after mmdet's .unique().
 */
import { globalRandom } from '@tsdet/core';
import type { AssignResult } from '../assigners/assign-result.js';
import { SamplingResult } from './sampling-result.js';

export interface RandomSamplerOptions {
  num: number;
  posFraction: number;
  negPosUb?: number;
  addGtAsProposals?: boolean;
}

/** A uniform random subset of `num` elements of `gallery` (all of it when it is not larger), sorted. */
export function randomChoice(gallery: Int32Array, num: number, random: () => number): Int32Array {
  if (gallery.length <= num) return gallery.slice().sort();
  const pool = gallery.slice();
  for (let k = 0; k < num; k++) {
    const j = k + Math.floor(random() * (pool.length - k));
    [pool[k], pool[j]] = [pool[j]!, pool[k]!];
  }
  return pool.subarray(0, num).sort();
}

function indicesWhere(gtInds: Int32Array, keep: (v: number) => boolean): Int32Array {
  const out: number[] = [];
  gtInds.forEach((v, i) => {
    if (keep(v)) out.push(i);
  });
  return Int32Array.from(out);
}

export class RandomSampler {
  readonly num: number;
  readonly posFraction: number;
  readonly negPosUb: number;
  readonly addGtAsProposals: boolean;

  constructor(options: RandomSamplerOptions) {
    this.num = options.num;
    this.posFraction = options.posFraction;
    this.negPosUb = options.negPosUb ?? -1;
    this.addGtAsProposals = options.addGtAsProposals ?? true;
  }

  /**
   * sample(assign_result, pred_instances{priors}, gt_instances{bboxes, labels}): boxes flat
   * [N * 4]; `random` a PRNG giving uniforms in [0, 1), by default globalRandom()'s.
   */
  sample(assignResult: AssignResult, priors: ArrayLike<number>, gtBboxes: ArrayLike<number>, gtLabels: ArrayLike<number>, random: () => number = globalRandom().uniform): SamplingResult {
    if (priors.length % 4 !== 0 || gtBboxes.length % 4 !== 0) throw new Error('RandomSampler: priors and gt boxes must be flat [N, 4]');
    const numGts = gtBboxes.length / 4;
    if (gtLabels.length !== numGts) throw new Error(`RandomSampler: ${gtLabels.length} gt labels for ${numGts} gt boxes`);
    if (assignResult.numPriors !== priors.length / 4) throw new Error(`RandomSampler: assign result for ${assignResult.numPriors} priors, got ${priors.length / 4}`);

    let allPriors: ArrayLike<number> = priors;
    let gtFlags = new Uint8Array(priors.length / 4);
    if (this.addGtAsProposals && numGts > 0) {
      const joined = new Float32Array(gtBboxes.length + priors.length);
      joined.set(gtBboxes);
      joined.set(priors, gtBboxes.length);
      allPriors = joined;
      assignResult.addGt(gtLabels);
      const flags = new Uint8Array(numGts + gtFlags.length);
      flags.fill(1, 0, numGts);
      gtFlags = flags;
    }

    const numExpectedPos = Math.trunc(this.num * this.posFraction);
    const posInds = randomChoice(
      indicesWhere(assignResult.gtInds, (v) => v > 0),
      numExpectedPos,
      random,
    );
    let numExpectedNeg = this.num - posInds.length;
    if (this.negPosUb >= 0) numExpectedNeg = Math.min(numExpectedNeg, Math.trunc(this.negPosUb * Math.max(1, posInds.length)));
    const negInds = randomChoice(
      indicesWhere(assignResult.gtInds, (v) => v === 0),
      Math.max(numExpectedNeg, 0),
      random,
    );
    return new SamplingResult(posInds, negInds, allPriors, gtBboxes, assignResult, gtFlags);
  }
}
