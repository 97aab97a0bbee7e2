/**
 * Trainable RoIAlign (mmcv semantics, avg mode) for NHWC features.
 *
 * The rois are data, so the sampling is planned on the host (sampling-plan.ts) as a sparse
 * matrix; the forward and backward apply it with a few tensor ops per feature level:
 *   forward   out[cell]  += w * F[pixel]    (gatherND of pixel rows, scale, scatterND-add into cells)
 *   backward  dF[pixel]  += w * dOut[cell]  (gatherND of cell rows, scale, scatterND-add into pixels)
 * which is the exact transpose. tf.customGrad gives the features that gradient and the rois a
 * zero one. On wasm the sparse products run as one kernel of tsdet's (@tsdet/core
 * weightedScatterAdd); elsewhere as gatherND, a multiply and scatterND (tf.gather's kernel is
 * ~15x slower on wasm, and its gradient needs UnsortedSegmentSum, which wasm lacks).
 */
import * as tf from '@tensorflow/tfjs-core';
import { weightedScatterAdd, weightedScatterAddApplies, type ScatterEntries } from '@tsdet/core';
import { buildSamplingPlan, entriesByPixel, type LevelGeometry, type RoiAlignOptions, type SamplingPlan } from './sampling-plan.js';

export type { RoiAlignOptions } from './sampling-plan.js';

/**
 * Gathered rows per op: bounds the [rows, C] temporaries (64 MB at C = 256) so a big batch of
 * rois does not exhaust the 4 GB wasm heap.
 */
const MAX_ROWS_PER_CHUNK = 65536;

/**
 * mmcv RoIAlign on one feature map: features [N, H, W, C], rois [K, 5] of
 * [batch_idx, x1, y1, x2, y2] in image pixels -> [K, outH, outW, C].
 */
export function roiAlign(features: tf.Tensor4D, rois: tf.Tensor2D, options: RoiAlignOptions): tf.Tensor4D {
  const levels = new Int32Array(rois.shape[0]);
  return multiLevelRoiAlign([features], rois, levels, [options.spatialScale ?? 1], options);
}

/**
 * RoIAlign over several feature levels in one op: roi k reads `features[levelOf[k]]` at
 * `spatialScales[levelOf[k]]`. Every level must have the same batch and channel count. The
 * output rows follow the rois' order.
 */
export function multiLevelRoiAlign(features: tf.Tensor4D[], rois: tf.Tensor2D, levelOf: ArrayLike<number>, spatialScales: readonly number[], options: Omit<RoiAlignOptions, 'spatialScale'>): tf.Tensor4D {
  const geometry = levelGeometry(features, spatialScales, rois);
  const plan = buildSamplingPlan(rois.dataSync() as Float32Array, levelOf, geometry, options);
  const channels = features[0]!.shape[3];
  const [outH, outW] = plan.outputSize;
  // customGrad calls f with the inputs followed by its `save` function.
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const inputs = args.filter((a): a is tf.Tensor => a instanceof tf.Tensor);
    const levelInputs = inputs.slice(0, features.length) as tf.Tensor4D[];
    const value = tf.reshape(applyPlan(plan, levelInputs, channels), [plan.numRois, outH, outW, channels]) as tf.Tensor4D;
    const gradFunc = (dy: tf.Tensor) => [...transposePlan(plan, dy, geometry, channels), tf.zerosLike(inputs[features.length]!)];
    return { value, gradFunc };
  });
  return op(...features, rois) as tf.Tensor4D;
}

function levelGeometry(features: tf.Tensor4D[], spatialScales: readonly number[], rois: tf.Tensor2D): LevelGeometry[] {
  if (features.length === 0) throw new Error('RoIAlign: no feature maps');
  if (spatialScales.length !== features.length) throw new Error(`RoIAlign: ${spatialScales.length} spatial scales for ${features.length} feature maps`);
  if (rois.rank !== 2 || rois.shape[1] !== 5) throw new Error(`RoIAlign: rois must be [K, 5] ([batch_idx, x1, y1, x2, y2]), got [${rois.shape.join(', ')}]`);
  const [batch, , , channels] = features[0]!.shape;
  return features.map((f, i) => {
    if (f.rank !== 4 || f.shape[0] !== batch || f.shape[3] !== channels) {
      throw new Error(`RoIAlign: feature map ${i} is [${f.shape.join(', ')}]; every level must be NHWC with batch ${batch} and ${channels} channels`);
    }
    return { batch, height: f.shape[1], width: f.shape[2], spatialScale: spatialScales[i]! };
  });
}

/**
 * out[to[e]] += weights[e] * rows[from[e]] over the entries of every set (each set with its own
 * rows, e.g. one feature level), as one [outRows, C] matrix. On wasm one in-place kernel of
 * @tsdet/core (all sets at once, no [entries, C] temporaries: RoIAlign of 1000 rois at 800x1216
 * ~10x faster); elsewhere scatterWithTfOps.
 */
