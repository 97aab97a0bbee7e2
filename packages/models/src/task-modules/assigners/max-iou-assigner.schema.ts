/** Schema of mmdet's MaxIoUAssigner config: every constructor argument with its default. */
import type { ConfigSchema } from '@tsdet/core';

export interface MaxIoUAssignerConfig {
  pos_iou_thr: number;
  neg_iou_thr: number | [number, number];
  min_pos_iou: number;
  gt_max_assign_all: boolean;
  ignore_iof_thr: number;
  ignore_wrt_candidates: boolean;
  match_low_quality: boolean;
  gpu_assign_thr: number;
  iou_calculator: { type: 'BboxOverlaps2D'; scale?: number; dtype?: null };
  perm_repeat_gt_cfg: null;
}

const unit = { type: 'number', minimum: 0, maximum: 1 };

export const maxIoUAssignerSchema: ConfigSchema = {
  properties: {
    pos_iou_thr: { type: 'number', description: 'IoU threshold for positives' },
    neg_iou_thr: {
      anyOf: [{ type: 'number' }, { type: 'array', items: [unit, { type: 'number' }], minItems: 2, maxItems: 2 }],
      description: 'IoU threshold for negatives: a float (0 <= IoU < thr) or [lo, hi] (lo <= IoU < hi, lo >= 0)',
    },
    min_pos_iou: { type: 'number', default: 0, description: 'minimum IoU for a low-quality match' },
    gt_max_assign_all: { type: 'boolean', default: true, description: 'low-quality matching assigns every prior tied at the best IoU' },
    ignore_iof_thr: { type: 'number', default: -1, description: 'IoF threshold against ignore boxes; <= 0 disables' },
    ignore_wrt_candidates: { type: 'boolean', default: true, description: 'IoF relative to the prior (true) or to the ignore box (false)' },
    match_low_quality: { type: 'boolean', default: true },
    gpu_assign_thr: { type: 'number', default: -1, description: 'accepted for mmdet compatibility; no effect (assignment runs on the host)' },
    iou_calculator: {
      type: 'object',
      properties: {
        type: { const: 'BboxOverlaps2D' },
        scale: { const: 1, description: 'fp16 scaling is not ported' },
        dtype: { const: null, description: 'fp16 is not ported' },
      },
      required: ['type'],
      additionalProperties: false,
      default: { type: 'BboxOverlaps2D' },
    },
    perm_repeat_gt_cfg: { const: null, default: null, description: 'repeated-gt permutation is not ported' },
  },
  required: ['pos_iou_thr', 'neg_iou_thr'],
};
