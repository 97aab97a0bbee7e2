import { defineComponent } from '@tsdet/core';
import { loadImage, type ColorType } from '../image/load-image.js';
import type { ChannelOrder } from '../image/raw-image.js';
import type { DetResults, Transform } from './types.js';

export interface LoadImageFromFileConfig {
  color_type: ColorType;
  /** tsdet extension (mmcv's `imfrombytes(channel_order=...)`): 'bgr' as mmdet, or 'rgb'. */
  channel_order: ChannelOrder;
  /** Drop the sample (return null) instead of failing when the file cannot be read. */
  ignore_empty: boolean;
  /** mmdet configs pass `backend_args=None`; only local files are read. */
  backend_args?: null;
}

const DEFAULTS: LoadImageFromFileConfig = { color_type: 'color', channel_order: 'bgr', ignore_empty: false };

/** mmcv LoadImageFromFile: reads `img_path`, sets `img`, `img_shape` and `ori_shape` (h, w). */
export class LoadImageFromFile implements Transform {
  readonly cfg: LoadImageFromFileConfig;

  constructor(cfg: Partial<LoadImageFromFileConfig> = {}) {
    this.cfg = { ...DEFAULTS, ...cfg };
  }

  async transform(results: DetResults): Promise<DetResults | null> {
    const path = results.img_path;
    if (typeof path !== 'string') throw new Error(`LoadImageFromFile: results have no 'img_path'`);
    try {
      const img = await loadImage(path, { channelOrder: this.cfg.channel_order, colorType: this.cfg.color_type });
      const shape = [img.height, img.width] as const;
      return { ...results, img, img_shape: shape, ori_shape: shape };
    } catch (error) {
      if (this.cfg.ignore_empty) return null;
      throw error;
    }
  }
}

export const loadImageFromFileDescriptor = defineComponent<LoadImageFromFileConfig, LoadImageFromFile>({
  type: 'LoadImageFromFile',
  description: 'decode img_path to an HWC uint8 image (BGR by default, EXIF orientation applied)',
  schema: {
    properties: {
      color_type: { enum: ['color', 'color_ignore_orientation'], default: DEFAULTS.color_type },
      channel_order: { enum: ['bgr', 'rgb'], default: DEFAULTS.channel_order },
      ignore_empty: { type: 'boolean', default: DEFAULTS.ignore_empty },
      backend_args: { type: 'null', description: 'only local files (backend_args=None)' },
    },
  },
  build: (cfg) => new LoadImageFromFile(cfg),
});
