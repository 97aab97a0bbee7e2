/**
 * Schema of an mmdet `nms=dict(type='nms', iou_threshold=...)` entry, for the heads whose
 * test_cfg holds one (RPN proposals, R-CNN detections). soft_nms is not ported: the schema
 * names the one supported type rather than failing later.
 */
import type { ConfigSchema } from '@tsdet/core';

export const nmsConfigSchema: ConfigSchema = {
  type: 'object',
  properties: {
    type: { enum: ['nms'], default: 'nms', description: "mmcv op name; only 'nms' is ported (no soft_nms)" },
    iou_threshold: { type: 'number', minimum: 0, maximum: 1 },
    offset: { enum: [0, 1], description: 'legacy +1 on widths and heights' },
    score_threshold: { type: 'number' },
    split_thr: { type: 'integer', minimum: 1, description: 'above this many boxes, NMS runs per group (default 10000)' },
    max_num: { type: 'integer' },
    class_agnostic: { type: 'boolean' },
  },
  required: ['iou_threshold'],
  additionalProperties: false,
};
