/**
 * The AnchorGenerator config (mmdet's constructor arguments, snake_case) and its TASK_UTILS
 * descriptor. The schema checks types and ranges; the constructor checks the rules that tie
 * keys together (scales xor the octave pair, centers only without center_offset, lengths).
 */
import { defineComponent, type ConfigSchema } from '@tsdet/core';
import { AnchorGenerator } from './anchor-generator.js';

export interface AnchorGeneratorConfig {
  strides: (number | [number, number])[];
  ratios: number[];
  scales?: number[] | null;
  base_sizes?: number[] | null;
  scale_major: boolean;
  octave_base_scale?: number | null;
  scales_per_octave?: number | null;
  centers?: [number, number][] | null;
  center_offset: number;
  use_box_type: boolean;
}

const positive = { type: 'number', exclusiveMinimum: 0 };
const positiveList = { type: 'array', items: positive, minItems: 1 };

export const anchorGeneratorSchema: ConfigSchema = {
  properties: {
    strides: {
      type: 'array',
      minItems: 1,
      items: { anyOf: [positive, { type: 'array', items: positive, minItems: 2, maxItems: 2 }] },
      description: 'per level: a stride, or [stride_w, stride_h]',
    },
    ratios: { ...positiveList, description: 'height / width ratios' },
    scales: { type: ['array', 'null'], items: positive, minItems: 1 },
    base_sizes: { type: ['array', 'null'], items: positive, minItems: 1, description: 'per level; default min(stride)' },
    scale_major: { type: 'boolean', default: true },
    octave_base_scale: { type: ['number', 'null'], exclusiveMinimum: 0 },
    scales_per_octave: { type: ['integer', 'null'], minimum: 1 },
    centers: { type: ['array', 'null'], items: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 } },
    center_offset: { type: 'number', minimum: 0, maximum: 1, default: 0 },
    use_box_type: { const: false, default: false, description: 'box-type wrappers are not ported; anchors are plain [x1, y1, x2, y2]' },
  },
  required: ['strides', 'ratios'],
  dependencies: { octave_base_scale: ['scales_per_octave'], scales_per_octave: ['octave_base_scale'] },
};

export const anchorGeneratorDescriptor = defineComponent<AnchorGeneratorConfig, AnchorGenerator>({
  type: 'AnchorGenerator',
  description: 'Grid anchors per FPN level (mmdet AnchorGenerator)',
  schema: anchorGeneratorSchema,
  build: (cfg) =>
    new AnchorGenerator({
      strides: cfg.strides,
      ratios: cfg.ratios,
      scales: cfg.scales ?? undefined,
      baseSizes: cfg.base_sizes ?? undefined,
      scaleMajor: cfg.scale_major,
      octaveBaseScale: cfg.octave_base_scale ?? undefined,
      scalesPerOctave: cfg.scales_per_octave ?? undefined,
      centers: cfg.centers ?? undefined,
      centerOffset: cfg.center_offset,
    }),
});
