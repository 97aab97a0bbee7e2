/**
 * cv2.resize for uint8 HWC images, transcribed so that mmcv's `imresize` / `imrescale` results can
 * be reproduced in plain JS (no tensors, no native code).
 *
 * Bilinear is cv2's INTER_LINEAR fixed-point path for 8-bit images (imgproc/src/resize.cpp):
 * pixel-centre aligned sample positions computed in float32, 11-bit weights rounded half-even, a
 * horizontal pass into int32 rows, then the vertical blend with cv2's truncating arithmetic
 * `((w0 * (a >> 4)) >> 16) + ((w1 * (b >> 4)) >> 16) + 2) >> 2`, which its SIMD kernels and its C
 * fallback share. That arithmetic is not round(bilinear): 5 and 0 blended at 0.9 / 0.1 give 4, not
 * 4.5 rounded up. cv2's exact-2x shrink switches to INTER_AREA, whose (sum of 4 + 2) >> 2 is what
 * the formula above yields there too. Not ported: the IPP and HAL backends, which opencv-python
 * does not use for 8-bit INTER_LINEAR. This was written from the source, not compared with a cv2
 * run (there is no cv2 on this machine); the tests hold values worked out by hand from it.
 *
 * Why not sharp: libvips' `resize` (kernel 'linear' included) is a reducing filter whose taps
 * widen when shrinking and whose sample grid differs from cv2's, so it is not INTER_LINEAR: on a
 * 640x480 -> 1067x800 test pattern nearly every value differed, by 5 levels on average and up to
 * 128 at edges. The detection models were trained on cv2's output; this transcription costs
 * about 35 ms for that image on one core.
 */
import type { RawImage } from './raw-image.js';
import { assertImageShape } from './raw-image.js';

/** mmcv's interpolation names that this port implements (cv2 INTER_LINEAR, INTER_NEAREST). */
export type Interpolation = 'bilinear' | 'nearest';

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

/** Resizes to exactly `width` x `height`, as `cv2.resize(img, (width, height), interpolation)`. */
export function resizeImage(image: RawImage, width: number, height: number, interpolation: Interpolation = 'bilinear'): RawImage {
  assertImageShape(image, 'resizeImage');
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`resizeImage: target size must be positive integers, got ${width}x${height}`);
  }
  // cv2 copies when the size does not change.
  if (width === image.width && height === image.height) return { ...image, data: image.data.slice() };
  const data = interpolation === 'nearest' ? resizeNearest(image, width, height) : resizeBilinear(image, width, height);
  return { ...image, data, width, height };
}

/** cv2 INTER_NEAREST: floor(dst * src/dst), no half-pixel offset (unlike INTER_NEAREST_EXACT). */
function resizeNearest(image: RawImage, width: number, height: number): Uint8Array {
  const cn = image.channels;
  const sourceX = nearestIndices(image.width, width);
  const sourceY = nearestIndices(image.height, height);
  const out = new Uint8Array(width * height * cn);
  for (let dy = 0; dy < height; dy++) {
    const rowStart = sourceY[dy]! * image.width * cn;
    for (let dx = 0; dx < width; dx++) {
      const from = rowStart + sourceX[dx]! * cn;
      const to = (dy * width + dx) * cn;
      for (let c = 0; c < cn; c++) out[to + c] = image.data[from + c]!;
    }
  }
  return out;
}

function nearestIndices(sourceSize: number, targetSize: number): Int32Array {
  const inverseScale = 1 / (targetSize / sourceSize);
  const indices = new Int32Array(targetSize);
  for (let d = 0; d < targetSize; d++) indices[d] = Math.min(Math.floor(d * inverseScale), sourceSize - 1);
  return indices;
}

/** Two source taps per output position with 11-bit weights that sum to 2048. */
interface LinearTaps {
  first: Int32Array;
  second: Int32Array;
  firstWeight: Int32Array;
  secondWeight: Int32Array;
}

/**
 * cv2's coefficient tables: src = (dst + 0.5) * scale - 0.5 in float32, weights rounded to
 * nearest-even in 11 bits. Columns outside the image snap to the border pixel with weight 1
 * (cv2 zeroes fx there); rows keep their fractional weights and read clamped rows instead.
 */
