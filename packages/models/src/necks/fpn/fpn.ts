/**
 * mmdetection's FPN (mmdet-reference §3): 1x1 lateral convs on the used backbone levels, a
 * top-down pathway that upsamples each level to the size of the one below and adds it, 3x3
 * output convs, then extra levels on top (stride-2 max pool, or stride-2 convs fed from C5, its
 * lateral or P5). State-dict keys are mmdet's: `lateral_convs.{k}.conv.weight/bias` and
 * `fpn_convs.{k}.conv.*`, plus `.bn.*` / `.gn.*` (and no conv bias) with a norm_cfg.
 */
import * as tf from '@tensorflow/tfjs-core';
import { addSameShape, ConfigValidationError, Module, type ConfigIssue } from '@tsdet/core';
import type { FeatureShape } from '../../backbones/resnet/resnet.js';
import { ConvModule } from '../../layers/conv-module.js';
import { Conv2d } from '../../layers/conv2d.js';
import type { NormConfig } from '../../layers/norm.js';
import { FPN_DEFAULTS, type ExtraConvSource, type FPNConfig, type UpsampleConfig, type XavierInitConfig } from './fpn.schema.js';

/** For direct construction: the three required keys, mmdet's defaults for the rest. */
export type FPNOptions = Pick<FPNConfig, 'in_channels' | 'out_channels' | 'num_outs'> & Partial<FPNConfig>;

/** Which backbone levels the FPN uses, and how many levels it adds on top. */
export interface FpnLevels {
  /** len(in_channels): how many levels forward() takes. */
  numIns: number;
  startLevel: number;
  /** One past the last used backbone level (mmdet's backbone_end_level). */
  backboneEndLevel: number;
  /** Levels with a lateral and an output conv. */
  usedLevels: number;
  /** Levels added above the last used one (num_outs - usedLevels). */
  extraLevels: number;
}

/** nn.ModuleList of ConvModules: children named 0, 1, ... as in the state dict. */
class ConvModuleList extends Module {
  readonly items: ConvModule[] = [];

  override get typeName(): string {
    return 'ModuleList';
  }

  append(module: ConvModule): void {
    this.items.push(this.registerModule(String(this.items.length), module));
  }
}

export class FPN extends Module {
  readonly cfg: Readonly<FPNConfig>;
  readonly levels: FpnLevels;
  /** add_extra_convs normalised as mmdet does: true means 'on_input'. */
  readonly addExtraConvs: false | ExtraConvSource;
  readonly lateralConvs: readonly ConvModule[];
  /** The output convs of the used levels, then the extra convs. */
  readonly fpnConvs: readonly ConvModule[];

  constructor(
    options: FPNOptions,
    readonly path = 'neck',
  ) {
    super();
    this.cfg = withDefaults(options);
    this.levels = checkFpnConfig(this.cfg, path);
    this.addExtraConvs = this.cfg.add_extra_convs === true ? 'on_input' : this.cfg.add_extra_convs;
    const lateral = this.registerModule('lateral_convs', new ConvModuleList());
    const fpn = this.registerModule('fpn_convs', new ConvModuleList());
    this.buildLevelConvs(lateral, fpn);
    this.buildExtraConvs(fpn);
    this.lateralConvs = lateral.items;
    this.fpnConvs = fpn.items;
    if (this.cfg.init_cfg) xavierInit(this, this.cfg.init_cfg);
  }

  /**
   * NHWC backbone levels, all of them (also those below start_level), lowest first; returns
   * num_outs NHWC levels, highest resolution first.
   */
  forward(inputs: readonly tf.Tensor4D[]): tf.Tensor4D[] {
    this.checkInputs(inputs);
    return tf.tidy(() => {
      const { startLevel } = this.levels;
      const laterals = this.lateralConvs.map((conv, k) => conv.forward(inputs[startLevel + k]!));
      const outs = this.topDown(laterals).map((merged, k) => this.fpnConvs[k]!.forward(merged));
      return this.appendExtraLevels(outs, inputs, laterals);
    });
  }

  /**
   * Channels and strides of the outputs, given those of the inputs (a backbone's
   * `outputShapes()`). Output names follow the stride: stride 4 is `p2`, 64 is `p6`.
   */
  outputShapes(inputs: readonly FeatureShape[]): FeatureShape[] {
    this.checkCount(inputs.length, 'outputShapes');
    this.usedLevelIndices().forEach((i) => this.checkChannels(i, inputs[i]!.channels, `'${inputs[i]!.name}'`));
    const strides = inputs.slice(this.levels.startLevel, this.levels.backboneEndLevel).map((s) => s.stride);
    // Every extra level (max pool or conv) has stride 2 over the level below it.
    for (let i = 0; i < this.levels.extraLevels; i++) strides.push(strides[strides.length - 1]! * 2);
    return strides.map((stride) => ({ name: levelName(stride), channels: this.cfg.out_channels, stride }));
  }

