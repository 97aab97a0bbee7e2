import type { RawImage } from '../image/raw-image.js';
import type { DetResults } from './types.js';

/** The image a transform needs, or an error naming the transform and the missing key. */
export function requireImage(results: DetResults, transform: string): RawImage {
  if (!results.img) throw new Error(`${transform}: results have no 'img'; put LoadImageFromFile earlier in the pipeline`);
  return results.img;
}
