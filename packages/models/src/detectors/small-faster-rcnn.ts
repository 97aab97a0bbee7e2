/**
 * A small Faster R-CNN config of the size tsdet's embedded default trains on wasm: ResNet-18 at
 * base width 16 (stem and stage 1 frozen, BN in eval mode as mmdet's default), FPN to 32
 * channels, RPN and RoI head as mmdet's faster-rcnn_r50_fpn with 64-wide box fcs and
 * `numClasses` classes, mmdet's train_cfg (RPN 256 samples, RCNN 512) and test_cfg. Used by
 * the loss tests and the train-step benchmark; it is a plain config, built through MODELS.
 */
import type { ComponentConfig } from '@tsdet/core';

export function smallFasterRCNNConfig(numClasses = 4): ComponentConfig {
  const deltaCoder = (stds: number[]) => ({ type: 'DeltaXYWHBBoxCoder', target_means: [0, 0, 0, 0], target_stds: stds });
  return {
    type: 'FasterRCNN',
    backbone: { type: 'ResNet', depth: 18, base_channels: 16, num_stages: 4, out_indices: [0, 1, 2, 3], frozen_stages: 1, norm_cfg: { type: 'BN', requires_grad: true }, norm_eval: true, style: 'pytorch' },
    neck: { type: 'FPN', in_channels: [16, 32, 64, 128], out_channels: 32, num_outs: 5 },
    rpn_head: {
      type: 'RPNHead',
      in_channels: 32,
      feat_channels: 32,
      anchor_generator: { type: 'AnchorGenerator', scales: [8], ratios: [0.5, 1.0, 2.0], strides: [4, 8, 16, 32, 64] },
      bbox_coder: deltaCoder([1, 1, 1, 1]),
      loss_cls: { type: 'CrossEntropyLoss', use_sigmoid: true, loss_weight: 1 },
      loss_bbox: { type: 'L1Loss', loss_weight: 1 },
    },
    roi_head: {
      type: 'StandardRoIHead',
      bbox_roi_extractor: { type: 'SingleRoIExtractor', roi_layer: { type: 'RoIAlign', output_size: 7, sampling_ratio: 0 }, out_channels: 32, featmap_strides: [4, 8, 16, 32] },
      bbox_head: {
        type: 'Shared2FCBBoxHead',
        in_channels: 32,
        fc_out_channels: 64,
        roi_feat_size: 7,
        num_classes: numClasses,
        bbox_coder: deltaCoder([0.1, 0.1, 0.2, 0.2]),
        reg_class_agnostic: false,
        loss_cls: { type: 'CrossEntropyLoss', use_sigmoid: false, loss_weight: 1 },
        loss_bbox: { type: 'L1Loss', loss_weight: 1 },
      },
    },
    train_cfg: {
      rpn: {
        assigner: { type: 'MaxIoUAssigner', pos_iou_thr: 0.7, neg_iou_thr: 0.3, min_pos_iou: 0.3, match_low_quality: true, ignore_iof_thr: -1 },
        sampler: { type: 'RandomSampler', num: 256, pos_fraction: 0.5, neg_pos_ub: -1, add_gt_as_proposals: false },
        allowed_border: -1,
        pos_weight: -1,
        debug: false,
      },
      rpn_proposal: { nms_pre: 2000, max_per_img: 1000, nms: { type: 'nms', iou_threshold: 0.7 }, min_bbox_size: 0 },
      rcnn: {
        assigner: { type: 'MaxIoUAssigner', pos_iou_thr: 0.5, neg_iou_thr: 0.5, min_pos_iou: 0.5, match_low_quality: false, ignore_iof_thr: -1 },
        sampler: { type: 'RandomSampler', num: 512, pos_fraction: 0.25, neg_pos_ub: -1, add_gt_as_proposals: true },
        pos_weight: -1,
        debug: false,
      },
    },
    test_cfg: {
      rpn: { nms_pre: 1000, max_per_img: 1000, nms: { type: 'nms', iou_threshold: 0.7 }, min_bbox_size: 0 },
      rcnn: { score_thr: 0.05, nms: { type: 'nms', iou_threshold: 0.5 }, max_per_img: 100 },
    },
  };
}
