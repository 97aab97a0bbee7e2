/** The MaxIoUAssigner TASK_UTILS descriptor. */
import { defineComponent } from '@tsdet/core';
import { MaxIoUAssigner } from './max-iou-assigner.js';
import { maxIoUAssignerSchema, type MaxIoUAssignerConfig } from './max-iou-assigner.schema.js';

export const maxIoUAssignerDescriptor = defineComponent<MaxIoUAssignerConfig, MaxIoUAssigner>({
  type: 'MaxIoUAssigner',
  description: 'Max-IoU prior-to-gt assigner (mmdet MaxIoUAssigner)',
  schema: maxIoUAssignerSchema,
  build: (cfg) =>
    new MaxIoUAssigner({
      posIouThr: cfg.pos_iou_thr,
      negIouThr: cfg.neg_iou_thr,
      minPosIou: cfg.min_pos_iou,
      gtMaxAssignAll: cfg.gt_max_assign_all,
      ignoreIofThr: cfg.ignore_iof_thr,
      ignoreWrtCandidates: cfg.ignore_wrt_candidates,
      matchLowQuality: cfg.match_low_quality,
      gpuAssignThr: cfg.gpu_assign_thr,
    }),
});
