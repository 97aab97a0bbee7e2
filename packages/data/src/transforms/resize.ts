import { defineComponent, type ConfigSchema } from '@tsdet/core';
import { clipBoxes, rescaleBoxes } from '../boxes/boxes.js';
import { rescaleSize, scaleSize } from '../image/geometry.js';
import type { RawImage } from '../image/raw-image.js';
import { resizeImage, type Interpolation } from '../image/resize.js';
import { requireImage } from './require.js';
import type { DetResults, Transform } from './types.js';

type Pair = readonly [number, number];

export interface ResizeConfig {
  /** A (w, h) target, or with keep_ratio the (long, short) edge limits; a number means (n, n). */
  scale?: number | Pair | null;
  /** Used when `scale` is not set: multiplies the image size. */
  scale_factor?: number | Pair | null;
  keep_ratio: boolean;
  /** Clip resized boxes to the new image. */
  clip_object_border: boolean;
  /** Only cv2 semantics are implemented (see image/resize.ts for the kernel). */
  backend: 'cv2';
  interpolation: Interpolation;
}

const DEFAULTS: Omit<ResizeConfig, 'scale' | 'scale_factor'> = { keep_ratio: false, clip_object_border: true, backend: 'cv2', interpolation: 'bilinear' };

/**
 * mmdet Resize (mmcv Resize plus box handling): resizes `img`, sets `img_shape`, `scale`,
 * `scale_factor` = (new_w / w, new_h / h) and `keep_ratio`, and rescales `gt_bboxes` if present.
 * mmdet's homography matrix is not recorded.
 */
export class Resize implements Transform {
  readonly cfg: ResizeConfig;
  readonly #scale: Pair | undefined;
  readonly #scaleFactor: Pair | undefined;

  constructor(cfg: Partial<ResizeConfig>) {
    this.cfg = { ...DEFAULTS, ...cfg };
    this.#scale = asPair(cfg.scale);
    this.#scaleFactor = asPair(cfg.scale_factor);
    if (!this.#scale && !this.#scaleFactor) throw new Error('Resize: `scale` and `scale_factor` can not both be unset');
  }

  transform(results: DetResults): DetResults {
    const img = requireImage(results, 'Resize');
    // mmcv: a scale_factor becomes a target size first; with keep_ratio that size is then used as edge limits.
    const scale = this.#scale ?? scaleSize([img.width, img.height], this.#scaleFactor!);
    const resized = this.#resize(img, scale);
    const imgShape = [resized.height, resized.width] as const;
    const scaleFactor = [resized.width / img.width, resized.height / img.height] as const;
    const out: DetResults = { ...results, img: resized, img_shape: imgShape, scale, scale_factor: scaleFactor, keep_ratio: this.cfg.keep_ratio };
    return results.gt_bboxes ? { ...out, gt_bboxes: this.#resizeBoxes(results.gt_bboxes, scaleFactor, imgShape) } : out;
  }

  #resize(img: RawImage, scale: Pair): RawImage {
    const [width, height] = this.cfg.keep_ratio ? rescaleSize([img.width, img.height], scale).size : scale;
    return resizeImage(img, width, height, this.cfg.interpolation);
  }

  #resizeBoxes(boxes: Float32Array, scaleFactor: Pair, imgShape: Pair): Float32Array {
    const rescaled = rescaleBoxes(boxes, scaleFactor);
    return this.cfg.clip_object_border ? clipBoxes(rescaled, imgShape) : rescaled;
  }
}

function asPair(value: number | Pair | null | undefined): Pair | undefined {
  if (value === null || value === undefined) return undefined;
  return typeof value === 'number' ? [value, value] : value;
}

/** A positive number, or a pair of them. */
function numberOrPair(description: string): ConfigSchema {
  const positive = { type: 'number', exclusiveMinimum: 0 };
  return { oneOf: [positive, { type: 'array', items: positive, minItems: 2, maxItems: 2 }, { type: 'null' }], description };
}

export const resizeDescriptor = defineComponent<ResizeConfig, Resize>({
  type: 'Resize',
  description: 'resize the image (cv2 INTER_LINEAR semantics) and its boxes; keep_ratio uses mmcv rescale rules',
  schema: {
    properties: {
      scale: numberOrPair('(w, h) target, or (long, short) edge limits with keep_ratio'),
      scale_factor: numberOrPair('size multiplier, used when scale is not set'),
      keep_ratio: { type: 'boolean', default: DEFAULTS.keep_ratio },
      clip_object_border: { type: 'boolean', default: DEFAULTS.clip_object_border },
      backend: { enum: ['cv2'], default: DEFAULTS.backend },
      interpolation: { enum: ['bilinear', 'nearest'], default: DEFAULTS.interpolation },
    },
  },
  build: (cfg) => new Resize(cfg),
});