  private buildLevelConvs(lateral: ConvModuleList, fpn: ConvModuleList): void {
    const lateralNorm = this.cfg.no_norm_on_lateral ? null : this.cfg.norm_cfg;
    for (const i of this.usedLevelIndices()) {
      lateral.append(this.convModule(this.cfg.in_channels[i]!, 1, 1, lateralNorm));
      fpn.append(this.convModule(this.cfg.out_channels, 3, 1, this.cfg.norm_cfg));
    }
  }

  /** Only with add_extra_convs: the first reads C5 ('on_input') or an out_channels map. */
  private buildExtraConvs(fpn: ConvModuleList): void {
    if (!this.addExtraConvs) return;
    for (let i = 0; i < this.levels.extraLevels; i++) {
      const fromRawInput = i === 0 && this.addExtraConvs === 'on_input';
      const inChannels = fromRawInput ? this.cfg.in_channels[this.levels.backboneEndLevel - 1]! : this.cfg.out_channels;
      fpn.append(this.convModule(inChannels, 3, 2, this.cfg.norm_cfg));
    }
  }

  private convModule(inChannels: number, kernelSize: 1 | 3, stride: 1 | 2, normCfg: NormConfig | null): ConvModule {
    return new ConvModule({
      inChannels,
      outChannels: this.cfg.out_channels,
      kernelSize,
      stride,
      padding: kernelSize === 3 ? 1 : 0,
      normCfg,
      // FPN's act_cfg defaults to None: no activation (ConvModule's own default would be ReLU).
      actCfg: this.cfg.act_cfg,
    });
  }

  /**
   * From the top: lateral[i-1] + upsample(lateral[i]) to lateral[i-1]'s size. Out of place, as
   * mmdet (an in-place += broke PyTorch's autograd); the top lateral is never changed.
   */
  private topDown(laterals: readonly tf.Tensor4D[]): tf.Tensor4D[] {
    const merged = [...laterals];
    for (let i = merged.length - 1; i > 0; i--) {
      const lower = merged[i - 1]!;
      const where = `${this.describe()}: top-down from level ${this.levels.startLevel + i}`;
      merged[i - 1] = addSameShape(lower, upsampleTo(merged[i]!, [lower.shape[1], lower.shape[2]], this.cfg.upsample_cfg, where));
    }
    return merged;
  }

  private appendExtraLevels(outs: tf.Tensor4D[], inputs: readonly tf.Tensor4D[], laterals: readonly tf.Tensor4D[]): tf.Tensor4D[] {
    const all = [...outs];
    for (let i = 0; i < this.levels.extraLevels; i++) all.push(this.extraLevel(i, all[all.length - 1]!, inputs, laterals));
    return all;
  }

  /** Extra level i (0 = the first above the backbone levels), from the level just below it. */
  private extraLevel(i: number, below: tf.Tensor4D, inputs: readonly tf.Tensor4D[], laterals: readonly tf.Tensor4D[]): tf.Tensor4D {
    // max_pool2d(kernel 1, stride 2) keeps every other pixel: n -> floor((n - 1) / 2) + 1.
    if (!this.addExtraConvs) return tf.maxPool(below, 1, 2, 'valid');
    const conv = this.fpnConvs[this.levels.usedLevels + i]!;
    if (i > 0) return conv.forward(this.cfg.relu_before_extra_convs ? tf.relu(below) : below);
    switch (this.addExtraConvs) {
      case 'on_input':
        return conv.forward(inputs[this.levels.backboneEndLevel - 1]!);
      case 'on_lateral':
        return conv.forward(laterals[laterals.length - 1]!);
      case 'on_output':
        return conv.forward(below);
    }
  }

  private usedLevelIndices(): number[] {
    return Array.from({ length: this.levels.usedLevels }, (_, k) => this.levels.startLevel + k);
  }

  private checkInputs(inputs: readonly tf.Tensor4D[]): void {
    this.checkCount(inputs.length, 'forward');
    inputs.forEach((x, i) => {
      if (x.rank !== 4) throw new Error(`${this.describe()}: input level ${i} must be an NHWC tensor (rank 4), got shape [${x.shape.join(', ')}]`);
    });
    this.usedLevelIndices().forEach((i) => this.checkChannels(i, inputs[i]!.shape[3], `of shape [${inputs[i]!.shape.join(', ')}] (NHWC)`));
  }

