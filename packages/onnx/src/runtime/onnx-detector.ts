/**
 * An exported detector on ONNX Runtime with TwoStageDetector's test-time face: `testStep(batch)`
 * (the collated test-pipeline batch: HWC uint8 images and their data samples) and
 * `predict(batchInputs, metas)` (a preprocessed NHWC batch), both giving per-image
 * {bboxes, scores, labels} host arrays in the original image frame. ORT runs asynchronously,
 * so both return Promises.
 *
 * One image per ORT run, each fed as mmdet's batch would see it: padded (with pad_value after
 * normalisation, which the graph does itself) to the batch's padded size, so results equal the
 * batched tfjs ones; a model exported for a fixed size is fed at that size.
 */
import fs from 'node:fs';
import type * as tf from '@tensorflow/tfjs-core';
import type { DetDataBatch } from '@tsdet/data';
import { imageMetaOf, type ImageMeta, type InstanceResults } from '@tsdet/models';
import type { DetectorModelInfo } from '../export/export-detector.js';
import { createOrtSession, ort, type OrtSessionOptions } from './ort-session.js';

/** The `.json` written beside an exported detector. */
export function detectorInfoFile(modelFile: string): string {
  return `${modelFile}.json`;
}

export function readDetectorInfo(modelFile: string): DetectorModelInfo {
  const file = detectorInfoFile(modelFile);
  if (!fs.existsSync(file)) throw new Error(`${modelFile}: no ${file} beside it (tools/export-onnx.ts writes it; it says how to feed the model)`);
  const info = JSON.parse(fs.readFileSync(file, 'utf8')) as DetectorModelInfo;
  if (info.format !== 'tsdet-onnx-detector') throw new Error(`${file}: not a tsdet ONNX detector description (format '${String(info.format)}')`);
  return info;
}

interface ImageInput {
  /** NCHW [1, C, H, W] values. */
  data: Float32Array;
  height: number;
  width: number;
  meta: ImageMeta;
}

function roundUp(size: number, divisor: number): number {
  return Math.ceil(size / divisor) * divisor;
}

