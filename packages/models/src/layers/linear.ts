import * as tf from '@tensorflow/tfjs-core';
import { biasAct, isRecordingGradients, Module, sliceColumns } from '@tsdet/core';
import { torchDefaultUniform } from './init.js';

/** The weight's rows in NHWC-flattened order, split along the reduction (see forwardNchwFlattened). */
interface NhwcWeights {
  key: object;
  /** The input shape and chunk count the chunks were made for. */
  shape: string;
  chunks: tf.Tensor2D[];
}

/**
 * Reduction length from which the eval-mode NHWC path splits the matMul in two halves: on wasm,
 * XNNPACK's fully connected layer slows down at long reductions (the RoI head's 12544 -> 1024 at
 * 1000 rois: 911 ms in one product, 542 ms as two of half the length plus their sum).
 */
const SPLIT_REDUCTION_FROM = 8192;

export interface LinearOptions {
  inFeatures: number;
  outFeatures: number;
  bias?: boolean;
}

/** nn.Linear: `weight` held as [in, out] (tfjs matMul order), loaded from PyTorch's [out, in]. */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | undefined;
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(options: LinearOptions) {
    super();
    const { inFeatures, outFeatures } = options;
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.weight = this.addParameter('weight', torchDefaultUniform([inFeatures, outFeatures], inFeatures), { layout: 'linear' });
    this.bias = options.bias === false ? undefined : this.addParameter('bias', torchDefaultUniform([outFeatures], inFeatures));
  }

  #nhwc: NhwcWeights | undefined;

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy((): tf.Tensor2D => {
      const y: tf.Tensor2D = tf.matMul(x, this.weight as tf.Tensor2D);
      // biasAct: tfjs's Add would keep y and the bias until the backward pass.
      return this.bias ? biasAct(y, this.bias, false) : y;
    });
  }

  /**
   * The layer applied to PyTorch's `x.flatten(1)` of an NCHW map, given the map as NHWC [N, H, W, C]
   * (its weight rows are in (C, H, W) order, as the checkpoint has them). In eval mode off the
   * gradient tape the NHWC map is used as it lies, against a cached copy of the weight with its
   * rows in (H, W, C) order (no transpose of the input; long reductions split, see
   * SPLIT_REDUCTION_FROM); otherwise the map is transposed and flattened first.
   */
  forwardNchwFlattened(x: tf.Tensor4D): tf.Tensor2D {
    const [n, h, w, c] = x.shape;
    if (h * w * c !== this.inFeatures) throw new Error(`Linear: an input of [${x.shape.join(', ')}] flattens to ${h * w * c} features, the layer takes ${this.inFeatures}`);
    if (this.training || isRecordingGradients()) return tf.tidy(() => this.forward(tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n, -1]) as tf.Tensor2D));
    const { chunks } = this.nhwcWeights([h, w, c]);
    return tf.tidy((): tf.Tensor2D => {
      const flat = tf.reshape(x, [n, -1]) as tf.Tensor2D;
      let begin = 0;
      const parts = chunks.map((chunk) => {
        const rows = chunk.shape[0];
        const part: tf.Tensor2D = tf.matMul(chunks.length === 1 ? flat : sliceColumns(flat, begin, rows), chunk);
        begin += rows;
        return part;
      });
      const y = parts.length === 1 ? parts[0]! : (tf.addN(parts) as tf.Tensor2D);
      return this.bias ? biasAct(y, this.bias, false) : y;
    });
  }

  /** Prepares forwardNchwFlattened's weights for inputs of [*, H, W, C] (call on entering eval mode). */
  prepareNchwFlattened(shape: readonly [number, number, number]): void {
    if (!this.training) this.nhwcWeights(shape);
  }

  /** The cached NHWC-ordered weight chunks, rebuilt when the weight's value or the input shape changed. */
  private nhwcWeights([h, w, c]: readonly [number, number, number]): NhwcWeights {
    const parts = tf.getBackend() === 'wasm' && this.inFeatures >= SPLIT_REDUCTION_FROM ? 2 : 1;
    const shape = `${h}x${w}x${c} in ${parts}`;
    const cached = this.#nhwc;
    if (cached && cached.key === this.weight.dataId && cached.shape === shape) return cached;
    if (cached) tf.dispose(cached.chunks);
    const chunks = tf.tidy(() => {
      const hwcRows = tf.reshape(tf.transpose(tf.reshape(this.weight, [c, h, w, this.outFeatures]), [1, 2, 0, 3]), [this.inFeatures, this.outFeatures]) as tf.Tensor2D;
      if (parts === 1) return [hwcRows];
      // A multiple of 4 so that sliceColumns copies whole vectors.
      const half = Math.ceil(this.inFeatures / 8) * 4;
      return [tf.slice(hwcRows, [0, 0], [half, -1]), tf.slice(hwcRows, [half, 0], [-1, -1])] as tf.Tensor2D[];
    });
    // Kept: the cache outlives the forward's tidy scope; dispose() or the next rebuild frees it.
    this.#nhwc = { key: this.weight.dataId, shape, chunks: chunks.map((t) => tf.keep(t)) };
    return this.#nhwc;
  }

  override dispose(): void {
    if (this.#nhwc) tf.dispose(this.#nhwc.chunks);
    this.#nhwc = undefined;
    super.dispose();
  }
}
