/**
 * mmdet's PseudoSampler: no sampling, every positive (gt_inds > 0) and every negative
 * (gt_inds == 0) is kept, and the losses average over the positives only
 * (SamplingResult avg_factor_with_neg = False). An anchor head without train_cfg.sampler uses it.
 */
import type { AssignResult } from '../assigners/assign-result.js';
import { SamplingResult } from './sampling-result.js';

function indicesWhere(gtInds: Int32Array, keep: (v: number) => boolean): Int32Array {
  const out: number[] = [];
  gtInds.forEach((v, i) => {
    if (keep(v)) out.push(i);
  });
  return Int32Array.from(out);
}

export class PseudoSampler {
  /** Same face as RandomSampler.sample; gts are never added as priors and `random` is unused. */
  sample(assignResult: AssignResult, priors: ArrayLike<number>, gtBboxes: ArrayLike<number>, _gtLabels?: ArrayLike<number>, _random?: () => number): SamplingResult {
    if (assignResult.numPriors !== priors.length / 4) throw new Error(`PseudoSampler: assign result for ${assignResult.numPriors} priors, got ${priors.length / 4}`);
    const pos = indicesWhere(assignResult.gtInds, (v) => v > 0);
    const neg = indicesWhere(assignResult.gtInds, (v) => v === 0);
    return new SamplingResult(pos, neg, priors, gtBboxes, assignResult, new Uint8Array(priors.length / 4), false);
  }
}
