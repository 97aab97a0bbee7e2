/**
 * The ResNet config, argument by argument as mmdetection's (mmdet-reference §1.5), and its
 * JSON schema. Keys stay snake_case so mmdet configs port unchanged.
 */
import { componentRef, type ComponentConfig, type ConfigSchema } from '@tsdet/core';
import { normConfigSchema, type NormConfig } from '../../layers/norm.js';

export const RESNET_DEPTHS = [18, 34, 50, 101, 152] as const;
export type ResNetDepth = (typeof RESNET_DEPTHS)[number];
export const PLUGIN_POSITIONS = ['after_conv1', 'after_conv2', 'after_conv3'] as const;
export type PluginPosition = (typeof PLUGIN_POSITIONS)[number];

export interface PluginEntry {
  cfg: ComponentConfig;
  position: PluginPosition;
  /** One flag per stage; absent means every stage. */
  stages?: boolean[];
}

export interface InitConfig {
  type: 'Pretrained';
  checkpoint: string;
  /** Load only the keys under this prefix (e.g. `backbone.`), stripped. */
  prefix?: string;
}

export interface ResNetConfig {
  depth: ResNetDepth;
  in_channels: number;
  /** null: equal to base_channels. */
  stem_channels: number | null;
  base_channels: number;
  num_stages: number;
  strides: number[];
  dilations: number[];
  out_indices: number[];
  /** pytorch: stride on the 3x3 conv (torchvision v1.5); caffe: stride on the first 1x1 (MSRA). */
  style: 'pytorch' | 'caffe';
  deep_stem: boolean;
  avg_down: boolean;
  /** -1 nothing, 0 the stem, k the stem and layer1..k (detectron2's freeze_at minus 1). */
  frozen_stages: number;
  conv_cfg: { type: 'Conv2d' | 'Conv' } | null;
  norm_cfg: NormConfig;
  /** Every batch norm in eval mode while training: running stats used, not updated; affine still trained. */
  norm_eval: boolean;
  dcn: Record<string, unknown> | null;
  stage_with_dcn: boolean[];
  plugins: PluginEntry[] | null;
  /** Recompute each block's activations in the backward pass instead of keeping them. */
  with_cp: boolean;
  zero_init_residual: boolean;
  /** Deprecated in mmdet: a checkpoint path, same as init_cfg Pretrained. */
  pretrained: string | null;
  init_cfg: InitConfig | null;
}

const positiveInts = { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1, maxItems: 4 };

export const initConfigSchema = {
  type: ['object', 'null'],
  properties: {
    type: { const: 'Pretrained' },
    checkpoint: { type: 'string', minLength: 1 },
    prefix: { type: 'string' },
  },
  required: ['type', 'checkpoint'],
  additionalProperties: false,
  default: null,
} as const;

export const pluginEntrySchema: ConfigSchema = {
  type: 'object',
  properties: {
    cfg: componentRef('MODELS', { injected: { in_channels: 64 }, description: 'the plugin config; in_channels comes from the block' }),
    position: { enum: [...PLUGIN_POSITIONS] },
    stages: { type: 'array', items: { type: 'boolean' } },
  },
  required: ['cfg', 'position'],
  additionalProperties: false,
};

export function resnetSchema(defaults: { deep_stem?: boolean; avg_down?: boolean } = {}): ConfigSchema {
  return {
    properties: {
      depth: { enum: [...RESNET_DEPTHS] },
      in_channels: { type: 'integer', minimum: 1, default: 3 },
      stem_channels: { type: ['integer', 'null'], minimum: 1, default: null },
      base_channels: { type: 'integer', minimum: 1, default: 64 },
      num_stages: { type: 'integer', minimum: 1, maximum: 4, default: 4 },
      strides: { ...positiveInts, default: [1, 2, 2, 2] },
      dilations: { ...positiveInts, default: [1, 1, 1, 1] },
      out_indices: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 3 }, minItems: 1, default: [0, 1, 2, 3] },
      style: { enum: ['pytorch', 'caffe'], default: 'pytorch' },
      deep_stem: { type: 'boolean', default: defaults.deep_stem ?? false },
      avg_down: { type: 'boolean', default: defaults.avg_down ?? false },
      frozen_stages: { type: 'integer', minimum: -1, maximum: 4, default: -1 },
      conv_cfg: {
        type: ['object', 'null'],
        properties: { type: { enum: ['Conv2d', 'Conv', 'DCN', 'DCNv2'] } },
        required: ['type'],
        additionalProperties: false,
        default: null,
      },
      norm_cfg: { ...normConfigSchema, default: { type: 'BN', requires_grad: true } },
      norm_eval: { type: 'boolean', default: true },
      dcn: { type: ['object', 'null'], default: null },
      stage_with_dcn: { type: 'array', items: { type: 'boolean' }, default: [false, false, false, false] },
      plugins: { type: ['array', 'null'], items: pluginEntrySchema, default: null },
      with_cp: { type: 'boolean', default: false },
      zero_init_residual: { type: 'boolean', default: true },
      pretrained: { type: ['string', 'null'], default: null },
      init_cfg: initConfigSchema,
    },
    required: ['depth'],
  };
}
