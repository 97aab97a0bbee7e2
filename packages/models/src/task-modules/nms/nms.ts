/**
 * The tensor face of NMS, shaped like mmcv's and mmdet's functions: boxes [N, 4] and scores
 * [N] in, `dets` [k, 5] (box + score) and int32 `keep` indices out. The work is done on the
 * host by nms-core.ts (NMS is a sequential, data-dependent loop); the inputs are read with
 * dataSync, the outputs are new tensors the caller owns.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchedNmsIndices, multiclassNmsArrays, nmsIndices, type NmsConfig, type NmsOptions } from './nms-core.js';

export interface NmsResult {
  /** [k, 5]: [x1, y1, x2, y2, score] of the kept boxes, descending score. */
  dets: tf.Tensor2D;
  /** [k] int32 indices of the kept boxes in the input. */
  keep: tf.Tensor1D;
}

export interface MulticlassNmsResult {
  dets: tf.Tensor2D;
  /** [k] int32 class of each detection. */
  labels: tf.Tensor1D;
  /** [k] int32 index of each detection among the flattened N * numClasses candidates. */
  inds: tf.Tensor1D;
}

function readBoxes(boxes: tf.Tensor2D, what: string): Float32Array {
  if (boxes.rank !== 2 || boxes.shape[1] !== 4) throw new Error(`${what}: boxes must be [N, 4], got [${boxes.shape.join(', ')}]`);
  return boxes.dataSync() as Float32Array;
}

/** dets [k, 5] from the input boxes at `keep` and the given scores. */
function detsTensor(boxes: Float32Array, keep: Int32Array, scores: ArrayLike<number>): tf.Tensor2D {
  const dets = new Float32Array(keep.length * 5);
  keep.forEach((i, k) => {
    dets.set(boxes.subarray(4 * i, 4 * i + 4), 5 * k);
    dets[5 * k + 4] = scores[k]!;
  });
  return tf.tensor2d(dets, [keep.length, 5]);
}

/** mmcv.ops.nms(boxes, scores, iou_threshold): kept indices sorted by score, and the dets. */
export function nms(boxes: tf.Tensor2D, scores: tf.Tensor1D, iouThreshold: number, options: NmsOptions = {}): NmsResult {
  const boxData = readBoxes(boxes, 'nms');
  const scoreData = scores.dataSync() as Float32Array;
  const keep = nmsIndices(boxData, scoreData, iouThreshold, options);
  return { dets: detsTensor(boxData, keep, Array.from(keep, (i) => scoreData[i]!)), keep: tf.tensor1d(keep, 'int32') };
}

/** mmcv.ops.batched_nms(boxes, scores, idxs, nms_cfg, class_agnostic): NMS within each group id. */
export function batchedNms(boxes: tf.Tensor2D, scores: tf.Tensor1D, idxs: tf.Tensor1D, config: NmsConfig | null, classAgnostic = false): NmsResult {
  const boxData = readBoxes(boxes, 'batched_nms');
  const result = batchedNmsIndices(boxData, scores.dataSync() as Float32Array, idxs.dataSync(), config, classAgnostic);
  return { dets: detsTensor(boxData, result.keep, result.scores), keep: tf.tensor1d(result.keep, 'int32') };
}

/**
 * mmdet's multiclass_nms(multi_bboxes, multi_scores, score_thr, nms_cfg, max_num, score_factors):
 * `bboxes` [N, 4] or [N, 4 * C], `scores` [N, C + 1] with the background last.
 */
export function multiclassNms(bboxes: tf.Tensor2D, scores: tf.Tensor2D, scoreThr: number, config: NmsConfig | null, maxNum = -1, scoreFactors?: tf.Tensor1D): MulticlassNmsResult {
  const numBoxes = scores.shape[0];
  if (bboxes.shape[0] !== numBoxes) throw new Error(`multiclass_nms: ${bboxes.shape[0]} box rows for ${numBoxes} score rows`);
  const result = multiclassNmsArrays(bboxes.dataSync() as Float32Array, scores.dataSync() as Float32Array, numBoxes, scoreThr, config, {
    maxNum,
    scoreFactors: scoreFactors?.dataSync(),
  });
  return {
    dets: tf.tensor2d(result.dets, [result.labels.length, 5]),
    labels: tf.tensor1d(result.labels, 'int32'),
    inds: tf.tensor1d(result.inds, 'int32'),
  };
}
