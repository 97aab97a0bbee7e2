/**
 * The `train_cfg` / `test_cfg` dicts of two-stage detectors (mmdet-reference §4.1), key by key,
 * and their schemas. The detector validates them as a whole and hands each head its part
 * (`rpn`, `rpn_proposal`, `rcnn`). Assigner and sampler are TASK_UTILS components
 * (MaxIoUAssigner, RandomSampler), validated against their own schemas. Unknown keys are errors
 * everywhere.
 */
import { componentRef, type ComponentConfig, type ConfigSchema } from '@tsdet/core';
import type { NmsConfig } from '../task-modules/nms/nms-core.js';
import { nmsConfigSchema } from '../task-modules/nms/nms.schema.js';

/** train_cfg.rpn: anchor targets of the RPN. */
export interface RpnTrainConfig {
  assigner: ComponentConfig;
  sampler?: ComponentConfig;
  allowed_border: number;
  pos_weight: number;
  debug: boolean;
}

/** test_cfg.rpn and train_cfg.rpn_proposal: how the RPN turns its maps into proposals. */
export interface ProposalConfig {
  /** Per level, keep the top nms_pre scores before NMS (<= 0: all). */
  nms_pre: number;
  max_per_img: number;
  nms: NmsConfig;
  /** Boxes need w and h strictly greater than this; -1 (mmdet's default when absent) keeps all. */
  min_bbox_size: number;
}

/** train_cfg.rcnn: RoI sampling for the box head. */
export interface RcnnTrainConfig {
  assigner: ComponentConfig;
  sampler: ComponentConfig;
  pos_weight: number;
  debug: boolean;
}

/** test_cfg.rcnn: detection post-processing. */
export interface RcnnTestConfig {
  score_thr: number;
  nms: NmsConfig;
  max_per_img: number;
}

export interface TwoStageTrainConfig {
  rpn?: RpnTrainConfig;
  rpn_proposal?: ProposalConfig;
  rcnn?: RcnnTrainConfig;
}

export interface TwoStageTestConfig {
  rpn?: ProposalConfig;
  rcnn?: RcnnTestConfig;
}

const assignerRef = componentRef('TASK_UTILS', 'assigns each prior to a ground truth (MaxIoUAssigner)');
const samplerRef = componentRef('TASK_UTILS', 'chooses the priors that enter the loss (RandomSampler)');

export const rpnTrainConfigSchema: ConfigSchema = {
  type: 'object',
  properties: {
    assigner: assignerRef,
    sampler: samplerRef,
    allowed_border: { type: 'number', description: 'anchors may cross the image border by this many pixels; -1: any' },
    pos_weight: { type: 'number', description: 'label weight of positives; <= 0 means 1' },
    debug: { type: 'boolean', default: false },
  },
  required: ['assigner', 'allowed_border', 'pos_weight'],
  additionalProperties: false,
};

export const proposalConfigSchema: ConfigSchema = {
  type: 'object',
  properties: {
    nms_pre: { type: 'integer', default: -1, description: 'per level, the top nms_pre scores go to NMS (<= 0: all)' },
    max_per_img: { type: 'integer', minimum: 1, description: 'proposals kept per image after NMS' },
    nms: nmsConfigSchema,
    min_bbox_size: { type: 'number', default: -1, description: 'w and h must be strictly greater; -1 keeps every box' },
  },
  required: ['max_per_img', 'nms'],
  additionalProperties: false,
};

export const rcnnTrainConfigSchema: ConfigSchema = {
  type: 'object',
  properties: {
    assigner: assignerRef,
    sampler: samplerRef,
    pos_weight: { type: 'number', description: 'label weight of positives; <= 0 means 1' },
    debug: { type: 'boolean', default: false },
  },
  required: ['assigner', 'sampler', 'pos_weight'],
  additionalProperties: false,
};

export const rcnnTestConfigSchema: ConfigSchema = {
  type: 'object',
  properties: {
    score_thr: { type: 'number', minimum: 0, maximum: 1, description: 'class scores must be strictly above this' },
    nms: nmsConfigSchema,
    max_per_img: { type: 'integer', description: 'detections kept per image (<= 0: all)' },
  },
  required: ['score_thr', 'nms', 'max_per_img'],
  additionalProperties: false,
};

export const twoStageTrainConfigSchema: ConfigSchema = {
  type: ['object', 'null'],
  properties: { rpn: rpnTrainConfigSchema, rpn_proposal: proposalConfigSchema, rcnn: rcnnTrainConfigSchema },
  additionalProperties: false,
  default: null,
};

export const twoStageTestConfigSchema: ConfigSchema = {
  type: ['object', 'null'],
  properties: { rpn: proposalConfigSchema, rcnn: rcnnTestConfigSchema },
  additionalProperties: false,
  default: null,
};

/** A sub-config that may be absent: the schema of `schema` or null, default null. */
export function nullable(schema: ConfigSchema): ConfigSchema {
  const type = schema['type'];
  return { ...schema, type: Array.isArray(type) ? [...new Set([...type, 'null'])] : [type, 'null'], default: null };
}
