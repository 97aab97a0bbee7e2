/**
 * Box operations of mmdet's test-time post-processing as ONNX subgraphs: DeltaXYWHBBoxCoder's
 * decode, mmcv's batched_nms (offset trick below split_thr, NMS per group above it, chosen at
 * run time by an If node) with ONNX NonMaxSuppression, and row selection by a mask. Every
 * arithmetic step follows mmdet's order of float32 operations.
 *
 * Where ONNX differs and how it is handled:
 *  - NonMaxSuppression suppresses when IoU > threshold and computes areas without +1, as mmcv
 *    (offset 0); mmcv's legacy offset 1 is refused. Its IoU is inter / (a1 + a2 - inter), mmcv's.
 *  - It takes boxes as diagonal corner pairs and orders each pair itself; decoded boxes always
 *    have x1 <= x2 and y1 <= y2, so this changes nothing.
 *  - Among equal scores the kept order may differ from torch.sort's (which is unspecified).
 */
import { DeltaXYWHBBoxCoder, type NmsConfig } from '@tsdet/models';
import { dimOf } from './fpn.js';
import { graph as graphAttribute, int } from '../graph/attributes.js';
import type { GraphBuilder, Value } from '../graph/graph-builder.js';

/** Largest finite float32: a floor for reductions over possibly empty tensors. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** Columns [from, to) of a [K, 4] box tensor. */
export function columns(g: GraphBuilder, boxes: Value, from: number, to: number): Value {
  return g.op1('Slice', [boxes, g.i64([from]), g.i64([to]), g.i64([1])]);
}

/** Rows of `x` (axis 0) at int64 `indices`. */
export function rows(g: GraphBuilder, x: Value, indices: Value): Value {
  return g.op1('Gather', [x, indices], { axis: int(0) });
}

/** The int64 indices where a bool [K] mask is true, as a [M] vector. */
export function whereTrue(g: GraphBuilder, mask: Value): Value {
  return g.op1('Reshape', [g.op1('NonZero', [mask]), g.i64([-1])]);
}

/**
 * mmdet's delta2bbox for rois [K, 4] and deltas [K, 4]: denormalise, clamp dw/dh to
 * +-|log(wh_ratio_clip)|, decode about the roi centre, clip x to [0, w] and y to [0, h] with
 * `imgShape` = [h, w] (float32 [2]) when clip_border.
 */
export function decodeDeltas(g: GraphBuilder, coder: DeltaXYWHBBoxCoder, rois: Value, deltas: Value, imgShape: Value): Value {
  const d = g.op1('Add', [g.op1('Mul', [deltas, g.f32([...coder.stds], [1, 4])]), g.f32([...coder.means], [1, 4])]);
  const dxy = columns(g, d, 0, 2);
  const maxRatio = Math.abs(Math.log(coder.whRatioClip));
  const dwh = coder.addCtrClamp ? g.op1('Min', [columns(g, d, 2, 4), g.f32(maxRatio)]) : g.op1('Clip', [columns(g, d, 2, 4), g.f32(-maxRatio), g.f32(maxRatio)]);
  const topLeft = columns(g, rois, 0, 2);
  const bottomRight = columns(g, rois, 2, 4);
  const centre = g.op1('Mul', [g.op1('Add', [topLeft, bottomRight]), g.f32(0.5)]);
  const size = g.op1('Sub', [bottomRight, topLeft]);
  let shift = g.op1('Mul', [size, dxy]);
  if (coder.addCtrClamp) shift = g.op1('Clip', [shift, g.f32(-coder.ctrClamp), g.f32(coder.ctrClamp)]);
  const newCentre = g.op1('Add', [centre, shift]);
  const half = g.op1('Mul', [g.op1('Mul', [size, g.op1('Exp', [dwh])]), g.f32(0.5)]);
  const boxes = g.op1('Concat', [g.op1('Sub', [newCentre, half]), g.op1('Add', [newCentre, half])], { axis: int(1) });
  if (!coder.clipBorder) return boxes;
  // [h, w] -> the [w, h, w, h] upper bounds of (x1, y1, x2, y2).
  const wh = g.op1('Gather', [imgShape, g.i64([1, 0])], { axis: int(0) });
  const upper = g.op1('Unsqueeze', [g.op1('Concat', [wh, wh], { axis: int(0) }), g.i64([0])]);
  return g.op1('Min', [g.op1('Max', [boxes, g.f32(0)]), upper]);
}

