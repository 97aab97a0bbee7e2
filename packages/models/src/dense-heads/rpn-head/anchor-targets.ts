/**
 * The host half of AnchorHead.get_targets (mmdet-reference §4.4) for the RPN: per image, the
 * anchors inside the image (valid flags, allowed_border), MaxIoU assignment against the gts
 * (ignored boxes handed to the assigner), sampling, then labels / label weights over every
 * anchor and the positives' (anchor, gt) pairs to encode. Then the batch laid out as the
 * per-level losses read it: level-major, then image, then anchor (an NHWC head output of level l
 * reshaped to [-1, c] has its rows image by image in (y, x, a) order).
 *
 * Everything here is typed arrays: the only tensors of the RPN loss are built from these once.
 */
import type { BoxInstances, Shape2 } from '../../detectors/structures.js';
import type { Size2 } from '../../task-modules/anchor-generator/anchor-generator.js';
import type { PriorAssigner } from '../../task-modules/assigners/assigner.js';
import type { PriorSampler } from '../../task-modules/samplers/sampler.js';
import type { SamplingResult } from '../../task-modules/samplers/sampling-result.js';

/** The anchors of one feature-map configuration, shared by every image of a batch. */
export interface AnchorSet {
  /** [h, w] of each level's feature map. */
  readonly sizes: readonly Size2[];
  /** Per level, flat [n_l * 4]. */
  readonly levels: readonly Float32Array[];
  /** Every level concatenated, flat [N * 4] (mmdet's torch.cat(anchor_list[i])). */
  readonly all: Float32Array;
  /** n_l per level. */
  readonly counts: readonly number[];
  /** Index of each level's first anchor in `all`. */
  readonly starts: readonly number[];
}

export function anchorSetOf(levels: Float32Array[], sizes: readonly Size2[]): AnchorSet {
  const counts = levels.map((l) => l.length / 4);
  const starts = counts.map((_, l) => counts.slice(0, l).reduce((s, n) => s + n, 0));
  const all = new Float32Array(levels.reduce((s, l) => s + l.length, 0));
  levels.forEach((l, i) => all.set(l, starts[i]! * 4));
  return { sizes, levels, all, counts, starts };
}

export interface AnchorTargetOptions {
  assigner: PriorAssigner;
  sampler: PriorSampler;
  /** train_cfg.allowed_border: anchors may cross the image border by this much; < 0: any valid anchor. */
  allowedBorder: number;
  /** train_cfg.pos_weight: label weight of positives; <= 0 means 1. */
  posWeight: number;
  /** The background label (num_classes: 1 for an RPN). */
  backgroundLabel: number;
  random: () => number;
}

/** One image's targets over all N anchors (anchors outside the image: background, weight 0). */
export interface ImageAnchorTargets {
  readonly labels: Int32Array;
  readonly labelWeights: Float32Array;
  /** Index in the concatenated anchors of each sampled positive, with its anchor and gt box. */
  readonly posAnchorIndices: Int32Array;
  readonly posAnchors: Float32Array;
  readonly posGtBboxes: Float32Array;
  readonly sampling: SamplingResult;
}

/** mmdet's anchor_inside_flags: valid, and with allowed_border >= 0 within the image grown by it. */
export function insideFlags(anchors: Float32Array, validFlags: Uint8Array, imgShape: Shape2, allowedBorder: number): Uint8Array {
  if (allowedBorder < 0) return validFlags;
  const [h, w] = imgShape;
  const b = allowedBorder;
  return validFlags.map((v, i) => (v && anchors[4 * i]! >= -b && anchors[4 * i + 1]! >= -b && anchors[4 * i + 2]! < w + b && anchors[4 * i + 3]! < h + b ? 1 : 0));
}

function rowsOf(boxes: Float32Array, indices: ArrayLike<number>): Float32Array {
  const out = new Float32Array(indices.length * 4);
  for (let k = 0; k < indices.length; k++) out.set(boxes.subarray(4 * indices[k]!, 4 * indices[k]! + 4), 4 * k);
  return out;
}

