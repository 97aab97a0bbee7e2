/**
 * mmdet's BBoxHead.get_targets (concat=True) on the host (mmdet-reference §4.7): for the sampled
 * rois of every image, rows [positives..., negatives...] image after image, labels (gt label or
 * num_classes for background), label weights (pos_weight or 1 for positives, 1 for negatives),
 * and the positives' (prior, gt) pairs whose deltas are the regression targets. The deltas are
 * encoded on the backend in one call by the head's loss.
 */
import type { SamplingResult } from '../../task-modules/samplers/sampling-result.js';

export interface RoiTargets {
  /** [R]: the gt label of each positive row, num_classes for negatives. */
  readonly labels: Int32Array;
  /** [R]. */
  readonly labelWeights: Float32Array;
  /** Row (into the R sampled rois) of each positive, with its prior, gt box and label. */
  readonly posRows: Int32Array;
  readonly posPriors: Float32Array;
  readonly posGtBboxes: Float32Array;
  readonly posLabels: Int32Array;
}

/** Rows of the rois of bbox2roi([s.priors for s in samplings]): positives then negatives per image. */
export function bboxTargets(samplings: readonly SamplingResult[], numClasses: number, posWeight: number): RoiTargets {
  const rows = samplings.reduce((sum, s) => sum + s.posInds.length + s.negInds.length, 0);
  const numPos = samplings.reduce((sum, s) => sum + s.posInds.length, 0);
  const labels = new Int32Array(rows).fill(numClasses);
  const labelWeights = new Float32Array(rows);
  const posRows = new Int32Array(numPos);
  const posPriors = new Float32Array(numPos * 4);
  const posGtBboxes = new Float32Array(numPos * 4);
  const posLabels = new Int32Array(numPos);
  const weightOfPositives = posWeight <= 0 ? 1 : posWeight;
  let [row, p] = [0, 0];
  for (const s of samplings) {
    const count = s.posInds.length;
    labels.set(s.posGtLabels, row);
    labelWeights.fill(weightOfPositives, row, row + count);
    labelWeights.fill(1, row + count, row + count + s.negInds.length);
    for (let k = 0; k < count; k++) posRows[p + k] = row + k;
    posPriors.set(s.posPriors, 4 * p);
    posGtBboxes.set(s.posGtBboxes, 4 * p);
    posLabels.set(s.posGtLabels, p);
    row += count + s.negInds.length;
    p += count;
  }
  return { labels, labelWeights, posRows, posPriors, posGtBboxes, posLabels };
}