/** The coder of a head as the exporters need it (its class's fields). */
export function deltaCoder(coder: unknown, where: string): DeltaXYWHBBoxCoder {
  if (!(coder instanceof DeltaXYWHBBoxCoder)) throw new Error(`ONNX export: ${where}: only DeltaXYWHBBoxCoder has an exporter, got ${String((coder as object)?.constructor?.name)}`);
  return coder;
}

/** ONNX NonMaxSuppression over one class: kept indices (int64 [M]) by descending score. */
function nmsOneClass(g: GraphBuilder, boxes: Value, scores: Value, iouThreshold: number): Value {
  const count = g.op1('Shape', [scores]);
  const selected = g.op1('NonMaxSuppression', [g.op1('Unsqueeze', [boxes, g.i64([0])]), g.op1('Unsqueeze', [scores, g.i64([0, 1])]), count, g.f32([iouThreshold])]);
  return g.op1('Reshape', [columns(g, selected, 2, 3), g.i64([-1])]);
}

/** mmcv's offset trick: boxes + idx * (max coordinate + 1), so groups never overlap. */
function offsetByGroup(g: GraphBuilder, boxes: Value, groups: Value): Value {
  // The float32 floor keeps ReduceMax defined when there is no box at all.
  const all = g.op1('Concat', [g.op1('Reshape', [boxes, g.i64([-1])]), g.f32([-FLOAT32_MAX])], { axis: int(0) });
  const maxCoordinate = g.op1('ReduceMax', [all], { keepdims: int(0) });
  const offsets = g.op1('Mul', [groups, g.op1('Add', [maxCoordinate, g.f32(1)])]);
  return g.op1('Add', [boxes, g.op1('Unsqueeze', [offsets, g.i64([1])])]);
}

/** NMS within each group through NonMaxSuppression's class axis, then all kept sorted by score. */
function nmsPerGroup(g: GraphBuilder, boxes: Value, scores: Value, groups: Value, numGroups: number, iouThreshold: number): Value {
  const groupIds = g.op1('Unsqueeze', [g.op1('Cast', [g.op1('Range', [g.i64(0), g.i64(numGroups), g.i64(1)])], { to: int(1) }), g.i64([1])]);
  const member = g.op1('Equal', [g.op1('Unsqueeze', [groups, g.i64([0])]), groupIds]);
  const perGroup = g.op1('Where', [member, g.op1('Unsqueeze', [scores, g.i64([0])]), g.f32(-Infinity)]);
  const count = g.op1('Shape', [scores]);
  const selected = g.op1('NonMaxSuppression', [g.op1('Unsqueeze', [boxes, g.i64([0])]), g.op1('Unsqueeze', [perGroup, g.i64([0])]), count, g.f32([iouThreshold]), g.f32([-FLOAT32_MAX])]);
  const kept = g.op1('Reshape', [columns(g, selected, 2, 3), g.i64([-1])]);
  const [, order] = g.op('TopK', [rows(g, scores, kept), g.op1('Shape', [kept])], { largest: int(1), sorted: int(1) }, 2);
  return rows(g, kept, order!);
}

export interface BatchedNmsOptions {
  /** Number of distinct group ids (FPN levels, classes): the class axis of the per-group path. */
  numGroups: number;
}

/**
 * mmcv's batched_nms(boxes [K, 4], scores [K], idxs [K] float32, nms_cfg): kept indices into the
 * inputs, by descending score. `nms` null only sorts (mmcv's nms_cfg None).
 */
