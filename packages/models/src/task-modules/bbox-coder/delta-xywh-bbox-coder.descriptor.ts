/** The DeltaXYWHBBoxCoder config (mmdet's constructor arguments) and its TASK_UTILS descriptor. */
import { defineComponent, type ConfigSchema } from '@tsdet/core';
import { DEFAULT_WH_RATIO_CLIP, DeltaXYWHBBoxCoder } from './delta-xywh-bbox-coder.js';

export interface DeltaXYWHBBoxCoderConfig {
  target_means: [number, number, number, number];
  target_stds: [number, number, number, number];
  clip_border: boolean;
  add_ctr_clamp: boolean;
  ctr_clamp: number;
  wh_ratio_clip: number;
  use_box_type: boolean;
}

const quad = (items: Record<string, unknown>, fill: number) => ({ type: 'array', items, minItems: 4, maxItems: 4, default: [fill, fill, fill, fill] });

export const deltaXYWHBBoxCoderSchema: ConfigSchema = {
  properties: {
    target_means: quad({ type: 'number' }, 0),
    target_stds: quad({ type: 'number', exclusiveMinimum: 0 }, 1),
    clip_border: { type: 'boolean', default: true },
    add_ctr_clamp: { type: 'boolean', default: false },
    ctr_clamp: { type: 'number', exclusiveMinimum: 0, default: 32 },
    wh_ratio_clip: {
      type: 'number',
      exclusiveMinimum: 0,
      exclusiveMaximum: 1,
      default: DEFAULT_WH_RATIO_CLIP,
      description: "decode's default wh_ratio_clip (a decode argument in mmdet; a tsdet config key)",
    },
    use_box_type: { const: false, default: false, description: 'box-type wrappers are not ported' },
  },
};

export const deltaXYWHBBoxCoderDescriptor = defineComponent<DeltaXYWHBBoxCoderConfig, DeltaXYWHBBoxCoder>({
  type: 'DeltaXYWHBBoxCoder',
  description: 'Box <-> (dx, dy, dw, dh) delta coder (mmdet DeltaXYWHBBoxCoder)',
  schema: deltaXYWHBBoxCoderSchema,
  build: (cfg) =>
    new DeltaXYWHBBoxCoder({
      targetMeans: cfg.target_means,
      targetStds: cfg.target_stds,
      clipBorder: cfg.clip_border,
      addCtrClamp: cfg.add_ctr_clamp,
      ctrClamp: cfg.ctr_clamp,
      whRatioClip: cfg.wh_ratio_clip,
    }),
});
