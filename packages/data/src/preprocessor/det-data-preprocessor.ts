/**
 * mmdet DetDataPreprocessor (mmengine ImgDataPreprocessor + detection metadata), mmdet-reference
 * §4.8: per image, swap channels if asked, cast to float32, normalise; then pad every image at the
 * bottom/right with `pad_value` (after normalisation) to the batch maximum rounded up to
 * `pad_size_divisor`, and stack. Here the batch is NHWC float32 (tfjs), not NCHW.
 *
 * The arithmetic is done in JS on float32 values ((x - mean) / std rounded to float32 at each step,
 * as torch does) and uploaded as one tensor, so the only tensor created is the one returned.
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineComponent } from '@tsdet/core';
import type { Shape } from '../boxes/boxes.js';
import type { RawImage } from '../image/raw-image.js';
import type { DetDataSample, PackedDetInputs } from '../transforms/types.js';

export interface DetDataPreprocessorConfig {
  /** Per-channel mean (1 or 3 values), in the channel order after any swap; with `std`, or neither. */
  mean?: number[] | null;
  std?: number[] | null;
  pad_size_divisor: number;
  pad_value: number;
  bgr_to_rgb: boolean;
  rgb_to_bgr: boolean;
  /** Accepted for mmdet configs; boxes already are plain arrays, so there is nothing to convert. */
  boxtype2tensor: boolean;
  /** Accepted for mmdet configs; there is no host-to-device copy to overlap. */
  non_blocking: boolean;
}

/** mmengine's collated batch: lists of images and data samples. */
export interface DetDataBatch {
  readonly inputs: readonly RawImage[];
  readonly data_samples?: readonly DetDataSample[] | null;
}

export interface DetPreprocessedBatch {
  /** [B, H_pad, W_pad, C] float32; the caller owns (and disposes) it. */
  readonly inputs: tf.Tensor4D;
  /** Each sample with `batch_input_shape` and its own `pad_shape` added; null when none came in. */
  readonly data_samples: DetDataSample[] | null;
}

const DEFAULTS: DetDataPreprocessorConfig = { pad_size_divisor: 1, pad_value: 0, bgr_to_rgb: false, rgb_to_bgr: false, boxtype2tensor: true, non_blocking: false };

/** mmengine `pseudo_collate` for packed samples: a list of {inputs, data_samples} to lists. */
export function collateDetSamples(samples: readonly PackedDetInputs[]): DetDataBatch {
  return { inputs: samples.map((s) => s.inputs), data_samples: samples.map((s) => s.data_samples) };
}

export class DetDataPreprocessor {
  readonly cfg: DetDataPreprocessorConfig;
  readonly #mean: Float32Array | undefined;
  readonly #std: Float32Array | undefined;

  constructor(cfg: Partial<DetDataPreprocessorConfig> = {}) {
    this.cfg = { ...DEFAULTS, ...cfg };
    const { mean, std, bgr_to_rgb, rgb_to_bgr, pad_size_divisor } = this.cfg;
    if ((mean == null) !== (std == null)) throw new Error('DetDataPreprocessor: mean and std should be both None or tuple');
    if (bgr_to_rgb && rgb_to_bgr) throw new Error('DetDataPreprocessor: `bgr2rgb` and `rgb2bgr` cannot be set to True at the same time');
    if (!Number.isInteger(pad_size_divisor) || pad_size_divisor < 1) throw new Error(`DetDataPreprocessor: pad_size_divisor must be an integer >= 1, got ${pad_size_divisor}`);
    for (const [name, values] of [['mean', mean], ['std', std]] as const) {
      if (values && values.length !== 1 && values.length !== 3) throw new Error(`DetDataPreprocessor: ${name} should have 1 or 3 values, got ${values.length}`);
    }
    this.#mean = mean ? Float32Array.from(mean) : undefined;
    this.#std = std ? Float32Array.from(std) : undefined;
  }