export function weightedScatter(sets: readonly ScatterEntries[], outRows: number, maxRowsPerChunk = MAX_ROWS_PER_CHUNK): tf.Tensor2D {
  if (weightedScatterAddApplies(sets[0]!.rows.shape[1])) return weightedScatterAdd(sets, outRows);
  return scatterWithTfOps(sets, outRows, maxRowsPerChunk);
}

/**
 * weightedScatter with tfjs ops (gatherND, multiply, scatterND) and the sets summed. Each set's
 * `to` must be ascending: each chunk then covers its own band of output rows, scatters into that
 * band only, and the bands are concatenated (no full-size temporary per chunk).
 */
export function scatterWithTfOps(sets: readonly ScatterEntries[], outRows: number, maxRowsPerChunk = MAX_ROWS_PER_CHUNK): tf.Tensor2D {
  return tf.tidy(() => {
    const perSet = sets.filter((set) => set.to.length > 0).map((set) => scatterSet(set, outRows, maxRowsPerChunk));
    if (perSet.length === 0) return tf.zeros([outRows, sets[0]!.rows.shape[1]]);
    return perSet.length === 1 ? perSet[0]! : (tf.addN(perSet) as tf.Tensor2D);
  });
}

function scatterSet({ rows, from, to, weights }: ScatterEntries, outRows: number, maxRowsPerChunk: number): tf.Tensor2D {
  const bands: tf.Tensor2D[] = [];
  let bandStart = 0;
  for (let begin = 0; begin < to.length; ) {
    const end = chunkEnd(to, begin, maxRowsPerChunk);
    const bandEnd = end === to.length ? outRows : to[end - 1]! + 1;
    bands.push(tf.tidy(() => scatterBand(rows, from.subarray(begin, end), to.subarray(begin, end), weights.subarray(begin, end), bandStart, bandEnd)));
    bandStart = bandEnd;
    begin = end;
  }
  return bands.length === 1 ? bands[0]! : (tf.concat(bands) as tf.Tensor2D);
}

/** End of the chunk starting at `begin`: at most `maxRows` entries, never splitting one output row. */
function chunkEnd(to: Int32Array, begin: number, maxRows: number): number {
  let end = Math.min(begin + maxRows, to.length);
  while (end < to.length && end > begin + 1 && to[end] === to[end - 1]) end--;
  // A single output row with more entries than a chunk: take all of them.
  if (end === begin + 1 && end < to.length && to[end] === to[begin]) while (end < to.length && to[end] === to[begin]) end++;
  return end;
}

function scatterBand(rows: tf.Tensor2D, from: Int32Array, to: Int32Array, weights: Float32Array, bandStart: number, bandEnd: number): tf.Tensor2D {
  const n = from.length;
  const gathered = tf.gatherND(rows, tf.tensor2d(from, [n, 1], 'int32'));
  const scaled = tf.mul(gathered, tf.tensor2d(weights, [n, 1]));
  // A plain loop: Int32Array.from with a map callback cost ~100 ms per training step here.
  const local = new Int32Array(n);
  for (let i = 0; i < n; i++) local[i] = to[i]! - bandStart;
  return tf.scatterND(tf.tensor2d(local, [n, 1], 'int32'), scaled, [bandEnd - bandStart, rows.shape[1]]) as tf.Tensor2D;
}

/** Forward: [numCells, C] = every level's entries (in cell order) applied to its pixel matrix. */
function applyPlan(plan: SamplingPlan, features: tf.Tensor4D[], channels: number): tf.Tensor2D {
  const numCells = plan.numRois * plan.outputSize[0] * plan.outputSize[1];
  return tf.tidy(() => {
    const sets = plan.levels.map((entries, level) => ({ rows: tf.reshape(features[level]!, [-1, channels]) as tf.Tensor2D, from: entries.pixels, to: entries.cells, weights: entries.weights }));
    return weightedScatter(sets, numCells);
  });
}

/** Backward: per level, dF[pixel] = sum over its entries of w * dy[cell]. */
function transposePlan(plan: SamplingPlan, dy: tf.Tensor, geometry: LevelGeometry[], channels: number): tf.Tensor4D[] {
  return tf.tidy(() => {
    const cells = tf.reshape(dy, [-1, channels]) as tf.Tensor2D;
    return plan.levels.map((entries, level) => {
      const { batch, height, width } = geometry[level]!;
      const numPixels = batch * height * width;
      const byPixel = entriesByPixel(entries, numPixels);
      const grad = weightedScatter([{ rows: cells, from: byPixel.cells, to: byPixel.pixels, weights: byPixel.weights }], numPixels);
      return tf.reshape(grad, [batch, height, width, channels]) as tf.Tensor4D;
    });
  });
}
