/**
 * mmdet's AnchorGenerator (mmdet-reference §4.2): per FPN level, A = |ratios| * |scales| base
 * anchors centred at (offset * base, offset * base), shifted over the feature-map grid in
 * (y, x, a) row order, which is the row order of an NHWC head output reshaped to [-1, 4].
 *
 * Everything is computed on the host in float32 steps (Math.fround) in torch's order of
 * operations, so anchors equal mmdet's bit for bit up to sqrt rounding.
 */
import * as tf from '@tensorflow/tfjs-core';

const f32 = Math.fround;

/** [h, w] of a feature map (or of a padded image). */
export type Size2 = readonly [number, number];

export interface AnchorGeneratorOptions {
  /** Per level: one stride, or [stride_w, stride_h]. */
  strides: readonly (number | readonly [number, number])[];
  ratios: readonly number[];
  /** Anchor scales; give these or octaveBaseScale + scalesPerOctave. */
  scales?: readonly number[];
  /** Per level; default min(stride). */
  baseSizes?: readonly number[];
  /** Ratio-major order of the base anchors (index r * S + s) when true, scale-major otherwise. */
  scaleMajor?: boolean;
  octaveBaseScale?: number;
  scalesPerOctave?: number;
  /** Per level [cx, cy] of the base anchors; only with centerOffset 0. */
  centers?: readonly (readonly [number, number])[];
  /** Base-anchor centre as a fraction of the base size, in [0, 1]. */
  centerOffset?: number;
}

export class AnchorGenerator {
  /** Per level [stride_w, stride_h]. */
  readonly strides: readonly [number, number][];
  readonly baseSizes: readonly number[];
  readonly ratios: Float32Array;
  readonly scales: Float32Array;
  readonly scaleMajor: boolean;
  readonly centerOffset: number;
  readonly centers: readonly (readonly [number, number])[] | undefined;
  /** Per level, the A base anchors as a flat [A * 4] array. */
  readonly baseAnchors: readonly Float32Array[];

  constructor(options: AnchorGeneratorOptions) {
    const { centerOffset = 0, centers } = options;
    if (!(centerOffset >= 0 && centerOffset <= 1)) throw new RangeError(`AnchorGenerator: center_offset must be in [0, 1], got ${centerOffset}`);
    if (centerOffset !== 0 && centers) throw new Error(`AnchorGenerator: centers must be null when center_offset is ${centerOffset} (it is only used when centers are not given)`);
    this.strides = options.strides.map((s) => (typeof s === 'number' ? [s, s] : [s[0], s[1]]));
    if (centers && centers.length !== this.strides.length) throw new Error(`AnchorGenerator: ${centers.length} centers for ${this.strides.length} strides`);
    this.baseSizes = options.baseSizes ? [...options.baseSizes] : this.strides.map((s) => Math.min(...s));
    if (this.baseSizes.length !== this.strides.length) throw new Error(`AnchorGenerator: ${this.baseSizes.length} base_sizes for ${this.strides.length} strides`);
    this.scales = anchorScales(options);
    this.ratios = Float32Array.from(options.ratios);
    this.scaleMajor = options.scaleMajor ?? true;
    this.centerOffset = centerOffset;
    this.centers = centers;
    this.baseAnchors = this.baseSizes.map((size, level) => this.levelBaseAnchors(size, centers?.[level]));
  }

  get numLevels(): number {
    return this.strides.length;
  }

  /** Anchors per location, per level (mmdet's num_base_priors / num_base_anchors). */
  get numBasePriors(): number[] {
    return this.baseAnchors.map((a) => a.length / 4);
  }

  /** mmdet's gen_single_level_base_anchors, in float32 steps. */
  private levelBaseAnchors(baseSize: number, center: readonly [number, number] | undefined): Float32Array {
    const [cx, cy] = (center ?? [this.centerOffset * baseSize, this.centerOffset * baseSize]).map(f32) as [number, number];
    const anchors = new Float32Array(this.ratios.length * this.scales.length * 4);
    this.anchorSizes(baseSize).forEach(([w, h], a) => anchors.set([cx - f32(0.5 * w), cy - f32(0.5 * h), cx + f32(0.5 * w), cy + f32(0.5 * h)], 4 * a));
    return anchors;
  }

