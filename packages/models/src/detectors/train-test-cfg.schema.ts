/**
 * The `train_cfg` / `test_cfg` dicts of two-stage detectors (mmdet-reference §4.1), key by key,
 * and their schemas. The detector validates them as a whole and hands each head its part
 * (`rpn`, `rpn_proposal`, `rcnn`). Assigner and sampler are plain dicts for now, with exactly
 * the keys of mmdet's MaxIoUAssigner and RandomSampler: the training issue turns them into
 * TASK_UTILS components. Unknown keys are errors everywhere.
 */
import type { ConfigSchema } from '@tsdet/core';
import type { NmsConfig } from '../task-modules/nms/nms-core.js';
import { nmsConfigSchema } from '../task-modules/nms/nms.schema.js';

export interface MaxIoUAssignerConfig {
  type: 'MaxIoUAssigner';
  pos_iou_thr: number;
  neg_iou_thr: number | [number, number];
  min_pos_iou: number;
  gt_max_assign_all: boolean;
  ignore_iof_thr: number;
  ignore_wrt_candidates: boolean;
  match_low_quality: boolean;
  gpu_assign_thr: number;
  iou_calculator: { type: 'BboxOverlaps2D'; scale?: number; dtype?: string | null };
  perm_repeat_gt_cfg: null;
}

export interface RandomSamplerConfig {
  type: 'RandomSampler';
  num: number;
  pos_fraction: number;
  neg_pos_ub: number;
  add_gt_as_proposals: boolean;
}

/** train_cfg.rpn: anchor targets of the RPN. */
export interface RpnTrainConfig {
  assigner: MaxIoUAssignerConfig;
  sampler?: RandomSamplerConfig;
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
  assigner: MaxIoUAssignerConfig;
  sampler: RandomSamplerConfig;
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

const iou = { type: 'number', minimum: -1, maximum: 1 };

export const maxIoUAssignerSchema: ConfigSchema = {
  type: 'object',
  properties: {
    type: { const: 'MaxIoUAssigner', description: 'the only assigner ported so far' },
    pos_iou_thr: { ...iou, description: 'priors with max IoU >= this are positive' },
    neg_iou_thr: { anyOf: [iou, { type: 'array', items: iou, minItems: 2, maxItems: 2 }], description: 'max IoU below this (or within [lo, hi)) is negative' },
    min_pos_iou: { ...iou, default: 0 },
    gt_max_assign_all: { type: 'boolean', default: true },
    ignore_iof_thr: { type: 'number', default: -1 },
    ignore_wrt_candidates: { type: 'boolean', default: true },
    match_low_quality: { type: 'boolean', default: true },
    gpu_assign_thr: { type: 'number', default: -1, description: 'accepted for mmdet configs; there is no GPU/CPU switch' },
    iou_calculator: {
      type: 'object',
      properties: { type: { const: 'BboxOverlaps2D' }, scale: { type: 'number' }, dtype: { type: ['string', 'null'] } },
      required: ['type'],
      additionalProperties: false,
      default: { type: 'BboxOverlaps2D' },
    },
    perm_repeat_gt_cfg: { type: 'null', default: null, description: 'repeated-gt permutation is not ported' },
  },
  required: ['type', 'pos_iou_thr', 'neg_iou_thr'],
  additionalProperties: false,
};

export const randomSamplerSchema: ConfigSchema = {
  type: 'object',
  properties: {
    type: { const: 'RandomSampler', description: 'the only sampler ported so far' },
    num: { type: 'integer', minimum: 1, description: 'samples per image' },
    pos_fraction: { type: 'number', minimum: 0, maximum: 1 },
    neg_pos_ub: { type: 'number', default: -1, description: 'negatives at most this times the positives (-1: no bound)' },
    add_gt_as_proposals: { type: 'boolean', default: true },
  },
  required: ['type', 'num', 'pos_fraction'],
  additionalProperties: false,
};

export const rpnTrainConfigSchema: ConfigSchema = {
  type: 'object',
  properties: {
    assigner: maxIoUAssignerSchema,
    sampler: randomSamplerSchema,
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
    assigner: maxIoUAssignerSchema,
    sampler: randomSamplerSchema,
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