  private checkCount(count: number, what: string): void {
    const { numIns, startLevel } = this.levels;
    if (count !== numIns) {
      throw new Error(`${this.describe()}: ${what} takes ${numIns} backbone levels (one per in_channels entry, also those below start_level ${startLevel}), got ${count}`);
    }
  }

  private checkChannels(level: number, channels: number | undefined, described: string): void {
    const expected = this.cfg.in_channels[level]!;
    if (channels !== expected) throw new Error(`${this.describe()}: input level ${level} ${described} has ${channels} channels, in_channels[${level}] is ${expected}`);
  }

  private describe(): string {
    return `FPN (${this.path})`;
  }
}

/** mmdet's defaults under the given options; an option given as undefined keeps its default. */
function withDefaults(options: FPNOptions): FPNConfig {
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  return { ...FPN_DEFAULTS, ...given } as FPNConfig;
}

type Report = (key: string, message: string) => void;

/** mmdet's level bookkeeping and asserts, as one ConfigValidationError naming each config path. */
export function checkFpnConfig(cfg: FPNConfig, path: string): FpnLevels {
  const issues: ConfigIssue[] = [];
  const report: Report = (key, message) => void issues.push({ path: `${path}.${key}`, message });
  checkLevels(cfg, report);
  checkUpsampleConfig(cfg.upsample_cfg, report);
  if (issues.length) throw new ConfigValidationError(issues, path);
  const numIns = cfg.in_channels.length;
  const backboneEndLevel = reachesLastLevel(cfg) ? numIns : cfg.end_level + 1;
  const usedLevels = backboneEndLevel - cfg.start_level;
  return { numIns, startLevel: cfg.start_level, backboneEndLevel, usedLevels, extraLevels: cfg.num_outs - usedLevels };
}

/** end_level is inclusive: -1 and the last index both mean "up to the last level". */
function reachesLastLevel(cfg: FPNConfig): boolean {
  return cfg.end_level === -1 || cfg.end_level === cfg.in_channels.length - 1;
}

/**
 * Up to the last level, num_outs may exceed the used levels (the rest are extra levels); with
 * an earlier end_level it must equal them.
 */
function checkLevels(cfg: FPNConfig, report: Report): void {
  const numIns = cfg.in_channels.length;
  const { start_level: start, end_level: end, num_outs: numOuts } = cfg;
  if (start >= numIns) return report('start_level', `must be < len(in_channels) = ${numIns}, got ${start}`);
  if (reachesLastLevel(cfg)) {
    if (numOuts < numIns - start) report('num_outs', `must be >= len(in_channels) - start_level = ${numIns - start} (one output per used backbone level), got ${numOuts}`);
    return;
  }
  if (end >= numIns) return report('end_level', `must be -1 or < len(in_channels) = ${numIns} (it is inclusive), got ${end}`);
  if (end < start) return report('end_level', `must be >= start_level (${start}), got ${end}`);
  if (numOuts !== end - start + 1) {
    report('num_outs', `must be end_level - start_level + 1 = ${end - start + 1} when end_level is not the last level (only end_level -1 allows extra levels), got ${numOuts}`);
  }
}

function checkUpsampleConfig(cfg: UpsampleConfig, report: Report): void {
  if (cfg.mode !== 'bilinear' && cfg.align_corners !== undefined && cfg.align_corners !== null) {
    report('upsample_cfg.align_corners', `only applies to mode 'bilinear' (PyTorch's F.interpolate rejects it for '${cfg.mode}'); remove it`);
  }
}

/**
 * F.interpolate(x, size | scale_factor, mode, align_corners) on NHWC, as FPN's top-down pathway
 * calls it: to `size` (the level below), or by scale_factor, which must land on that size.
 */
export function upsampleTo(x: tf.Tensor4D, size: [number, number], cfg: UpsampleConfig, where: string): tf.Tensor4D {
  if (cfg.scale_factor !== undefined) checkScaleFactor([x.shape[1], x.shape[2]], size, cfg, where);
  if (cfg.mode === 'bilinear') {
    // PyTorch's align_corners=False samples at half-pixel centres, clamped at the border.
    // Forward only: tfjs 4.22's ResizeBilinearGrad ignores halfPixelCenters (and on cpu fails
    // for H != W), so training with bilinear upsampling needs a fixed gradient first.
    const alignCorners = cfg.align_corners ?? false;
    return tf.image.resizeBilinear(x, size, alignCorners, !alignCorners);
  }
  return nearestTo(x, size);
}

/**
 * PyTorch's output size for a scale factor is floor(in * s), and it then samples with 1/s, not
 * in/out. Both agree with tfjs's resize (which samples with in/out) when in * s is whole.
 */
