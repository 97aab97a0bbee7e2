/**
 * The host half of RPNHead._predict_by_feat_single (mmdet-reference §4.4): per level the top
 * `nms_pre` scores with their deltas and anchors and a level id; after decoding, the strict
 * min_bbox_size filter, NMS within each level (batched_nms with the level as the group) and the
 * first max_per_img. Pure functions on flat float32 arrays, so each step is testable on
 * hand-made inputs; the decode in between is the bbox coder's (a tensor op).
 */
import { emptyInstances, type InstanceResults } from '../../detectors/structures.js';
import type { ProposalConfig } from '../../detectors/train-test-cfg.schema.js';
import { argsortDescending, batchedNmsIndices } from '../../task-modules/nms/nms-core.js';

const f32 = Math.fround;

/** One level of one image, rows in (y, x, a) order: scores [n], deltas [n * 4], anchors [n * 4]. */
export interface LevelCandidates {
  readonly scores: Float32Array;
  readonly deltas: Float32Array;
  readonly anchors: Float32Array;
}

/** Every level's kept candidates, concatenated in level order, with each row's level index. */
export interface SelectedCandidates {
  readonly scores: Float32Array;
  readonly deltas: Float32Array;
  readonly anchors: Float32Array;
  readonly levelIds: Int32Array;
}

/**
 * Steps 2-3 of §4.4: when 0 < nmsPre < n, a level keeps its nmsPre best scores (in descending
 * order, as mmdet's sort does); otherwise all of them in their original order.
 */
export function selectTopPerLevel(levels: readonly LevelCandidates[], nmsPre: number): SelectedCandidates {
  const picks = levels.map(({ scores }) => (nmsPre > 0 && nmsPre < scores.length ? argsortDescending(scores).subarray(0, nmsPre) : null));
  const total = picks.reduce((sum, pick, level) => sum + (pick ? pick.length : levels[level]!.scores.length), 0);
  const out = { scores: new Float32Array(total), deltas: new Float32Array(total * 4), anchors: new Float32Array(total * 4), levelIds: new Int32Array(total) };
  let row = 0;
  levels.forEach((level, levelIndex) => {
    const pick = picks[levelIndex];
    const count = pick ? pick.length : level.scores.length;
    for (let k = 0; k < count; k++, row++) {
      const i = pick ? pick[k]! : k;
      out.scores[row] = level.scores[i]!;
      out.deltas.set(level.deltas.subarray(4 * i, 4 * i + 4), 4 * row);
      out.anchors.set(level.anchors.subarray(4 * i, 4 * i + 4), 4 * row);
      out.levelIds[row] = levelIndex;
    }
  });
  return out;
}

/** Indices of boxes with width and height strictly greater than `minSize` (float32 widths, as torch). */
export function boxesLargerThan(boxes: Float32Array, minSize: number): Int32Array {
  const keep: number[] = [];
  for (let k = 0; k < boxes.length / 4; k++) {
    const w = f32(boxes[4 * k + 2]! - boxes[4 * k]!);
    const h = f32(boxes[4 * k + 3]! - boxes[4 * k + 1]!);
    if (w > minSize && h > minSize) keep.push(k);
  }
  return Int32Array.from(keep);
}

function pickRows(values: Float32Array, indices: ArrayLike<number>, width: number): Float32Array {
  const out = new Float32Array(indices.length * width);
  for (let k = 0; k < indices.length; k++) out.set(values.subarray(indices[k]! * width, indices[k]! * width + width), k * width);
  return out;
}

function pickInts(values: Int32Array, indices: ArrayLike<number>): Int32Array {
  return Int32Array.from({ length: indices.length }, (_, k) => values[indices[k]!]!);
}

/**
 * mmdet's RPNHead._bbox_post_process after the (optional) rescale: drop boxes not larger than
 * min_bbox_size (when it is >= 0), NMS within each level, keep the first max_per_img. Scores come
 * from the NMS output; every label is 0. No box left gives an empty result.
 */
export function filterAndSuppress(boxes: Float32Array, scores: Float32Array, levelIds: Int32Array, cfg: Pick<ProposalConfig, 'min_bbox_size' | 'nms' | 'max_per_img'>): InstanceResults {
  let [b, s, ids] = [boxes, scores, levelIds];
  if (cfg.min_bbox_size >= 0) {
    const valid = boxesLargerThan(boxes, cfg.min_bbox_size);
    if (valid.length !== scores.length) [b, s, ids] = [pickRows(boxes, valid, 4), pickRows(scores, valid, 1), pickInts(levelIds, valid)];
  }
  if (s.length === 0) return emptyInstances();
  // Only the first max_per_img survivors are kept: NMS may stop there (same result, less work).
  const maxNum = cfg.nms.max_num !== undefined && cfg.nms.max_num > 0 ? Math.min(cfg.nms.max_num, cfg.max_per_img) : cfg.max_per_img;
  const { keep, scores: keptScores } = batchedNmsIndices(b, s, ids, { ...cfg.nms, max_num: maxNum });
  const count = Math.min(keep.length, cfg.max_per_img);
  return { bboxes: pickRows(b, keep.subarray(0, count), 4), scores: keptScores.slice(0, count), labels: new Int32Array(count) };
}
