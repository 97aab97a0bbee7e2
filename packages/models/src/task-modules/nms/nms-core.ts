/**
 * Non-maximum suppression with mmcv's semantics (mmdet-reference §4.5), in plain TypeScript on
 * float32 arrays.
 *
 * Why not tf.image.nonMaxSuppression: tfjs suppresses when IoU >= threshold (mmcv: strictly
 * greater), treats boxes of zero or negative area as IoU 0 and reorders flipped corners, and
 * computes the IoU in float64 on cpu but float32 on wasm. Kept indices must equal mmcv's, so
 * this file transcribes mmcv's CPU kernel instead, rounding every step to float32 as its C++
 * does (Math.fround), which makes the result the same on every backend.
 */

/** Boxes as a flat [N * 4] array of [x1, y1, x2, y2] rows. */
export type FlatBoxes = Float32Array;

export interface NmsOptions {
  /** mmcv's `offset`: 1 adds one pixel to widths and heights (legacy), 0 (default) does not. */
  offset?: 0 | 1;
  /** Boxes scoring at or below this are dropped before NMS (mmcv applies it only when > 0). */
  scoreThreshold?: number;
  /** Keep at most this many (<= 0: all). */
  maxNum?: number;
}

const f32 = Math.fround;

/**
 * Indices of `scores` in descending order; ties keep ascending index order. mmcv sorts with
 * torch.sort, whose tie order is unspecified; fixtures use distinct scores.
 */
export function argsortDescending(scores: ArrayLike<number>): Int32Array {
  const order = Int32Array.from({ length: scores.length }, (_, i) => i);
  return order.sort((a, b) => scores[b]! - scores[a]! || a - b);
}

/** Boxes in score order, one coordinate per array (cache-friendly for the O(n * kept) loop). */
interface SortedBoxes {
  order: Int32Array;
  x1: Float32Array;
  y1: Float32Array;
  x2: Float32Array;
  y2: Float32Array;
  /** (x2 - x1 + offset) * (y2 - y1 + offset), in float32 like mmcv's kernel. */
  area: Float32Array;
}

function sortBoxes(boxes: FlatBoxes, scores: ArrayLike<number>, offset: number): SortedBoxes {
  const order = argsortDescending(scores);
  const n = order.length;
  const sorted: SortedBoxes = { order, x1: new Float32Array(n), y1: new Float32Array(n), x2: new Float32Array(n), y2: new Float32Array(n), area: new Float32Array(n) };
  order.forEach((i, a) => {
    [sorted.x1[a], sorted.y1[a], sorted.x2[a], sorted.y2[a]] = [boxes[4 * i]!, boxes[4 * i + 1]!, boxes[4 * i + 2]!, boxes[4 * i + 3]!];
    sorted.area[a] = f32(f32(f32(sorted.x2[a]! - sorted.x1[a]!) + offset) * f32(f32(sorted.y2[a]! - sorted.y1[a]!) + offset));
  });
  return sorted;
}

/** Whether IoU(a, b) > threshold, the IoU computed as mmcv's nms_cpu does (float32 at every step). */
function overlapsAbove(s: SortedBoxes, a: number, b: number, offset: number, threshold: number): boolean {
  const w = Math.max(0, f32(f32(Math.min(s.x2[a]!, s.x2[b]!) - Math.max(s.x1[a]!, s.x1[b]!)) + offset));
  // No overlap gives IoU 0 (or 0 / 0 = NaN): never above a threshold >= 0, so skip the rest.
  if (w === 0 && threshold >= 0) return false;
  const h = Math.max(0, f32(f32(Math.min(s.y2[a]!, s.y2[b]!) - Math.max(s.y1[a]!, s.y1[b]!)) + offset));
  const inter = f32(w * h);
  return f32(inter / f32(f32(s.area[a]! + s.area[b]!) - inter)) > threshold;
}

/**
 * mmcv's greedy kernel: walk boxes by descending score, each kept box suppresses later ones with
 * IoU > threshold. Stopping after `maxKeep` kept boxes gives exactly the first `maxKeep` of the
 * full result (a box is kept or not by higher-scoring boxes only).
 */
function greedyNms(boxes: FlatBoxes, scores: ArrayLike<number>, iouThreshold: number, offset: number, maxKeep = Infinity): Int32Array {
  const sorted = sortBoxes(boxes, scores, offset);
  const n = sorted.order.length;
  const suppressed = new Uint8Array(n);
  const threshold = f32(iouThreshold);
  const keep: number[] = [];
  for (let a = 0; a < n; a++) {
    if (suppressed[a]) continue;
    keep.push(sorted.order[a]!);
    if (keep.length >= maxKeep) break;
    const [ax1, ay1, ax2, ay2] = [sorted.x1[a]!, sorted.y1[a]!, sorted.x2[a]!, sorted.y2[a]!];
    for (let b = a + 1; b < n; b++) {
      if (suppressed[b]) continue;
      // Disjoint boxes (exact on float32 values with offset 0): IoU 0, never above a threshold >= 0.
      // Most pairs end here (batched_nms offsets its groups apart), skipping the float32 IoU.
      if (offset === 0 && threshold >= 0 && (sorted.x1[b]! >= ax2 || sorted.x2[b]! <= ax1 || sorted.y1[b]! >= ay2 || sorted.y2[b]! <= ay1)) continue;
      if (overlapsAbove(sorted, a, b, offset, threshold)) suppressed[b] = 1;
    }
  }
  return Int32Array.from(keep);
}

