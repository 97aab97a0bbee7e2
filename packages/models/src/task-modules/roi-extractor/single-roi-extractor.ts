/**
 * mmdet's SingleRoIExtractor (mmdet-reference §4.7): each roi is pooled from one FPN level,
 * chosen by its scale sqrt(w * h): level floor(log2(scale / finest_scale + 1e-6)), clamped to
 * the levels given, so with finest_scale 56: < 112 px -> P2, [112, 224) -> P3, [224, 448) -> P4,
 * larger -> P5. RoIAlign runs at spatial scale 1 / stride of that level; the output rows keep
 * the rois' order. All levels go through one multi-level RoIAlign op.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '@tsdet/core';
import { multiLevelRoiAlign } from '../roi-align/roi-align.js';
import { pairOf } from '../roi-align/sampling-plan.js';

const f32 = Math.fround;

export interface RoIAlignLayerOptions {
  outputSize: number | readonly [number, number];
  samplingRatio: number;
  aligned: boolean;
}

export interface SingleRoIExtractorOptions {
  roiLayer: RoIAlignLayerOptions;
  outChannels: number;
  featmapStrides: readonly number[];
  finestScale?: number;
}

/**
 * mmdet's map_roi_levels on flat [K * 5] rois, in float32 steps as torch computes it (the
 * boundaries 112, 224, 448 px are exact in float32 too).
 */
export function mapRoiLevels(rois: Float32Array, numLevels: number, finestScale = 56): Int32Array {
  const levels = new Int32Array(rois.length / 5);
  for (let k = 0; k < levels.length; k++) {
    const area = f32(f32(rois[5 * k + 3]! - rois[5 * k + 1]!) * f32(rois[5 * k + 4]! - rois[5 * k + 2]!));
    const scale = f32(Math.sqrt(area));
    const level = Math.floor(Math.log2(f32(f32(scale / finestScale) + 1e-6)));
    levels[k] = Math.min(Math.max(level, 0), numLevels - 1);
  }
  return levels;
}

/** mmdet's roi_rescale: each roi scaled by `factor` about its centre (batch index kept). */
export function rescaleRois(rois: Float32Array, factor: number): Float32Array {
  const out = new Float32Array(rois.length);
  for (let k = 0; k < rois.length / 5; k++) {
    const [b, x1, y1, x2, y2] = rois.subarray(5 * k, 5 * k + 5) as unknown as [number, number, number, number, number];
    const [cx, cy] = [f32(f32(x1 + x2) * 0.5), f32(f32(y1 + y2) * 0.5)];
    const [halfW, halfH] = [f32(f32(f32(x2 - x1) * factor) * 0.5), f32(f32(f32(y2 - y1) * factor) * 0.5)];
    out.set([b, cx - halfW, cy - halfH, cx + halfW, cy + halfH], 5 * k);
  }
  return out;
}

export class SingleRoIExtractor extends Module {
  readonly roiLayer: RoIAlignLayerOptions;
  readonly outChannels: number;
  readonly featmapStrides: readonly number[];
  readonly finestScale: number;

  constructor(options: SingleRoIExtractorOptions) {
    super();
    if (options.featmapStrides.length === 0) throw new Error('SingleRoIExtractor: featmap_strides must name at least one level');
    this.roiLayer = options.roiLayer;
    this.outChannels = options.outChannels;
    this.featmapStrides = options.featmapStrides;
    this.finestScale = options.finestScale ?? 56;
  }

  /** Number of feature levels this extractor reads (mmdet's num_inputs). */
  get numInputs(): number {
    return this.featmapStrides.length;
  }

  get outputSize(): [number, number] {
    return pairOf(this.roiLayer.outputSize);
  }

  /**
   * feats: NHWC maps of the first `feats.length` strides (one map means every roi uses it);
   * rois [K, 5] of [batch_idx, x1, y1, x2, y2] in input pixels -> [K, outH, outW, C].
   * roiScaleFactor scales the rois about their centres after the level mapping; like mmdet,
   * it is not applied when a single level is given.
   */
  forward(feats: tf.Tensor4D[], rois: tf.Tensor2D, roiScaleFactor?: number): tf.Tensor4D {
    this.checkInputs(feats, rois);
    const roiData = rois.dataSync() as Float32Array;
    const levels = feats.length === 1 ? new Int32Array(rois.shape[0]) : mapRoiLevels(roiData, feats.length, this.finestScale);
    const pooled = feats.length > 1 && roiScaleFactor !== undefined ? tf.tensor2d(rescaleRois(roiData, roiScaleFactor), [rois.shape[0], 5]) : rois;
    try {
      const scales = feats.map((_, level) => 1 / this.featmapStrides[level]!);
      return multiLevelRoiAlign(feats, pooled, levels, scales, this.roiLayer);
    } finally {
      if (pooled !== rois) pooled.dispose();
    }
  }

  private checkInputs(feats: tf.Tensor4D[], rois: tf.Tensor2D): void {
    if (feats.length === 0 || feats.length > this.numInputs) {
      throw new Error(`SingleRoIExtractor: got ${feats.length} feature maps for ${this.numInputs} featmap_strides (pass the first ${this.numInputs} FPN levels)`);
    }
    const channels = feats[0]!.shape[3];
    if (channels !== this.outChannels) throw new Error(`SingleRoIExtractor: features have ${channels} channels, out_channels is ${this.outChannels}`);
    if (rois.rank !== 2 || rois.shape[1] !== 5) throw new Error(`SingleRoIExtractor: rois must be [K, 5] ([batch_idx, x1, y1, x2, y2]), got [${rois.shape.join(', ')}]`);
  }
}
