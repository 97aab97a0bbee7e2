/**
 * The ConvFCBBoxHead config (mmdet's BBoxHead arguments plus ConvFCBBoxHead's branch counts,
 * mmdet-reference §4.7) and its JSON schema; Shared2FCBBoxHead and Shared4Conv1FCBBoxHead fix
 * the branch counts, so a config that sets them is an error (mmdet: "got multiple values").
 */
import { componentRef, type ComponentConfig, type ConfigSchema } from '@tsdet/core';
import { normConfigSchema, type NormConfig } from '../../layers/norm.js';

export interface ConvFCBBoxHeadConfig {
  /** Average-pool each RoI to 1x1 before the fcs instead of flattening it. */
  with_avg_pool: boolean;
  with_cls: boolean;
  with_reg: boolean;
  roi_feat_size: number | [number, number];
  /** Channels of the RoI features. */
  in_channels: number;
  num_classes: number;
  bbox_coder: ComponentConfig;
  predict_box_type: 'hbox';
  /** One box for every class (4 outputs) instead of one per class (4 * num_classes). */
  reg_class_agnostic: boolean;
  reg_decoded_bbox: boolean;
  reg_predictor_cfg: { type: 'Linear' };
  cls_predictor_cfg: { type: 'Linear' };
  loss_cls: ComponentConfig;
  loss_bbox: ComponentConfig;
  num_shared_convs: number;
  num_shared_fcs: number;
  num_cls_convs: number;
  num_cls_fcs: number;
  num_reg_convs: number;
  num_reg_fcs: number;
  conv_out_channels: number;
  fc_out_channels: number;
  conv_cfg: { type: 'Conv2d' | 'Conv' } | null;
  norm_cfg: NormConfig | null;
  /** null: mmdet's init (Normal 0.01 / 0.001 for fc_cls / fc_reg, Xavier uniform for the branch fcs). */
  init_cfg: null;
}

/** BBoxHead's and ConvFCBBoxHead's defaults. */
export const CONVFC_DEFAULTS = {
  with_avg_pool: false,
  with_cls: true,
  with_reg: true,
  roi_feat_size: 7,
  in_channels: 256,
  num_classes: 80,
  bbox_coder: { type: 'DeltaXYWHBBoxCoder', clip_border: true, target_means: [0, 0, 0, 0], target_stds: [0.1, 0.1, 0.2, 0.2] },
  loss_cls: { type: 'CrossEntropyLoss', use_sigmoid: false, loss_weight: 1 },
  loss_bbox: { type: 'SmoothL1Loss', beta: 1, loss_weight: 1 },
  conv_out_channels: 256,
  fc_out_channels: 1024,
} as const;

const count = { type: 'integer', minimum: 0, default: 0 };
const positiveInteger = { type: 'integer', minimum: 1 };

export function convFCBBoxHeadSchema(fixed: Partial<Record<keyof ConvFCBBoxHeadConfig, unknown>> = {}): ConfigSchema {
  const properties: Record<string, unknown> = {
    with_avg_pool: { type: 'boolean', default: CONVFC_DEFAULTS.with_avg_pool },
    with_cls: { type: 'boolean', default: CONVFC_DEFAULTS.with_cls },
    with_reg: { type: 'boolean', default: CONVFC_DEFAULTS.with_reg },
    roi_feat_size: { anyOf: [positiveInteger, { type: 'array', items: positiveInteger, minItems: 2, maxItems: 2 }], default: CONVFC_DEFAULTS.roi_feat_size },
    in_channels: { ...positiveInteger, default: CONVFC_DEFAULTS.in_channels },
    num_classes: { ...positiveInteger, default: CONVFC_DEFAULTS.num_classes, description: 'foreground classes; the background is score column num_classes' },
    bbox_coder: { ...componentRef('TASK_UTILS', 'roi <-> box deltas'), default: CONVFC_DEFAULTS.bbox_coder },
    predict_box_type: { const: 'hbox', default: 'hbox', description: 'horizontal boxes only' },
    reg_class_agnostic: { type: 'boolean', default: false },
    reg_decoded_bbox: { type: 'boolean', default: false },
    reg_predictor_cfg: { type: 'object', properties: { type: { const: 'Linear' } }, required: ['type'], additionalProperties: false, default: { type: 'Linear' } },
    cls_predictor_cfg: { type: 'object', properties: { type: { const: 'Linear' } }, required: ['type'], additionalProperties: false, default: { type: 'Linear' } },
    loss_cls: { ...componentRef('MODELS', 'classification loss'), default: CONVFC_DEFAULTS.loss_cls },
    loss_bbox: { ...componentRef('MODELS', 'delta regression loss'), default: CONVFC_DEFAULTS.loss_bbox },
    num_shared_convs: count,
    num_shared_fcs: count,
    num_cls_convs: count,
    num_cls_fcs: count,
    num_reg_convs: count,
    num_reg_fcs: count,
    conv_out_channels: { ...positiveInteger, default: CONVFC_DEFAULTS.conv_out_channels },
    fc_out_channels: { ...positiveInteger, default: CONVFC_DEFAULTS.fc_out_channels },
    conv_cfg: {
      type: ['object', 'null'],
      properties: { type: { enum: ['Conv2d', 'Conv'] } },
      required: ['type'],
      additionalProperties: false,
      default: null,
    },
    norm_cfg: { ...normConfigSchema, type: ['object', 'null'], default: null },
    init_cfg: { type: 'null', default: null, description: "mmdet's default init only" },
  };
  for (const key of Object.keys(fixed)) delete properties[key];
  return { properties };
}
