/**
 * The FPN config, argument by argument as mmdetection's `FPN.__init__` (mmdet-reference §3), and
 * its JSON schema. Keys stay snake_case so mmdet configs port unchanged. What one key can check
 * is in the schema; the level bookkeeping that relates several keys (mmdet's asserts) is checked
 * by `checkFpnConfig` in fpn.ts, with the same config paths.
 */
import type { ConfigSchema } from '@tsdet/core';
import { activationConfigSchema, type ActivationConfig } from '../../layers/activation.js';
import { normConfigSchema, type NormConfig } from '../../layers/norm.js';

export const EXTRA_CONV_SOURCES = ['on_input', 'on_lateral', 'on_output'] as const;
/** Where the first extra (stride-2 conv) level reads from: raw C5, its lateral, or P5. */
export type ExtraConvSource = (typeof EXTRA_CONV_SOURCES)[number];

/** The F.interpolate modes mmdet's FPN configs use: 'nearest' (src = floor(dst * in / out)) and 'bilinear'. */
export const UPSAMPLE_MODES = ['nearest', 'bilinear'] as const;
export type UpsampleMode = (typeof UPSAMPLE_MODES)[number];

/** The keyword arguments FPN passes to F.interpolate for the top-down pathway. */
export interface UpsampleConfig {
  mode: UpsampleMode;
  /** Upsample by this factor (per axis when a pair) instead of to the lower level's size. */
  scale_factor?: number | [number, number];
  /** Only for 'bilinear' (PyTorch rejects it for nearest modes); null/absent means false. */
  align_corners?: boolean | null;
}

/** mmengine's XavierInit as FPN applies it (to every Conv2d). */
export interface XavierInitConfig {
  type: 'Xavier';
  layer: 'Conv2d' | ['Conv2d'];
  distribution: 'uniform' | 'normal';
  gain: number;
  bias: number;
}

export interface FPNConfig {
  /** Channels of every backbone level passed to forward, C2..C5 for ResNet (a list, all levels). */
  in_channels: number[];
  out_channels: number;
  /** Levels returned: the used backbone levels plus the extra (stride-2) levels on top. */
  num_outs: number;
  /** First backbone level with a lateral; lower levels are passed but unused. */
  start_level: number;
  /**
   * Last backbone level used, inclusive (mmdet's docstring says exclusive; its code is not);
   * -1 or the last index means "all", the only setting that allows extra levels.
   */
  end_level: number;
  /** false: extra levels by max_pool(kernel 1, stride 2); true means 'on_input'. */
  add_extra_convs: boolean | ExtraConvSource;
  /** ReLU before every extra conv after the first (RetinaNet/FCOS style). */
  relu_before_extra_convs: boolean;
  /** Lateral 1x1 convs without norm_cfg's norm (and hence with a bias). */
  no_norm_on_lateral: boolean;
  /** Plain convolution only (TF.js has no deformable kernel). */
  conv_cfg: { type: 'Conv2d' | 'Conv' } | null;
  /** Norm after every conv; null: none, and the convs have biases. */
  norm_cfg: NormConfig | null;
  /** Activation after every conv; null (mmdet's default): none. */
  act_cfg: ActivationConfig | null;
  upsample_cfg: UpsampleConfig;
  /** null keeps ConvModule's own init (Kaiming normal, fan_out), as mmdet with init_cfg=None. */
  init_cfg: XavierInitConfig | null;
}

/** mmdet's defaults, one source for the schema and for direct construction (`new FPN(...)`). */
export const FPN_DEFAULTS = {
  start_level: 0,
  end_level: -1,
  add_extra_convs: false,
  relu_before_extra_convs: false,
  no_norm_on_lateral: false,
  conv_cfg: null,
  norm_cfg: null,
  act_cfg: null,
  upsample_cfg: { mode: 'nearest' },
  init_cfg: { type: 'Xavier', layer: 'Conv2d', distribution: 'uniform', gain: 1, bias: 0 },
} as const satisfies Omit<FPNConfig, 'in_channels' | 'out_channels' | 'num_outs'>;

const positiveNumber = { type: 'number', exclusiveMinimum: 0 };

export const upsampleConfigSchema = {
  type: 'object',
  properties: {
    mode: { enum: [...UPSAMPLE_MODES], default: 'nearest' },
    scale_factor: {
      anyOf: [positiveNumber, { type: 'array', items: positiveNumber, minItems: 2, maxItems: 2 }],
      description: 'a number or an [h, w] pair; without it the top-down pathway resizes to the lower level',
    },
    align_corners: { type: ['boolean', 'null'] },
  },
  additionalProperties: false,
  default: FPN_DEFAULTS.upsample_cfg,
} as const;

export const xavierInitConfigSchema = {
  type: ['object', 'null'],
  properties: {
    type: { const: 'Xavier' },
    layer: {
      anyOf: [{ const: 'Conv2d' }, { type: 'array', items: { const: 'Conv2d' }, minItems: 1 }],
      default: 'Conv2d',
      description: 'an FPN has only Conv2d layers to initialise',
    },
    // mmengine's XavierInit defaults: normal, gain 1, bias 0 (FPN's default init_cfg asks for uniform).
    distribution: { enum: ['uniform', 'normal'], default: 'normal' },
    gain: { type: 'number', exclusiveMinimum: 0, default: 1 },
    bias: { type: 'number', default: 0 },
  },
  required: ['type'],
  additionalProperties: false,
  default: FPN_DEFAULTS.init_cfg,
} as const;

export function fpnSchema(): ConfigSchema {
  return {
    properties: {
      in_channels: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1, description: 'channels of every backbone level, lowest first' },
      out_channels: { type: 'integer', minimum: 1 },
      num_outs: { type: 'integer', minimum: 1 },
      start_level: { type: 'integer', minimum: 0, default: FPN_DEFAULTS.start_level },
      end_level: { type: 'integer', minimum: -1, default: FPN_DEFAULTS.end_level, description: 'inclusive; -1: the last level' },
      add_extra_convs: { enum: [false, true, ...EXTRA_CONV_SOURCES], default: FPN_DEFAULTS.add_extra_convs },
      relu_before_extra_convs: { type: 'boolean', default: FPN_DEFAULTS.relu_before_extra_convs },
      no_norm_on_lateral: { type: 'boolean', default: FPN_DEFAULTS.no_norm_on_lateral },
      conv_cfg: {
        type: ['object', 'null'],
        properties: { type: { enum: ['Conv2d', 'Conv'] } },
        required: ['type'],
        additionalProperties: false,
        default: FPN_DEFAULTS.conv_cfg,
      },
      norm_cfg: { ...normConfigSchema, type: ['object', 'null'], default: FPN_DEFAULTS.norm_cfg },
      act_cfg: { ...activationConfigSchema, default: FPN_DEFAULTS.act_cfg },
      upsample_cfg: upsampleConfigSchema,
      init_cfg: xavierInitConfigSchema,
    },
    required: ['in_channels', 'out_channels', 'num_outs'],
  };
}