function checkBoxes(boxes: FlatBoxes, scores: ArrayLike<number>, what: string): void {
  if (boxes.length !== scores.length * 4) throw new Error(`${what}: ${boxes.length / 4} boxes (flat [N * 4]) but ${scores.length} scores`);
}

/**
 * mmcv.ops.nms: kept box indices in descending score order. Suppresses when IoU is strictly
 * greater than `iouThreshold`; areas without +1 unless `offset` is 1.
 */
export function nmsIndices(boxes: FlatBoxes, scores: ArrayLike<number>, iouThreshold: number, options: NmsOptions = {}): Int32Array {
  checkBoxes(boxes, scores, 'nms');
  const { offset = 0, scoreThreshold = 0, maxNum = -1 } = options;
  // mmcv filters by score first (only when the threshold is > 0), runs NMS on the survivors
  // and maps their indices back.
  const candidates = scoreThreshold > 0 ? indicesWhere(scores, (s) => s > scoreThreshold) : undefined;
  const maxKeep = maxNum > 0 ? maxNum : Infinity;
  const keep = candidates
    ? greedyNms(selectBoxes(boxes, candidates), selectValues(scores, candidates), iouThreshold, offset, maxKeep).map((k) => candidates[k]!)
    : greedyNms(boxes, scores, iouThreshold, offset, maxKeep);
  return maxNum > 0 ? keep.slice(0, maxNum) : keep;
}

/** mmcv's batched_nms config (`nms_cfg`): the nms type and what it forwards to it. */
export interface NmsConfig {
  type?: 'nms';
  iou_threshold: number;
  offset?: 0 | 1;
  score_threshold?: number;
  /** Per-group NMS (then a re-sort) above this many boxes instead of the offset trick (default 10000). */
  split_thr?: number;
  max_num?: number;
  class_agnostic?: boolean;
}

export interface BatchedNmsResult {
  /** Kept indices into the input, in descending score order. */
  keep: Int32Array;
  /** Their scores (the dets' last column). */
  scores: Float32Array;
}

/**
 * mmcv.ops.batched_nms: NMS within each group of `idxs` (class, or FPN level for the RPN).
 * `config` null only sorts by score. Below `split_thr` boxes the groups are separated by
 * shifting each by idx * (max coordinate + 1), in float32 as mmcv does; above it NMS runs per
 * group and the union is re-sorted by score.
 */
export function batchedNmsIndices(boxes: FlatBoxes, scores: ArrayLike<number>, idxs: ArrayLike<number>, config: NmsConfig | null, classAgnostic = false): BatchedNmsResult {
  checkBoxes(boxes, scores, 'batched_nms');
  if (idxs.length !== scores.length) throw new Error(`batched_nms: ${idxs.length} group ids for ${scores.length} boxes`);
  if (config === null) return withScores(argsortDescending(scores), scores);
  const { iou_threshold: iouThreshold, split_thr: splitThr = 10000, max_num: maxNum = -1, class_agnostic: agnostic = classAgnostic } = config;
  const options: NmsOptions = { offset: config.offset ?? 0, scoreThreshold: config.score_threshold ?? 0 };
  if (scores.length === 0) return withScores(new Int32Array(0), scores);
  const boxesForNms = agnostic ? boxes : offsetBoxesByGroup(boxes, idxs);
  if (scores.length < splitThr) return withScores(nmsIndices(boxesForNms, scores, iouThreshold, { ...options, maxNum }), scores);
  const keep = nmsPerGroup(boxesForNms, scores, idxs, iouThreshold, options);
  return withScores(maxNum > 0 ? keep.slice(0, maxNum) : keep, scores);
}

/** boxes + idx * (max(boxes) + 1), every step in float32, so the groups never overlap. */
export function offsetBoxesByGroup(boxes: FlatBoxes, idxs: ArrayLike<number>): Float32Array {
  let maxCoordinate = -Infinity;
  for (const v of boxes) if (v > maxCoordinate) maxCoordinate = v;
  const step = f32(maxCoordinate + 1);
  const shifted = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i++) shifted[i] = f32(boxes[i]! + f32(idxs[i >> 2]! * step));
  return shifted;
}

/** The split path: NMS on each group alone, then all kept boxes sorted by score. */
function nmsPerGroup(boxes: FlatBoxes, scores: ArrayLike<number>, idxs: ArrayLike<number>, iouThreshold: number, options: NmsOptions): Int32Array {
  const kept: number[] = [];
  for (const group of new Set(Array.from(idxs))) {
    const members = indicesWhere(idxs, (id) => id === group);
    for (const k of nmsIndices(selectBoxes(boxes, members), selectValues(scores, members), iouThreshold, options)) kept.push(members[k]!);
  }
  // mmcv takes the kept mask's nonzero() (ascending index) and sorts that by score.
  kept.sort((a, b) => a - b);
  const keptScores = kept.map((i) => scores[i]!);
  return Int32Array.from(argsortDescending(keptScores), (k) => kept[k]!);
}

