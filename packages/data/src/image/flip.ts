import type { RawImage } from './raw-image.js';
import { assertImageShape } from './raw-image.js';

/** mmcv's flip directions: left-right, up-down, or both (a 180 degree rotation). */
export type FlipDirection = 'horizontal' | 'vertical' | 'diagonal';

/** mmcv `imflip`: a mirrored copy of the image. */
export function flipImage(image: RawImage, direction: FlipDirection): RawImage {
  assertImageShape(image, 'flipImage');
  const { width, height, channels } = image;
  const mirrorX = direction !== 'vertical';
  const mirrorY = direction !== 'horizontal';
  const out = new Uint8Array(image.data.length);
  for (let y = 0; y < height; y++) {
    const sourceY = mirrorY ? height - 1 - y : y;
    for (let x = 0; x < width; x++) {
      const sourceX = mirrorX ? width - 1 - x : x;
      const from = (sourceY * width + sourceX) * channels;
      const to = (y * width + x) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = image.data[from + c]!;
    }
  }
  return { ...image, data: out };
}
