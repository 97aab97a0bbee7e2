/**
 * RoIAlign as a sparse linear map, built on the host from the rois (data, never trained).
 *
 * mmcv's RoIAlign (avg mode) is linear in the features: output cell (k, ph, pw) is a weighted
 * sum of feature-map pixels. Bilinear sampling is separable, and so is mmcv's "a sample outside
 * [-1, H] x [-1, W] contributes 0" rule, so a cell's weight on pixel (r, c) is
 * rowWeight[ph][r] * colWeight[pw][c] / count, where rowWeight sums the y-samples' bilinear
 * weights on row r (likewise for columns) and count = max(grid_h * grid_w, 1).
 *
 * The plan lists, per feature level, one entry (cell, pixel row, weight) per nonzero weight.
 * Coordinates are computed in float32 steps in the order of mmcv's kernel, so the sampling
 * grid, the edge snapping and the in/out decisions are the same as mmcv's.
 */

const f32 = Math.fround;

export interface RoiAlignOptions {
  /** Output [h, w] (or one size for both); mmdet uses 7. */
  outputSize: number | readonly [number, number];
  /** Map coordinates = image coordinates * spatialScale (1 / stride). Default 1. */
  spatialScale?: number;
  /** Samples per bin along each axis; 0 (default) = ceil(roi size / output size), per roi. */
  samplingRatio?: number;
  /** Pixel-centre convention: shift by -0.5 and do not clamp the roi size (default true, as mmcv). */
  aligned?: boolean;
}

/** The [N, H, W] of one feature level and its scale. */
export interface LevelGeometry {
  batch: number;
  height: number;
  width: number;
  spatialScale: number;
}

/** The entries of one level, in cell order: cell index k * oh * ow + ph * ow + pw, pixel row (n * H + y) * W + x. */
export interface LevelEntries {
  cells: Int32Array;
  pixels: Int32Array;
  weights: Float32Array;
}

export interface SamplingPlan {
  numRois: number;
  outputSize: readonly [number, number];
  levels: LevelEntries[];
}

/** For one roi along one axis: per output bin, the map indices read and their summed weights. */
interface AxisTaps {
  indices: number[][];
  weights: number[][];
}

export function pairOf(size: number | readonly [number, number]): [number, number] {
  return typeof size === 'number' ? [size, size] : [size[0], size[1]];
}

/**
 * Builds the plan for `rois` (flat [K * 5] rows of [batch_idx, x1, y1, x2, y2]) where roi k reads
 * level `levelOf[k]` of `levels`.
 */
export function buildSamplingPlan(rois: Float32Array, levelOf: ArrayLike<number>, levels: readonly LevelGeometry[], options: RoiAlignOptions): SamplingPlan {
  const numRois = rois.length / 5;
  if (!Number.isInteger(numRois)) throw new Error(`RoIAlign: rois must be [K, 5] ([batch_idx, x1, y1, x2, y2]), got ${rois.length} values`);
  const [outH, outW] = pairOf(options.outputSize);
  const builders = levels.map(() => new EntryBuilder());
  for (let k = 0; k < numRois; k++) {
    const level = levels[levelOf[k]!];
    if (!level) throw new RangeError(`RoIAlign: roi ${k} maps to level ${levelOf[k]}, but there are ${levels.length} levels`);
    const roi = rois.subarray(5 * k, 5 * k + 5);
    addRoi(builders[levelOf[k]!]!, k, roi, level, outH, outW, options);
  }
  return { numRois, outputSize: [outH, outW], levels: builders.map((b) => b.finish()) };
}

/** One roi's entries: the outer product of its row and column taps, per output cell. */
function addRoi(builder: EntryBuilder, k: number, roi: Float32Array, level: LevelGeometry, outH: number, outW: number, options: RoiAlignOptions): void {
  const batchIndex = roi[0]!;
  if (!Number.isInteger(batchIndex) || batchIndex < 0 || batchIndex >= level.batch) {
    throw new RangeError(`RoIAlign: roi ${k} has batch index ${batchIndex}, the features have ${level.batch} image(s)`);
  }
  const aligned = options.aligned ?? true;
  const scale = f32(level.spatialScale);
  const offset = aligned ? 0.5 : 0;
  const x = roiAxis(roi[1]!, roi[3]!, scale, offset, aligned, outW, options.samplingRatio ?? 0, k);
  const y = roiAxis(roi[2]!, roi[4]!, scale, offset, aligned, outH, options.samplingRatio ?? 0, k);
  const count = Math.max(y.grid * x.grid, 1);
  const rows = axisTaps(y.start, y.bin, y.grid, outH, level.height);
  const cols = axisTaps(x.start, x.bin, x.grid, outW, level.width);
  const imageBase = batchIndex * level.height;
  for (let ph = 0; ph < outH; ph++) {
    for (let pw = 0; pw < outW; pw++) {
      const cell = (k * outH + ph) * outW + pw;
      const [rowIdx, rowW, colIdx, colW] = [rows.indices[ph]!, rows.weights[ph]!, cols.indices[pw]!, cols.weights[pw]!];
      for (let i = 0; i < rowIdx.length; i++) {
        for (let j = 0; j < colIdx.length; j++) builder.push(cell, (imageBase + rowIdx[i]!) * level.width + colIdx[j]!, (rowW[i]! * colW[j]!) / count);
      }
    }
  }
}

