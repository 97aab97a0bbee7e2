/**
 * mmdet's MaxIoUAssigner on host arrays (mmdet-reference §4.6). Each prior gets -1 (ignore),
 * 0 (negative) or i + 1 (positive for gt i) from its IoU with the gts:
 *
 * 1. priors whose IoF with an ignore box exceeds ignore_iof_thr get overlap -1 with every gt;
 * 2. every prior starts at -1;
 * 3. no gts: all negative (max_overlaps 0, labels -1); no priors: empty;
 * 4. max overlap and argmax gt per prior (first maximum wins);
 * 5. neg_iou_thr (float: 0 <= max < thr; [lo, hi]: lo <= max < hi) -> 0;
 * 6. max >= pos_iou_thr -> argmax + 1;
 * 7. match_low_quality: each gt in index order whose best IoU >= min_pos_iou claims its best
 *    prior(s) (all ties with gt_max_assign_all), overwriting step 6; later gts win;
 * 8. labels of positive priors from gt_labels, -1 otherwise.
 *
 * Boxes are flat Float32Array-like [x1, y1, x2, y2] rows. gpu_assign_thr is accepted for config
 * compatibility and has no effect (assignment always runs on the host).
 */
import { bboxOverlaps, type OverlapMatrix } from '../bbox-overlaps/bbox-overlaps.js';
import { AssignResult } from './assign-result.js';

export interface MaxIoUAssignerOptions {
  posIouThr: number;
  /** A float, or [lo, hi] for negatives with lo <= max IoU < hi. */
  negIouThr: number | readonly [number, number];
  minPosIou?: number;
  gtMaxAssignAll?: boolean;
  ignoreIofThr?: number;
  ignoreWrtCandidates?: boolean;
  matchLowQuality?: boolean;
  /** Accepted for mmdet config compatibility; has no effect. */
  gpuAssignThr?: number;
}

export class MaxIoUAssigner {
  readonly posIouThr: number;
  readonly negIouThr: number | readonly [number, number];
  readonly minPosIou: number;
  readonly gtMaxAssignAll: boolean;
  readonly ignoreIofThr: number;
  readonly ignoreWrtCandidates: boolean;
  readonly matchLowQuality: boolean;
  readonly gpuAssignThr: number;

  constructor(options: MaxIoUAssignerOptions) {
    this.posIouThr = options.posIouThr;
    this.negIouThr = options.negIouThr;
    this.minPosIou = options.minPosIou ?? 0;
    this.gtMaxAssignAll = options.gtMaxAssignAll ?? true;
    this.ignoreIofThr = options.ignoreIofThr ?? -1;
    this.ignoreWrtCandidates = options.ignoreWrtCandidates ?? true;
    this.matchLowQuality = options.matchLowQuality ?? true;
    this.gpuAssignThr = options.gpuAssignThr ?? -1;
  }

  /**
   * assign(pred_instances.priors, gt_instances.bboxes / labels, gt_instances_ignore.bboxes):
   * all boxes flat [N * 4]; labels one per gt.
   */
  assign(priors: ArrayLike<number>, gtBboxes: ArrayLike<number>, gtLabels: ArrayLike<number>, gtBboxesIgnore?: ArrayLike<number>): AssignResult {
    const overlaps = bboxOverlaps(gtBboxes, priors, 'iou');
    if (gtLabels.length !== overlaps.rows) throw new Error(`MaxIoUAssigner: ${gtLabels.length} gt labels for ${overlaps.rows} gt boxes`);
    if (this.ignoreIofThr > 0 && gtBboxesIgnore && gtBboxesIgnore.length > 0 && overlaps.cols > 0) {
      const ignored = this.ignoredPriors(priors, gtBboxesIgnore);
      for (let p = 0; p < overlaps.cols; p++) {
        if (ignored[p]) for (let g = 0; g < overlaps.rows; g++) overlaps.data[g * overlaps.cols + p] = -1;
      }
    }
    return this.assignWrtOverlaps(overlaps, gtLabels);
  }

  /** Per prior: whether its max IoF over the ignore boxes exceeds ignore_iof_thr. */
  private ignoredPriors(priors: ArrayLike<number>, ignore: ArrayLike<number>): Uint8Array {
    // ignore_wrt_candidates: IoF relative to the prior (priors vs ignore); otherwise relative to
    // the ignore box (ignore vs priors). Either way the max is over the ignore boxes.
    const wrtCandidates = this.ignoreWrtCandidates;
    const iof = wrtCandidates ? bboxOverlaps(priors, ignore, 'iof') : bboxOverlaps(ignore, priors, 'iof');
    const numPriors = wrtCandidates ? iof.rows : iof.cols;
    const numIgnore = wrtCandidates ? iof.cols : iof.rows;
    const out = new Uint8Array(numPriors);
    for (let p = 0; p < numPriors; p++) {
      let max = -Infinity;
      for (let k = 0; k < numIgnore; k++) max = Math.max(max, wrtCandidates ? iof.data[p * numIgnore + k]! : iof.data[k * numPriors + p]!);
      out[p] = max > this.ignoreIofThr ? 1 : 0;
    }
    return out;
  }

  /** assign_wrt_overlaps(overlaps [G, N], gt_labels): steps 2-8. */
  assignWrtOverlaps(overlaps: OverlapMatrix, gtLabels: ArrayLike<number>): AssignResult {
    const { rows: numGts, cols: numPriors, data } = overlaps;
    const gtInds = new Int32Array(numPriors).fill(-1);
    const maxOverlaps = new Float32Array(numPriors);
    const labels = new Int32Array(numPriors).fill(-1);
    if (numGts === 0 || numPriors === 0) {
      if (numGts === 0) gtInds.fill(0);
      return new AssignResult(numGts, gtInds, maxOverlaps, labels);
    }

    const argmax = new Int32Array(numPriors);
    for (let p = 0; p < numPriors; p++) {
      let best = data[p]!;
      let arg = 0;
      for (let g = 1; g < numGts; g++) {
        const v = data[g * numPriors + p]!;
        if (v > best) [best, arg] = [v, g];
      }
      maxOverlaps[p] = best;
      argmax[p] = arg;
    }

    const [negLo, negHi] = typeof this.negIouThr === 'number' ? [0, this.negIouThr] : this.negIouThr;
    for (let p = 0; p < numPriors; p++) {
      const m = maxOverlaps[p]!;
      if (m >= negLo && m < negHi) gtInds[p] = 0;
    }
    for (let p = 0; p < numPriors; p++) if (maxOverlaps[p]! >= this.posIouThr) gtInds[p] = argmax[p]! + 1;

    if (this.matchLowQuality) {
      for (let g = 0; g < numGts; g++) {
        const row = data.subarray(g * numPriors, (g + 1) * numPriors);
        let best = row[0]!;
        let arg = 0;
        for (let p = 1; p < numPriors; p++) if (row[p]! > best) [best, arg] = [row[p]!, p];
        if (!(best >= this.minPosIou)) continue;
        if (this.gtMaxAssignAll) {
          for (let p = 0; p < numPriors; p++) if (row[p] === best) gtInds[p] = g + 1;
        } else {
          gtInds[arg] = g + 1;
        }
      }
    }

    for (let p = 0; p < numPriors; p++) if (gtInds[p]! > 0) labels[p] = gtLabels[gtInds[p]! - 1]!;
    return new AssignResult(numGts, gtInds, maxOverlaps, labels);
  }
}