  /** The batch tensor and the samples' metadata; `training` only matters for batch augments (none here). */
  forward(data: DetDataBatch, _training = false): DetPreprocessedBatch {
    const images = data.inputs;
    if (!images.length) throw new Error('DetDataPreprocessor: the batch is empty');
    images.forEach((image, i) => this.#checkImage(image, i, images[0]!.channels));
    const [height, width] = this.#batchShape(images);
    const channels = images[0]!.channels;
    const batch = new Float32Array(images.length * height * width * channels).fill(this.cfg.pad_value);
    images.forEach((image, i) => this.#writeNormalized(image, batch.subarray(i * height * width * channels), width));
    const inputs = tf.tensor4d(batch, [images.length, height, width, channels], 'float32');
    return { inputs, data_samples: this.#withPadding(data.data_samples, images, [height, width]) };
  }

  /** `pad_shape` of one image: its own size rounded up to the divisor. */
  padShapeOf(image: RawImage): Shape {
    return [roundUp(image.height, this.cfg.pad_size_divisor), roundUp(image.width, this.cfg.pad_size_divisor)];
  }

  #batchShape(images: readonly RawImage[]): Shape {
    const height = Math.max(...images.map((i) => i.height));
    const width = Math.max(...images.map((i) => i.width));
    return [roundUp(height, this.cfg.pad_size_divisor), roundUp(width, this.cfg.pad_size_divisor)];
  }

  #checkImage(image: RawImage, index: number, channels: number): void {
    const where = `DetDataPreprocessor: image ${index}`;
    if (image.data.length !== image.height * image.width * image.channels) throw new Error(`${where} has ${image.data.length} bytes for ${image.height}x${image.width}x${image.channels}`);
    if (image.channels !== channels) throw new Error(`${where} has ${image.channels} channels, image 0 has ${channels}`);
    if ((this.#swapsChannels() || this.#mean?.length === 3) && image.channels !== 3) {
      throw new Error(`${where} has ${image.channels} channel(s); channel swaps and 3-value mean/std need 3-channel images`);
    }
    // mmdet cannot tell; we can, and a double swap silently ruins accuracy (mmdet-reference §7).
    if (this.cfg.bgr_to_rgb && image.channelOrder === 'rgb') throw new Error(`${where} is already RGB but bgr_to_rgb is set (LoadImageFromFile channel_order is 'rgb'?)`);
    if (this.cfg.rgb_to_bgr && image.channelOrder === 'bgr') throw new Error(`${where} is already BGR but rgb_to_bgr is set`);
  }

  #swapsChannels(): boolean {
    return this.cfg.bgr_to_rgb || this.cfg.rgb_to_bgr;
  }

  /** Writes one image, channel-swapped and normalised, into the top-left of its padded slot. */
  #writeNormalized(image: RawImage, slot: Float32Array, paddedWidth: number): void {
    const { data, height, width, channels } = image;
    const sourceChannel = Int32Array.from({ length: channels }, (_, c) => (this.#swapsChannels() ? channels - 1 - c : c));
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const from = (y * width + x) * channels;
        const to = (y * paddedWidth + x) * channels;
        for (let c = 0; c < channels; c++) slot[to + c] = this.#normalize(data[from + sourceChannel[c]!]!, c);
      }
    }
  }

  /** (x - mean) / std with float32 rounding after each operation, as torch computes it. */
  #normalize(value: number, channel: number): number {
    if (!this.#mean || !this.#std) return value;
    const mean = this.#mean[this.#mean.length === 1 ? 0 : channel]!;
    const std = this.#std[this.#std.length === 1 ? 0 : channel]!;
    return Math.fround(Math.fround(value - mean) / std);
  }

  #withPadding(samples: DetDataBatch['data_samples'], images: readonly RawImage[], batchInputShape: Shape): DetDataSample[] | null {
    if (!samples) return null;
    if (samples.length !== images.length) throw new Error(`DetDataPreprocessor: ${images.length} images but ${samples.length} data samples`);
    return samples.map((sample, i) => ({ ...sample, metainfo: { ...sample.metainfo, batch_input_shape: batchInputShape, pad_shape: this.padShapeOf(images[i]!) } }));
  }
}

function roundUp(size: number, divisor: number): number {
  return Math.ceil(size / divisor) * divisor;
}

const meanOrStd = (description: string) => ({
  oneOf: [{ type: 'array', items: { type: 'number' }, minItems: 1, maxItems: 3 }, { type: 'null' }],
  description,
});

export const detDataPreprocessorDescriptor = defineComponent<DetDataPreprocessorConfig, DetDataPreprocessor>({
  type: 'DetDataPreprocessor',
  description: 'normalise, pad and batch packed detection samples into an NHWC float32 tensor',
  schema: {
    properties: {
      mean: meanOrStd('per-channel mean, 1 or 3 values'),
      std: meanOrStd('per-channel std, 1 or 3 values'),
      pad_size_divisor: { type: 'integer', minimum: 1, default: DEFAULTS.pad_size_divisor },
      pad_value: { type: 'number', default: DEFAULTS.pad_value },
      bgr_to_rgb: { type: 'boolean', default: DEFAULTS.bgr_to_rgb },
      rgb_to_bgr: { type: 'boolean', default: DEFAULTS.rgb_to_bgr },
      boxtype2tensor: { type: 'boolean', default: DEFAULTS.boxtype2tensor, description: 'ignored: boxes are plain arrays already' },
      non_blocking: { type: 'boolean', default: DEFAULTS.non_blocking, description: 'ignored: no device copy' },
    },
  },
  build: (cfg) => new DetDataPreprocessor(cfg),
});