export interface MulticlassNmsArrays {
  /** [k * 5] rows of [x1, y1, x2, y2, score], descending score. */
  dets: Float32Array;
  labels: Int32Array;
  /** Index of each detection in the flattened [N * numClasses] candidates (mmdet's return_inds). */
  inds: Int32Array;
}

export interface MulticlassNmsOptions {
  /** Keep at most this many detections (<= 0: all). */
  maxNum?: number;
  /** Per-box factors multiplied into the scores after the threshold (mmdet's score_factors). */
  scoreFactors?: ArrayLike<number>;
}

/**
 * mmdet's multiclass_nms. `bboxes` is [N * 4] (shared by every class) or [N * 4 * numClasses]
 * (class-specific); `scores` is [N * (numClasses + 1)] with the background in the last column,
 * which is ignored. Candidates scoring strictly above `scoreThr` go through per-class
 * batched NMS; the first `maxNum` are kept.
 */
export function multiclassNmsArrays(bboxes: FlatBoxes, scores: Float32Array, numBoxes: number, scoreThr: number, config: NmsConfig | null, options: MulticlassNmsOptions = {}): MulticlassNmsArrays {
  const numClasses = numBoxes > 0 ? scores.length / numBoxes - 1 : 0;
  if (!Number.isInteger(numClasses) || numClasses < 0) throw new Error(`multiclass_nms: ${scores.length} scores do not split into ${numBoxes} rows`);
  const classSpecific = bboxes.length === numBoxes * 4 * numClasses && numClasses > 1;
  if (!classSpecific && bboxes.length !== numBoxes * 4) throw new Error(`multiclass_nms: bboxes must be [${numBoxes}, 4] or [${numBoxes}, ${4 * numClasses}], got ${bboxes.length} values`);
  const candidates = aboveThreshold(scores, numBoxes, numClasses, scoreThr);
  const boxes = new Float32Array(candidates.length * 4);
  const candidateScores = new Float32Array(candidates.length);
  const labels = new Int32Array(candidates.length);
  candidates.forEach((flat, k) => {
    const [box, label] = [Math.floor(flat / numClasses), flat % numClasses];
    const from = classSpecific ? (box * numClasses + label) * 4 : box * 4;
    boxes.set(bboxes.subarray(from, from + 4), k * 4);
    const factor = options.scoreFactors ? options.scoreFactors[box]! : 1;
    candidateScores[k] = options.scoreFactors ? f32(scores[box * (numClasses + 1) + label]! * factor) : scores[box * (numClasses + 1) + label]!;
    labels[k] = label;
  });
  if (candidates.length === 0) return { dets: new Float32Array(0), labels, inds: Int32Array.from(candidates) };
  const { keep, scores: keptScores } = batchedNmsIndices(boxes, candidateScores, labels, config);
  const count = options.maxNum && options.maxNum > 0 ? Math.min(options.maxNum, keep.length) : keep.length;
  const dets = new Float32Array(count * 5);
  for (let k = 0; k < count; k++) {
    dets.set(boxes.subarray(keep[k]! * 4, keep[k]! * 4 + 4), k * 5);
    dets[k * 5 + 4] = keptScores[k]!;
  }
  return { dets, labels: Int32Array.from(keep.subarray(0, count), (i) => labels[i]!), inds: Int32Array.from(keep.subarray(0, count), (i) => candidates[i]!) };
}

/** Flat (box * numClasses + class) indices of foreground scores > thr, in row-major order (mmdet's nonzero()). */
function aboveThreshold(scores: Float32Array, numBoxes: number, numClasses: number, scoreThr: number): number[] {
  const out: number[] = [];
  for (let box = 0; box < numBoxes; box++) {
    for (let label = 0; label < numClasses; label++) if (scores[box * (numClasses + 1) + label]! > scoreThr) out.push(box * numClasses + label);
  }
  return out;
}

function withScores(keep: Int32Array, scores: ArrayLike<number>): BatchedNmsResult {
  return { keep, scores: Float32Array.from(keep, (i) => scores[i]!) };
}

function indicesWhere(values: ArrayLike<number>, predicate: (v: number) => boolean): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) if (predicate(values[i]!)) out.push(i);
  return Int32Array.from(out);
}

function selectBoxes(boxes: FlatBoxes, indices: Int32Array): Float32Array {
  const out = new Float32Array(indices.length * 4);
  indices.forEach((i, k) => out.set(boxes.subarray(4 * i, 4 * i + 4), 4 * k));
  return out;
}

function selectValues(values: ArrayLike<number>, indices: Int32Array): Float32Array {
  return Float32Array.from(indices, (i) => values[i]!);
}
