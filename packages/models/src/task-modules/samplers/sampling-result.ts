/**
 * mmdet's SamplingResult on host arrays: the sampled positive and negative prior indices (into
 * the priors with the gts prepended when add_gt_as_proposals), their boxes, and the targets of
 * the positives. Boxes are flat [k * 4].
 */
import type { AssignResult } from '../assigners/assign-result.js';

function gather(boxes: ArrayLike<number>, inds: ArrayLike<number>): Float32Array {
  const out = new Float32Array(inds.length * 4);
  for (let k = 0; k < inds.length; k++) for (let c = 0; c < 4; c++) out[4 * k + c] = boxes[4 * inds[k]! + c]!;
  return out;
}

export class SamplingResult {
  /** Sorted unique indices of the sampled positives / negatives. */
  readonly posInds: Int32Array;
  readonly negInds: Int32Array;
  readonly posPriors: Float32Array;
  readonly negPriors: Float32Array;
  /** 0-based gt index of each positive. */
  readonly posAssignedGtInds: Int32Array;
  readonly posGtBboxes: Float32Array;
  readonly posGtLabels: Int32Array;
  /** 1 where the positive is a gt box added as a proposal. */
  readonly posIsGt: Uint8Array;
  readonly numGts: number;
  /** max(#pos, 1) and max(#neg, 1). */
  readonly numPos: number;
  readonly numNeg: number;
  /**
   * What the losses divide by: numPos + numNeg, or numPos alone when `avgFactorWithNeg` is false
   * (mmdet's PseudoSampler, which keeps every candidate, so negatives would swamp the average).
   */
  readonly avgFactor: number;

  constructor(posInds: Int32Array, negInds: Int32Array, priors: ArrayLike<number>, gtBboxes: ArrayLike<number>, assignResult: AssignResult, gtFlags: Uint8Array, avgFactorWithNeg = true) {
    this.posInds = posInds;
    this.negInds = negInds;
    this.numPos = Math.max(posInds.length, 1);
    this.numNeg = Math.max(negInds.length, 1);
    this.avgFactor = avgFactorWithNeg ? this.numPos + this.numNeg : this.numPos;
    this.posPriors = gather(priors, posInds);
    this.negPriors = gather(priors, negInds);
    this.posIsGt = Uint8Array.from(posInds, (i) => gtFlags[i]!);
    this.numGts = gtBboxes.length / 4;
    this.posAssignedGtInds = Int32Array.from(posInds, (i) => assignResult.gtInds[i]! - 1);
    this.posGtLabels = Int32Array.from(posInds, (i) => assignResult.labels[i]!);
    if (gtBboxes.length === 0 && posInds.length > 0) throw new Error('SamplingResult: positives without gt boxes');
    this.posGtBboxes = gather(gtBboxes, this.posAssignedGtInds);
  }

  /** pos_priors then neg_priors, flat [(#pos + #neg) * 4]. */
  get priors(): Float32Array {
    const out = new Float32Array(this.posPriors.length + this.negPriors.length);
    out.set(this.posPriors);
    out.set(this.negPriors, this.posPriors.length);
    return out;
  }
}
