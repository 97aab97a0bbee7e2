/**
 * The RPNHead config, argument by argument as mmdet's RPNHead and AnchorHead (mmdet-reference
 * §4.4), with AnchorHead's defaults, and its JSON schema. `train_cfg` / `test_cfg` are the
 * detector's `train_cfg.rpn` / `test_cfg.rpn`, handed down when a detector builds the head.
 */
import { componentRef, type ComponentConfig, type ConfigSchema } from '@tsdet/core';
import { nullable, proposalConfigSchema, rpnTrainConfigSchema, type ProposalConfig, type RpnTrainConfig } from '../../detectors/train-test-cfg.schema.js';

/** mmengine's NormalInit as RPNHead's default init_cfg applies it (to every Conv2d). */
export interface NormalInitConfig {
  type: 'Normal';
  layer: 'Conv2d';
  mean: number;
  std: number;
  bias: number;
}

export interface RPNHeadConfig {
  in_channels: number;
  /** Always 1 (objectness); a detector forces it. */
  num_classes: number;
  feat_channels: number;
  /** 1: a plain 3x3 conv; more: a stack of 3x3 ConvModules with ReLU. */
  num_convs: number;
  anchor_generator: ComponentConfig;
  bbox_coder: ComponentConfig;
  /** Regress decoded boxes in the loss (training only). */
  reg_decoded_bbox: boolean;
  loss_cls: ComponentConfig;
  loss_bbox: ComponentConfig;
  train_cfg: RpnTrainConfig | null;
  test_cfg: ProposalConfig | null;
  /** null: PyTorch's default Conv2d init instead of mmdet's Normal(std 0.01). */
  init_cfg: NormalInitConfig | null;
}

export const RPN_HEAD_DEFAULTS = {
  feat_channels: 256,
  num_convs: 1,
  // AnchorHead's defaults (mmdet configs always override the scales).
  anchor_generator: { type: 'AnchorGenerator', scales: [8, 16, 32], ratios: [0.5, 1.0, 2.0], strides: [4, 8, 16, 32, 64] },
  bbox_coder: { type: 'DeltaXYWHBBoxCoder', clip_border: true, target_means: [0, 0, 0, 0], target_stds: [1, 1, 1, 1] },
  loss_cls: { type: 'CrossEntropyLoss', use_sigmoid: true, loss_weight: 1 },
  loss_bbox: { type: 'SmoothL1Loss', beta: 1 / 9, loss_weight: 1 },
  init_cfg: { type: 'Normal', layer: 'Conv2d', mean: 0, std: 0.01, bias: 0 },
} as const;

export const normalInitConfigSchema: ConfigSchema = {
  type: ['object', 'null'],
  properties: {
    type: { const: 'Normal' },
    layer: { const: 'Conv2d', default: 'Conv2d', description: 'the head has only Conv2d layers' },
    mean: { type: 'number', default: 0 },
    std: { type: 'number', exclusiveMinimum: 0, default: 1 },
    bias: { type: 'number', default: 0 },
  },
  required: ['type'],
  additionalProperties: false,
  default: RPN_HEAD_DEFAULTS.init_cfg,
};

export function rpnHeadSchema(): ConfigSchema {
  return {
    properties: {
      in_channels: { type: 'integer', minimum: 1, description: 'channels of every input level' },
      num_classes: { type: 'integer', default: 1, description: 'must be 1 (objectness); a two-stage detector forces it' },
      feat_channels: { type: 'integer', minimum: 1, default: RPN_HEAD_DEFAULTS.feat_channels },
      num_convs: { type: 'integer', minimum: 1, default: RPN_HEAD_DEFAULTS.num_convs },
      anchor_generator: { ...componentRef('TASK_UTILS', 'anchors per level (AnchorGenerator)'), default: RPN_HEAD_DEFAULTS.anchor_generator },
      bbox_coder: { ...componentRef('TASK_UTILS', 'anchor <-> box deltas (DeltaXYWHBBoxCoder)'), default: RPN_HEAD_DEFAULTS.bbox_coder },
      reg_decoded_bbox: { type: 'boolean', default: false },
      loss_cls: { ...componentRef('MODELS', 'objectness loss'), default: RPN_HEAD_DEFAULTS.loss_cls },
      loss_bbox: { ...componentRef('MODELS', 'delta regression loss'), default: RPN_HEAD_DEFAULTS.loss_bbox },
      train_cfg: nullable(rpnTrainConfigSchema),
      test_cfg: nullable(proposalConfigSchema),
      init_cfg: normalInitConfigSchema,
    },
    required: ['in_channels'],
  };
}