  /**
   * [w, h] of each base anchor: h_ratio = sqrt(ratio), w_ratio = 1 / h_ratio; ratio-major
   * (index r * S + s) with scale_major, else scale-major, multiplied in torch's order.
   */
  private anchorSizes(baseSize: number): [number, number][] {
    const hRatios = this.ratios.map((r) => Math.sqrt(r));
    const wRatios = hRatios.map((h) => 1 / h);
    const sizes: [number, number][] = [];
    const [outer, inner] = this.scaleMajor ? [this.ratios.length, this.scales.length] : [this.scales.length, this.ratios.length];
    for (let i = 0; i < outer; i++) {
      for (let j = 0; j < inner; j++) {
        const [r, s] = this.scaleMajor ? [i, j] : [j, i];
        // torch: w * w_ratios[:, None] * scales[None, :] (scale_major) or w * scales[:, None] * w_ratios[None, :]
        const times = (ratio: number) => (this.scaleMajor ? f32(f32(baseSize * ratio) * this.scales[s]!) : f32(f32(baseSize * this.scales[s]!) * ratio));
        sizes.push([times(wRatios[r]!), times(hRatios[r]!)]);
      }
    }
    return sizes;
  }

  /** Level `level`'s anchors over an h x w map as a flat [h * w * A * 4] array, row (y * w + x) * A + a. */
  levelPriors(featmapSize: Size2, level: number): Float32Array {
    const base = this.levelAnchors(level);
    const [h, w] = featmapSize;
    const [strideW, strideH] = this.strides[level]!;
    const numBase = base.length / 4;
    const out = new Float32Array(h * w * base.length);
    for (let y = 0; y < h; y++) {
      const shiftY = f32(y * strideH);
      for (let x = 0; x < w; x++) {
        const shiftX = f32(x * strideW);
        const row = (y * w + x) * numBase * 4;
        for (let k = 0; k < numBase * 4; k += 2) {
          out[row + k] = base[k]! + shiftX;
          out[row + k + 1] = base[k + 1]! + shiftY;
        }
      }
    }
    return out;
  }

  /** mmdet's grid_priors: per level, a [h * w * A, 4] tensor of anchors. */
  gridPriors(featmapSizes: readonly Size2[]): tf.Tensor2D[] {
    this.checkLevels(featmapSizes);
    return featmapSizes.map((size, level) => tf.tensor2d(this.levelPriors(size, level), [size[0] * size[1] * this.numBasePriors[level]!, 4]));
  }

  /**
   * Level `level`'s valid flags (1 valid, 0 not) for a map of `featmapSize` whose image was padded
   * to `padShape` [h, w] (the per-image pad shape): locations beyond ceil(pad / stride) lie over
   * the batch padding and are invalid. Each location's flag is repeated for its A anchors.
   */
  levelValidFlags(featmapSize: Size2, padShape: Size2, level: number): Uint8Array {
    const [featH, featW] = featmapSize;
    const [strideW, strideH] = this.strides[level]!;
    const validH = Math.min(Math.ceil(padShape[0] / strideH), featH);
    const validW = Math.min(Math.ceil(padShape[1] / strideW), featW);
    const numBase = this.numBasePriors[level]!;
    const flags = new Uint8Array(featH * featW * numBase);
    for (let y = 0; y < validH; y++) flags.fill(1, y * featW * numBase, (y * featW + validW) * numBase);
    return flags;
  }

  /** mmdet's valid_flags: per level, a [h * w * A] bool tensor. */
  validFlags(featmapSizes: readonly Size2[], padShape: Size2): tf.Tensor1D[] {
    this.checkLevels(featmapSizes);
    return featmapSizes.map((size, level) => tf.tensor1d(this.levelValidFlags(size, padShape, level), 'bool'));
  }

  private levelAnchors(level: number): Float32Array {
    const base = this.baseAnchors[level];
    if (!base) throw new RangeError(`AnchorGenerator: level ${level} does not exist (${this.numLevels} levels)`);
    return base;
  }

  private checkLevels(featmapSizes: readonly Size2[]): void {
    if (featmapSizes.length !== this.numLevels) throw new Error(`AnchorGenerator: ${featmapSizes.length} feature maps for ${this.numLevels} levels`);
  }
}

/** `scales`, or octave_base_scale * 2^(i / scales_per_octave) for i < scales_per_octave; exactly one of the two. */
function anchorScales(options: AnchorGeneratorOptions): Float32Array {
  const { scales, octaveBaseScale, scalesPerOctave } = options;
  const hasOctave = octaveBaseScale !== undefined && scalesPerOctave !== undefined;
  if ((scales !== undefined) === hasOctave) {
    throw new Error('AnchorGenerator: give either scales or both octave_base_scale and scales_per_octave, not both and not neither');
  }
  if (scales) return Float32Array.from(scales);
  return Float32Array.from({ length: scalesPerOctave! }, (_, i) => 2 ** (i / scalesPerOctave!) * octaveBaseScale!);
}