/** AnchorHead._get_targets_single with unmap_outputs: assign and sample the inside anchors, map back. */
export function imageAnchorTargets(anchors: AnchorSet, validFlags: Uint8Array, imgShape: Shape2, gt: BoxInstances, ignore: BoxInstances | undefined, options: AnchorTargetOptions): ImageAnchorTargets {
  const inside = insideFlags(anchors.all, validFlags, imgShape, options.allowedBorder);
  const insideIndices = Int32Array.from(inside.reduce<number[]>((acc, v, i) => (v ? (acc.push(i), acc) : acc), []));
  if (insideIndices.length === 0) {
    throw new Error('RPN targets: there is no valid anchor inside the image boundary. Check the image size and anchor sizes, or set train_cfg.rpn.allowed_border to -1 to skip the condition');
  }
  const priors = rowsOf(anchors.all, insideIndices);
  const assigned = options.assigner.assign(priors, gt.bboxes, gt.labels, ignore?.bboxes);
  const sampling = options.sampler.sample(assigned, priors, gt.bboxes, gt.labels, options.random);
  const total = anchors.all.length / 4;
  const labels = new Int32Array(total).fill(options.backgroundLabel);
  const labelWeights = new Float32Array(total);
  const posAnchorIndices = Int32Array.from(sampling.posInds, (i) => insideIndices[i]!);
  const posWeight = options.posWeight <= 0 ? 1 : options.posWeight;
  posAnchorIndices.forEach((a, k) => {
    labels[a] = sampling.posGtLabels[k]!;
    labelWeights[a] = posWeight;
  });
  for (const i of sampling.negInds) labelWeights[insideIndices[i]!] = 1;
  return { labels, labelWeights, posAnchorIndices, posAnchors: sampling.posPriors, posGtBboxes: sampling.posGtBboxes, sampling };
}

/** The batch's targets in loss layout: row B * start_l + b * n_l + i for anchor i of level l, image b. */
export interface BatchAnchorTargets {
  readonly labels: Int32Array;
  readonly labelWeights: Float32Array;
  /** [rows * 4]: 1 on the positives' four columns. */
  readonly bboxWeights: Float32Array;
  /** Row of each positive, with its anchor and gt box (flat [P * 4]). */
  readonly posRows: Int32Array;
  readonly posAnchors: Float32Array;
  readonly posGtBboxes: Float32Array;
  /** Σ over images of SamplingResult.avg_factor. */
  readonly avgFactor: number;
  /** First row and row count of each level. */
  readonly levelRows: readonly { start: number; count: number }[];
}

function levelOf(anchor: number, starts: readonly number[]): number {
  let level = 0;
  while (level + 1 < starts.length && anchor >= starts[level + 1]!) level++;
  return level;
}

export function batchAnchorTargets(images: readonly ImageAnchorTargets[], anchors: AnchorSet): BatchAnchorTargets {
  const batch = images.length;
  const total = anchors.all.length / 4;
  const rowOf = (image: number, anchor: number): number => {
    const level = levelOf(anchor, anchors.starts);
    return batch * anchors.starts[level]! + image * anchors.counts[level]! + (anchor - anchors.starts[level]!);
  };
  const labels = new Int32Array(batch * total);
  const labelWeights = new Float32Array(batch * total);
  const bboxWeights = new Float32Array(batch * total * 4);
  const numPos = images.reduce((s, t) => s + t.posAnchorIndices.length, 0);
  const posRows = new Int32Array(numPos);
  const posAnchors = new Float32Array(numPos * 4);
  const posGtBboxes = new Float32Array(numPos * 4);
  let p = 0;
  images.forEach((t, image) => {
    for (let a = 0; a < total; a++) {
      const row = rowOf(image, a);
      labels[row] = t.labels[a]!;
      labelWeights[row] = t.labelWeights[a]!;
    }
    t.posAnchorIndices.forEach((a, k) => {
      const row = rowOf(image, a);
      bboxWeights.fill(1, 4 * row, 4 * row + 4);
      posRows[p] = row;
      posAnchors.set(t.posAnchors.subarray(4 * k, 4 * k + 4), 4 * p);
      posGtBboxes.set(t.posGtBboxes.subarray(4 * k, 4 * k + 4), 4 * p);
      p++;
    });
  });
  const avgFactor = images.reduce((s, t) => s + t.sampling.avgFactor, 0);
  const levelRows = anchors.counts.map((n, l) => ({ start: batch * anchors.starts[l]!, count: batch * n }));
  return { labels, labelWeights, bboxWeights, posRows, posAnchors, posGtBboxes, avgFactor, levelRows };
}
