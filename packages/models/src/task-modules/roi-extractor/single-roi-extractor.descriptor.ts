/**
 * The SingleRoIExtractor config (mmdet's constructor arguments) and its MODELS descriptor.
 * `roi_layer` names an mmcv op, not a registry component: only RoIAlign in avg mode is ported,
 * and its spatial_scale is set per level from featmap_strides (mmdet passes it, so a config
 * that sets it is an error there too).
 */
import { defineComponent, type ConfigSchema } from '@tsdet/core';
import { SingleRoIExtractor } from './single-roi-extractor.js';

export interface RoIAlignLayerConfig {
  type: 'RoIAlign';
  output_size: number | [number, number];
  sampling_ratio: number;
  pool_mode: 'avg';
  aligned: boolean;
  use_torchvision: boolean;
}

export interface SingleRoIExtractorConfig {
  roi_layer: RoIAlignLayerConfig;
  out_channels: number;
  featmap_strides: number[];
  finest_scale: number;
  init_cfg: null;
}

const positiveInteger = { type: 'integer', minimum: 1 };

export const roiAlignLayerSchema: ConfigSchema = {
  type: 'object',
  properties: {
    type: { const: 'RoIAlign', description: "mmcv op name; only 'RoIAlign' is ported" },
    output_size: { anyOf: [positiveInteger, { type: 'array', items: positiveInteger, minItems: 2, maxItems: 2 }] },
    sampling_ratio: { type: 'integer', minimum: 0, default: 0, description: '0: adaptive, ceil(roi size / output size) samples per bin' },
    pool_mode: { const: 'avg', default: 'avg', description: "only 'avg' is ported" },
    aligned: { type: 'boolean', default: true },
    use_torchvision: { type: 'boolean', default: false, description: 'torchvision and mmcv kernels give the same numbers in avg mode' },
  },
  required: ['type', 'output_size'],
  additionalProperties: false,
};

export const singleRoIExtractorSchema: ConfigSchema = {
  properties: {
    roi_layer: roiAlignLayerSchema,
    out_channels: positiveInteger,
    featmap_strides: { type: 'array', items: { type: 'number', exclusiveMinimum: 0 }, minItems: 1 },
    finest_scale: { type: 'number', exclusiveMinimum: 0, default: 56 },
    init_cfg: { type: 'null', default: null, description: 'the extractor has no parameters' },
  },
  required: ['roi_layer', 'out_channels', 'featmap_strides'],
};

export const singleRoIExtractorDescriptor = defineComponent<SingleRoIExtractorConfig, SingleRoIExtractor>({
  type: 'SingleRoIExtractor',
  description: 'RoIAlign of each roi on the FPN level its scale maps to (mmdet SingleRoIExtractor)',
  schema: singleRoIExtractorSchema,
  build: (cfg) =>
    new SingleRoIExtractor({
      roiLayer: { outputSize: cfg.roi_layer.output_size, samplingRatio: cfg.roi_layer.sampling_ratio, aligned: cfg.roi_layer.aligned },
      outChannels: cfg.out_channels,
      featmapStrides: cfg.featmap_strides,
      finestScale: cfg.finest_scale,
    }),
});