export function batchedNms(g: GraphBuilder, boxes: Value, scores: Value, groups: Value, nms: NmsConfig | null, options: BatchedNmsOptions): Value {
  if (!nms) return g.op('TopK', [scores, g.op1('Shape', [scores])], { largest: int(1), sorted: int(1) }, 2)[1]!;
  if ((nms.offset ?? 0) !== 0) throw new Error('ONNX export: nms offset 1 (legacy +1 areas) has no ONNX NonMaxSuppression equivalent');
  let [b, s, ids, back] = [boxes, scores, groups, undefined as Value | undefined];
  if ((nms.score_threshold ?? 0) > 0) {
    // mmcv's nms drops boxes scoring <= score_threshold first and maps the kept indices back.
    back = whereTrue(g, g.op1('Greater', [scores, g.f32(nms.score_threshold!)]));
    [b, s, ids] = [rows(g, boxes, back), rows(g, scores, back), rows(g, groups, back)];
  }
  const agnostic = nms.class_agnostic ?? false;
  let keep: Value;
  if (agnostic) keep = nmsOneClass(g, b, s, nms.iou_threshold);
  else keep = splitByCount(g, b, s, ids, nms, options);
  if ((nms.max_num ?? -1) > 0) keep = g.op1('Slice', [keep, g.i64([0]), g.i64([nms.max_num!])]);
  return back ? rows(g, back, keep) : keep;
}

/** Below split_thr boxes the offset trick, above it NMS per group (mmcv's two paths), by an If node. */
function splitByCount(g: GraphBuilder, boxes: Value, scores: Value, groups: Value, nms: NmsConfig, options: BatchedNmsOptions): Value {
  const splitThr = nms.split_thr ?? 10000;
  const offsetBranch = g.subgraph();
  const keepOffset = nmsOneClass(offsetBranch, offsetByGroup(offsetBranch, boxes, groups), scores, nms.iou_threshold);
  offsetBranch.output(keepOffset, keepOffset, 'int64');
  const perGroupBranch = g.subgraph();
  const keepPerGroup = nmsPerGroup(perGroupBranch, boxes, scores, groups, options.numGroups, nms.iou_threshold);
  perGroupBranch.output(keepPerGroup, keepPerGroup, 'int64');
  const small = g.op1('Less', [g.op1('Shape', [scores]), g.i64([splitThr])]);
  return g.op1('If', [g.op1('Squeeze', [small])], {
    then_branch: graphAttribute(offsetBranch.toGraph('offset_trick', false)),
    else_branch: graphAttribute(perGroupBranch.toGraph('per_group', false)),
  });
}


export interface Detections {
  bboxes: Value;
  scores: Value;
  /** int64 class indices. */
  labels: Value;
}

export interface MulticlassNmsOptions {
  numClasses: number;
  /** `boxes` is [N, 4], shared by every class, instead of [N * C, 4] class-specific rows. */
  classAgnosticBoxes: boolean;
  scoreThr: number;
  nms: NmsConfig | null;
  /** Keep at most this many (<= 0: all). */
  maxNum: number;
}

/**
 * mmdet's multiclass_nms: candidates (box, class) in row-major order with the background column
 * dropped, those scoring above score_thr, batched NMS by class, the first max_num.
 * `scores` [N, C + 1]; `boxes` [N * C, 4] (class-specific) or [N, 4].
 */
export function multiclassNms(g: GraphBuilder, boxes: Value, scores: Value, options: MulticlassNmsOptions): Detections {
  const classes = options.numClasses;
  const candidateBoxes = options.classAgnosticBoxes ? g.op1('Reshape', [g.op1('Expand', [g.op1('Unsqueeze', [boxes, g.i64([1])]), g.i64([1, classes, 1])]), g.i64([-1, 4])]) : g.op1('Reshape', [boxes, g.i64([-1, 4])]);
  const fgScores = g.op1('Reshape', [g.op1('Slice', [scores, g.i64([0]), g.i64([classes]), g.i64([1])]), g.i64([-1])]);
  const labelGrid = g.op1('Expand', [g.f32(Array.from({ length: classes }, (_, c) => c), [1, classes]), g.op1('Concat', [dimOf(g, scores, 0), g.i64([classes])], { axis: int(0) })]);
  const valid = whereTrue(g, g.op1('Greater', [fgScores, g.f32(options.scoreThr)]));
  const [b, s, l] = [rows(g, candidateBoxes, valid), rows(g, fgScores, valid), rows(g, g.op1('Reshape', [labelGrid, g.i64([-1])]), valid)];
  let keep = batchedNms(g, b, s, l, options.nms, { numGroups: classes });
  if (options.maxNum > 0) keep = g.op1('Slice', [keep, g.i64([0]), g.i64([options.maxNum])]);
  return { bboxes: rows(g, b, keep), scores: rows(g, s, keep), labels: g.op1('Cast', [rows(g, l, keep)], { to: int(7) }) };
}