export class OnnxDetector {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly info: DetectorModelInfo,
    /** The model file, when loaded from one. */
    readonly file: string | undefined,
  ) {}

  /** Loads `model.onnx` and its `model.onnx.json`. */
  static async load(modelFile: string, options: OrtSessionOptions = {}): Promise<OnnxDetector> {
    const info = readDetectorInfo(modelFile);
    return new OnnxDetector(await createOrtSession(modelFile, options), info, modelFile);
  }

  /** From an export in memory (exportDetector's bytes and info). */
  static async fromBytes(bytes: Uint8Array, info: DetectorModelInfo, options: OrtSessionOptions = {}): Promise<OnnxDetector> {
    return new OnnxDetector(await createOrtSession(bytes, options), info, undefined);
  }

  /**
   * mmengine's test_step: the images as the test pipeline packed them (HWC uint8, channel order
   * as loaded) and their metadata; the graph normalises and pads. Needs a model exported with
   * its preprocessing (the default).
   */
  async testStep(batch: DetDataBatch): Promise<InstanceResults[]> {
    const spec = this.info.preprocess;
    if (!spec) throw new Error(`${this.describe()}: was exported without preprocessing, so testStep cannot normalise images; use predict with a preprocessed batch`);
    const images = batch.inputs;
    const samples = batch.data_samples;
    if (!samples || samples.length !== images.length) throw new Error(`${this.describe()}: testStep needs one data sample per image (${images.length} images, ${samples?.length ?? 0} samples)`);
    const [height, width] = this.feedSize(Math.max(...images.map((i) => i.height)), Math.max(...images.map((i) => i.width)));
    const results: InstanceResults[] = [];
    for (const [i, image] of images.entries()) {
      if (image.channels !== 3) throw new Error(`${this.describe()}: image ${i} has ${image.channels} channel(s); the exported graph takes 3`);
      if (spec.bgr_to_rgb && image.channelOrder === 'rgb') throw new Error(`${this.describe()}: image ${i} is already RGB but the model swaps BGR to RGB (LoadImageFromFile channel_order is 'rgb'?)`);
      if (spec.rgb_to_bgr && image.channelOrder === 'bgr') throw new Error(`${this.describe()}: image ${i} is already BGR but the model swaps RGB to BGR`);
      const data = new Float32Array(3 * height * width);
      const plane = height * width;
      for (let y = 0; y < image.height; y++) {
        for (let x = 0; x < image.width; x++) {
          const from = (y * image.width + x) * 3;
          for (let c = 0; c < 3; c++) data[c * plane + y * width + x] = image.data[from + c]!;
        }
      }
      const meta = imageMetaOf(samples[i]!, i);
      results.push(await this.run({ data, height, width, meta }, true));
    }
    return results;
  }

  /**
   * mmdet's predict on a preprocessed NHWC batch (normalised and padded, as TwoStageDetector
   * takes it); needs a model exported without preprocessing (`--no-preprocess`).
   */
  async predict(batchInputs: tf.Tensor4D, metas: readonly ImageMeta[], options: { rescale?: boolean } = {}): Promise<InstanceResults[]> {
    if (this.info.preprocess) throw new Error(`${this.describe()}: normalises inside the graph, so it takes raw pixels (testStep), not a preprocessed batch`);
    const [n, h, w, c] = batchInputs.shape;
    if (metas.length !== n) throw new Error(`${this.describe()}: ${metas.length} image metas for a batch of ${n}`);
    const values = batchInputs.dataSync() as Float32Array;
    const [height, width] = this.feedSize(h, w);
    const results: InstanceResults[] = [];
    for (let b = 0; b < n; b++) {
      const data = new Float32Array(c * height * width).fill(this.info.pad_value);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const from = ((b * h + y) * w + x) * c;
          for (let k = 0; k < c; k++) data[k * height * width + y * width + x] = values[from + k]!;
        }
      }
      results.push(await this.run({ data, height, width, meta: metas[b]! }, options.rescale ?? true));
    }
    return results;
  }

  /** Frees the ORT session. */
  async dispose(): Promise<void> {
    await this.session.release();
  }

  /** The size to feed: the export's fixed size (which must hold the batch), else the batch padded to the divisor. */
  private feedSize(height: number, width: number): [number, number] {
    const fixed = this.info.input_size;
    if (!fixed) return [roundUp(height, this.info.pad_size_divisor), roundUp(width, this.info.pad_size_divisor)];
    if (height > fixed[0] || width > fixed[1]) throw new Error(`${this.describe()}: a ${height}x${width} input does not fit the exported size ${fixed.join('x')} (export again with a larger --input-shape, or --dynamic)`);
    return fixed;
  }

  private async run(input: ImageInput, rescale: boolean): Promise<InstanceResults> {
    const { img_shape: imgShape, scale_factor: scaleFactor } = input.meta;
    if (rescale && !scaleFactor) throw new Error(`${this.describe()}: rescale needs the image's scale_factor (the Resize transform records it)`);
    const feeds = {
      image: new ort.Tensor('float32', input.data, [1, input.data.length / (input.height * input.width), input.height, input.width]),
      img_shape: new ort.Tensor('float32', Float32Array.of(imgShape[0], imgShape[1]), [2]),
      scale_factor: new ort.Tensor('float32', rescale ? Float32Array.of(scaleFactor![0], scaleFactor![1]) : Float32Array.of(1, 1), [2]),
    };
    const out = await this.session.run(feeds);
    return {
      bboxes: out['bboxes']!.data as Float32Array,
      scores: out['scores']!.data as Float32Array,
      labels: Int32Array.from(out['labels']!.data as BigInt64Array, (v) => Number(v)),
    };
  }

  private describe(): string {
    return `ONNX detector ${this.file ?? '(in memory)'}`;
  }
}