/** Start, bin size and samples per bin of a roi along one axis, as mmcv's kernel computes them (float32). */
function roiAxis(from: number, to: number, scale: number, offset: number, aligned: boolean, pooled: number, samplingRatio: number, k: number): { start: number; bin: number; grid: number } {
  const start = f32(f32(from * scale) - offset);
  const end = f32(f32(to * scale) - offset);
  let size = f32(end - start);
  if (aligned && size < 0) throw new RangeError(`RoIAlign: roi ${k} has a negative size (${from} .. ${to}); aligned RoIAlign does not allow that (mmcv asserts)`);
  if (!aligned) size = Math.max(size, 1);
  const bin = f32(size / pooled);
  const grid = samplingRatio > 0 ? samplingRatio : Math.ceil(f32(size / pooled));
  return { start, bin, grid };
}

/**
 * For each of `pooled` bins, the map indices its `grid` samples read along this axis and the
 * summed bilinear weights (mmcv's bilinear_interpolate, one axis at a time).
 */
function axisTaps(start: number, bin: number, grid: number, pooled: number, limit: number): AxisTaps {
  const taps: AxisTaps = { indices: [], weights: [] };
  for (let p = 0; p < pooled; p++) {
    const indices: number[] = [];
    const weights: number[] = [];
    for (let i = 0; i < grid; i++) {
      const position = f32(f32(start + f32(p * bin)) + f32(f32((i + 0.5) * bin) / grid));
      for (const [index, weight] of sampleTaps(position, limit)) accumulate(indices, weights, index, weight);
    }
    taps.indices.push(indices);
    taps.weights.push(weights);
  }
  return taps;
}

/** One sample's (index, weight) pairs along an axis of `limit` pixels; none outside [-1, limit]. */
function sampleTaps(position: number, limit: number): [number, number][] {
  if (position < -1 || position > limit) return [];
  const clamped = Math.max(position, 0);
  const low = Math.floor(clamped);
  // At or past the last row/column mmcv snaps the sample onto it.
  if (low >= limit - 1) return [[limit - 1, 1]];
  const frac = f32(clamped - low);
  return [
    [low, f32(1 - frac)],
    [low + 1, frac],
  ];
}

/** Adds `weight` to `index`'s entry (a bin's samples share rows); zero weights are left out. */
function accumulate(indices: number[], weights: number[], index: number, weight: number): void {
  if (weight === 0) return;
  const at = indices.indexOf(index);
  if (at >= 0) {
    weights[at]! += weight;
  } else {
    indices.push(index);
    weights.push(weight);
  }
}

/** Growable typed arrays for one level's entries. */
class EntryBuilder {
  #cells = new Int32Array(1024);
  #pixels = new Int32Array(1024);
  #weights = new Float32Array(1024);
  #length = 0;

  push(cell: number, pixel: number, weight: number): void {
    if (this.#length === this.#cells.length) this.#grow();
    this.#cells[this.#length] = cell;
    this.#pixels[this.#length] = pixel;
    this.#weights[this.#length] = weight;
    this.#length++;
  }

  finish(): LevelEntries {
    return { cells: this.#cells.slice(0, this.#length), pixels: this.#pixels.slice(0, this.#length), weights: this.#weights.slice(0, this.#length) };
  }

  #grow(): void {
    const grow = <A extends Int32Array | Float32Array>(a: A, make: (n: number) => A): A => {
      const bigger = make(a.length * 2);
      bigger.set(a);
      return bigger;
    };
    this.#cells = grow(this.#cells, (n) => new Int32Array(n));
    this.#pixels = grow(this.#pixels, (n) => new Int32Array(n));
    this.#weights = grow(this.#weights, (n) => new Float32Array(n));
  }
}

/**
 * The same entries ordered by pixel (a stable counting sort), which the backward needs: it
 * scatters into pixel rows, band by band.
 */
export function entriesByPixel(entries: LevelEntries, numPixels: number): LevelEntries {
  const starts = new Int32Array(numPixels + 1);
  for (const pixel of entries.pixels) starts[pixel + 1]!++;
  for (let p = 0; p < numPixels; p++) starts[p + 1]! += starts[p]!;
  const sorted: LevelEntries = { cells: new Int32Array(entries.cells.length), pixels: new Int32Array(entries.cells.length), weights: new Float32Array(entries.cells.length) };
  entries.pixels.forEach((pixel, e) => {
    const at = starts[pixel]!++;
    sorted.cells[at] = entries.cells[e]!;
    sorted.pixels[at] = pixel;
    sorted.weights[at] = entries.weights[e]!;
  });
  return sorted;
}
