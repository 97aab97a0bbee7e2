/**
 * Horizontal boxes as mmdet's `HorizontalBoxes` holds them: N x 4 float32, (x1, y1, x2, y2) in
 * pixels, here flat in a Float32Array. Every function returns a new array; float32 storage
 * rounds each result exactly as the torch float32 ops do.
 */
import type { FlipDirection } from '../image/flip.js';

/** (height, width), mmdet's `img_shape` order. */
export type Shape = readonly [height: number, width: number];

export function boxCount(boxes: Float32Array): number {
  if (boxes.length % 4 !== 0) throw new Error(`boxes: expected N x 4 values, got ${boxes.length}`);
  return boxes.length / 4;
}

/** `HorizontalBoxes.rescale_`: x by the width factor, y by the height factor (float32 factors, as torch). */
export function rescaleBoxes(boxes: Float32Array, [widthScale, heightScale]: readonly [number, number]): Float32Array {
  const sx = Math.fround(widthScale);
  const sy = Math.fround(heightScale);
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxCount(boxes) * 4; i += 4) {
    out[i] = boxes[i]! * sx;
    out[i + 1] = boxes[i + 1]! * sy;
    out[i + 2] = boxes[i + 2]! * sx;
    out[i + 3] = boxes[i + 3]! * sy;
  }
  return out;
}

/** `HorizontalBoxes.clip_`: x into [0, width], y into [0, height]. */
export function clipBoxes(boxes: Float32Array, [height, width]: Shape): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxCount(boxes) * 4; i += 4) {
    out[i] = clamp(boxes[i]!, width);
    out[i + 1] = clamp(boxes[i + 1]!, height);
    out[i + 2] = clamp(boxes[i + 2]!, width);
    out[i + 3] = clamp(boxes[i + 3]!, height);
  }
  return out;
}

function clamp(value: number, max: number): number {
  return Math.min(Math.max(value, 0), max);
}

/** `HorizontalBoxes.flip_` in an image of `shape`: x1' = W - x2, x2' = W - x1 (and likewise in y). */
export function flipBoxes(boxes: Float32Array, [height, width]: Shape, direction: FlipDirection): Float32Array {
  const out = boxes.slice();
  const flipX = direction !== 'vertical';
  const flipY = direction !== 'horizontal';
  for (let i = 0; i < boxCount(boxes) * 4; i += 4) {
    if (flipX) [out[i], out[i + 2]] = [width - boxes[i + 2]!, width - boxes[i]!];
    if (flipY) [out[i + 1], out[i + 3]] = [height - boxes[i + 3]!, height - boxes[i + 1]!];
  }
  return out;
}