function linearTaps(sourceSize: number, targetSize: number, snapBorders: boolean): LinearTaps {
  const scale = 1 / (targetSize / sourceSize); // cv2: scale_x = 1. / inv_scale_x
  const taps: LinearTaps = { first: new Int32Array(targetSize), second: new Int32Array(targetSize), firstWeight: new Int32Array(targetSize), secondWeight: new Int32Array(targetSize) };
  for (let d = 0; d < targetSize; d++) {
    const position = Math.fround((d + 0.5) * scale - 0.5);
    let index = Math.floor(position);
    let fraction = Math.fround(position - index);
    if (snapBorders && index < 0) [index, fraction] = [0, 0];
    if (snapBorders && index >= sourceSize - 1) [index, fraction] = [sourceSize - 1, 0];
    taps.first[d] = clampIndex(index, sourceSize);
    taps.second[d] = clampIndex(index + 1, sourceSize);
    taps.firstWeight[d] = roundHalfEven(Math.fround(1 - fraction) * COEF_SCALE);
    taps.secondWeight[d] = roundHalfEven(fraction * COEF_SCALE);
  }
  return taps;
}

function clampIndex(index: number, size: number): number {
  return Math.min(Math.max(index, 0), size - 1);
}

/** cvRound / saturate_cast<short>(float) on x86: round half to even. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function resizeBilinear(image: RawImage, width: number, height: number): Uint8Array {
  const columns = linearTaps(image.width, width, true);
  const rows = linearTaps(image.height, height, false);
  const cache = new HorizontalRowCache(image, columns, width);
  const rowLength = width * image.channels;
  const out = new Uint8Array(rowLength * height);
  for (let dy = 0; dy < height; dy++) {
    const top = cache.row(rows.first[dy]!);
    const bottom = cache.row(rows.second[dy]!);
    blendRows(top, bottom, rows.firstWeight[dy]!, rows.secondWeight[dy]!, out.subarray(dy * rowLength, (dy + 1) * rowLength));
  }
  return out;
}

/**
 * Horizontal pass results (pixel * 2048 sums, int32) for the last two source rows used: rows
 * are visited in order, so each source row is filtered once, as cv2's ring buffer does.
 */
class HorizontalRowCache {
  readonly #slots: { index: number; values: Int32Array }[];
  #recent = 0;

  constructor(
    private readonly image: RawImage,
    private readonly columns: LinearTaps,
    width: number,
  ) {
    const length = width * image.channels;
    this.#slots = [
      { index: -1, values: new Int32Array(length) },
      { index: -1, values: new Int32Array(length) },
    ];
  }

  row(index: number): Int32Array {
    let slot = this.#slots.findIndex((s) => s.index === index);
    if (slot < 0) {
      slot = 1 - this.#recent;
      this.#filter(index, this.#slots[slot]!.values);
      this.#slots[slot]!.index = index;
    }
    this.#recent = slot;
    return this.#slots[slot]!.values;
  }

  #filter(sourceRow: number, into: Int32Array): void {
    const { data, width, channels } = this.image;
    const rowStart = sourceRow * width * channels;
    const { first, second, firstWeight, secondWeight } = this.columns;
    for (let dx = 0; dx < first.length; dx++) {
      const a = rowStart + first[dx]! * channels;
      const b = rowStart + second[dx]! * channels;
      for (let c = 0; c < channels; c++) into[dx * channels + c] = data[a + c]! * firstWeight[dx]! + data[b + c]! * secondWeight[dx]!;
    }
  }
}

/** cv2's VResizeLinear for uint8: combines two filtered rows with 11-bit row weights. */
function blendRows(top: Int32Array, bottom: Int32Array, topWeight: number, bottomWeight: number, out: Uint8Array): void {
  for (let x = 0; x < out.length; x++) {
    const sum = (((top[x]! >> 4) * topWeight) >> 16) + (((bottom[x]! >> 4) * bottomWeight) >> 16);
    out[x] = clampByte((sum + 2) >> 2);
  }
}

function clampByte(value: number): number {
  return value < 0 ? 0 : value > 255 ? 255 : value;
}