function checkScaleFactor(inSize: [number, number], size: [number, number], cfg: UpsampleConfig, where: string): void {
  const scales = typeof cfg.scale_factor === 'number' ? [cfg.scale_factor, cfg.scale_factor] : cfg.scale_factor!;
  const scaled = inSize.map((n, axis) => n * scales[axis]!);
  const target = scaled.map(Math.floor);
  if (target[0] !== size[0] || target[1] !== size[1]) {
    throw new Error(`${where}: upsample_cfg.scale_factor ${JSON.stringify(cfg.scale_factor)} turns ${inSize.join('x')} into ${target.join('x')}, but the level below is ${size.join('x')} (sizes must match for the addition; omit scale_factor to upsample to the lower level's size)`);
  }
  if (!cfg.align_corners && scaled.some((s) => !Number.isInteger(s))) {
    throw new Error(`${where}: upsample_cfg.scale_factor ${JSON.stringify(cfg.scale_factor)} maps ${inSize.join('x')} to ${scaled.join('x')}, not whole sizes; PyTorch then samples with 1/scale_factor, which tfjs's resize cannot reproduce: omit scale_factor`);
  }
}

/**
 * PyTorch's source row for each output row of nearest upsampling (its CPU kernel): exact for
 * the same size and for 2x, otherwise floor(dst * scale) with scale = in / out in float32.
 */
export function torchNearestIndices(inSize: number, outSize: number): number[] {
  const scale = Math.fround(inSize / outSize);
  return Array.from({ length: outSize }, (_, dst) => {
    if (outSize === inSize) return dst;
    if (outSize === 2 * inSize) return dst >> 1;
    return Math.min(Math.floor(Math.fround(dst * scale)), inSize - 1);
  });
}

/** Nearest upsampling to `size` with PyTorch's source indices. */
function nearestTo(x: tf.Tensor4D, size: [number, number]): tf.Tensor4D {
  const rows = torchNearestIndices(x.shape[1], size[0]);
  const cols = torchNearestIndices(x.shape[2], size[1]);
  if (resizeAgreesWithTorch(x.shape[1], rows) && resizeAgreesWithTorch(x.shape[2], cols)) return tf.image.resizeNearestNeighbor(x, size); // its cpu gradient is fixed by core's installTrainingKernels
  return tf.gather(tf.gather(x, rows, 1), cols, 2);
}

/**
 * Whether tf.image.resizeNearestNeighbor picks `torchRows`. tfjs's cpu kernel computes
 * floor(dst * in / out) in double precision, PyTorch in float32: for some size pairs (26 -> 44:
 * output row 22 is 13 in double, 12 in float32) they differ, and FPN then gathers PyTorch's rows.
 * The wasm kernel computes in float32 and picks PyTorch's rows (checked on tfjs 4.22); other
 * non-cpu backends are assumed to do the same.
 */
function resizeAgreesWithTorch(inSize: number, torchRows: readonly number[]): boolean {
  if (tf.getBackend() !== 'cpu') return true;
  const ratio = inSize / torchRows.length;
  return torchRows.every((src, dst) => src === Math.min(inSize - 1, Math.floor(ratio * dst)));
}

/**
 * mmengine's XavierInit on every Conv2d (FPN's init_cfg): it replaces ConvModule's Kaiming init,
 * as in mmdet, where the ModuleLists keep ConvModule.init_weights from running again.
 */
function xavierInit(module: Module, cfg: XavierInitConfig): void {
  for (const [, m] of module.namedModules()) {
    if (!(m instanceof Conv2d)) continue;
    tf.tidy(() => {
      m.weight.assign(xavierWeight(m.weight.shape as [number, number, number, number], cfg));
      m.bias?.assign(tf.fill(m.bias.shape, cfg.bias));
    });
  }
}

/** For an HWIO filter: fan_in = kh * kw * in, fan_out = kh * kw * out, as PyTorch counts them. */
function xavierWeight(shape: [number, number, number, number], cfg: XavierInitConfig): tf.Tensor {
  const [kh, kw, cin, cout] = shape;
  const fanSum = kh * kw * (cin + cout);
  if (cfg.distribution === 'uniform') {
    const bound = cfg.gain * Math.sqrt(6 / fanSum);
    return tf.randomUniform(shape, -bound, bound);
  }
  return tf.randomNormal(shape, 0, cfg.gain * Math.sqrt(2 / fanSum));
}

/** `p{log2 stride}` (detectron2's names: stride 4 is p2); `p_s{stride}` for other strides. */
function levelName(stride: number): string {
  const level = Math.log2(stride);
  return Number.isInteger(level) ? `p${level}` : `p_s${stride}`;
}
