/**
 * mmcv's GeneralizedAttention ("An Empirical Study of Spatial Attention Mechanisms in Deep
 * Networks", mmdet-reference §2.3): multi-head attention whose energy sums up to four terms,
 * chosen by the bits of `attention_type`:
 *   [0] query . key   [1] query . relative position   [2] bias . key   [3] bias . relative position
 * Keys and values are read from a strided (kv_stride) copy of the input, queries from a
 * q_stride copy; the output is upsampled back when q_stride > 1 and added as gamma * out + x.
 *
 * PyTorch computes on NCHW; here tensors are NHWC. Channels split into heads as
 * `head * dim + d` and positions flatten as `y * W + x` in both layouts, so a channel-last
 * reshape to [N, P, heads, dim] reads the same numbers as mmcv's view(N, heads, dim, P).
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineComponent, Module } from '@tsdet/core';
import { Linear } from '../layers/linear.js';
import { Conv2d } from '../layers/conv2d.js';
import { pluginSchema, type PluginModule } from './plugin.js';

export interface GeneralizedAttentionOptions {
  inChannels: number;
  /** Window radius (in input positions) of the local constraint; -1 (default) for none. */
  spatialRange?: number;
  /** Default 9. */
  numHeads?: number;
  /** <= 0 (default -1): in_channels. */
  positionEmbeddingDim?: number;
  /** Multiplies the coordinate differences of the position embedding (default 1). */
  positionMagnitude?: number;
  /** Default 2. */
  kvStride?: number;
  /** Default 1. */
  qStride?: number;
  /** Four '0'/'1' characters, not all '0' (default '1111'). */
  attentionType?: string;
}

export interface GeneralizedAttentionConfig {
  in_channels: number;
  spatial_range: number;
  num_heads: number;
  position_embedding_dim: number;
  position_magnitude: number;
  kv_stride: number;
  q_stride: number;
  attention_type: string;
  postfix?: string | number;
}

/** Which energy terms are on, by name rather than by bit position. */
export interface AttentionTerms {
  /** bit 0: query . key */
  appearance: boolean;
  /** bit 1: query . relative position */
  appearancePosition: boolean;
  /** bit 2: learned bias . key (saliency) */
  biasAppearance: boolean;
  /** bit 3: learned bias . relative position */
  biasPosition: boolean;
}

export function parseAttentionType(attentionType: string): AttentionTerms {
  if (!/^[01]{4}$/.test(attentionType) || attentionType === '0000') {
    throw new Error(`GeneralizedAttention: attention_type must be four '0'/'1' characters with at least one '1', got '${attentionType}'`);
  }
  const bits = [...attentionType].map((ch) => ch === '1');
  return { appearance: bits[0]!, appearancePosition: bits[1]!, biasAppearance: bits[2]!, biasPosition: bits[3]! };
}

/**
 * mmengine kaiming_init(mode='fan_in', nonlinearity='leaky_relu', a=1, distribution='uniform'):
 * the gain sqrt(2 / (1 + a^2)) is 1, so the bound is sqrt(3 / fan_in).
 */
function kaimingUniformLeakyA1(shape: number[], fanIn: number): tf.Tensor {
  const bound = Math.sqrt(3 / fanIn);
  return tf.randomUniform(shape, -bound, bound);
}

/** The bias-free nn.Linear of the position terms, with GeneralizedAttention's Kaiming-uniform init. */
function positionLinear(inFeatures: number, outFeatures: number): Linear {
  const fc = new Linear({ inFeatures, outFeatures, bias: false });
  tf.tidy(() => fc.weight.assign(kaimingUniformLeakyA1(fc.weight.shape, inFeatures)));
  return fc;
}

/** A bias-free or biased 1x1 conv with GeneralizedAttention's Kaiming-uniform init (bias 0). */
function pointwiseConv(inChannels: number, outChannels: number, bias: boolean): Conv2d {
  const conv = new Conv2d({ inChannels, outChannels, kernelSize: 1, bias, init: 'torch' });
  tf.tidy(() => conv.weight.assign(kaimingUniformLeakyA1(conv.weight.shape, inChannels)));
  if (conv.bias) tf.tidy(() => conv.bias!.assign(tf.zerosLike(conv.bias!)));
  return conv;
}

/** mmcv's appr_bias / geom_bias init: uniform in (-s, s] with s = 1 / sqrt(2 * dim), as s - 2s * U[0, 1). */
function biasInit(length: number, qkEmbedDim: number): tf.Tensor1D {
  return tf.tidy(() => {
    const stdv = 1 / Math.sqrt(qkEmbedDim * 2);
    return tf.add(tf.mul(-2 * stdv, tf.randomUniform([length])), stdv) as tf.Tensor1D;
  });
}

/**
 * mmcv's get_position_embedding along one axis: for query index i and key/value index j,
 * delta = (i * q_stride - j * kv_stride) * magnitude, and the embedding is
 * [sin(delta / f_k)..., cos(delta / f_k)...] with f_k = 1000^((4 / feat_dim) * k),
 * k < feat_dim / 4. Every step is rounded to float32 as PyTorch's float32 tensors are.
 * Returns [size * sizeKv, feat_dim / 2] row-major (row i * sizeKv + j).
 */
export function relativePositionEmbedding(size: number, sizeKv: number, qStride: number, kvStride: number, magnitude: number, featDim: number): Float32Array {
  const f32 = Math.fround;
  const numFreqs = featDim / 4;
  const exponentStep = f32(4 / featDim);
  const freqs = Array.from({ length: numFreqs }, (_, k) => f32(Math.pow(1000, f32(exponentStep * k))));
  const half = 2 * numFreqs;
  const out = new Float32Array(size * sizeKv * half);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < sizeKv; j++) {
      const delta = f32(f32(f32(i * qStride) - f32(j * kvStride)) * f32(magnitude));
      const row = (i * sizeKv + j) * half;
      freqs.forEach((freq, k) => {
        const phase = f32(delta / freq);
        out[row + k] = Math.sin(phase);
        out[row + numFreqs + k] = Math.cos(phase);
      });
    }
  }
  return out;
}

/**
 * mmcv's local_constraint_map: 1 where key/value position (y', x') lies outside the window
 * around query (y, x), 0 inside; shape [maxLen, maxLen, maxLenKv, maxLenKv]. The window bounds
 * are mmcv's (Python floor division and slice clamping included).
 */
export function localConstraintMap(maxLen: number, kvStride: number, spatialRange: number): { data: Int32Array; shape: [number, number, number, number] } {
  const maxLenKv = Math.floor((maxLen - 1) / kvStride + 1);
  const data = new Int32Array(maxLen * maxLen * maxLenKv * maxLenKv).fill(1);
  const window = (i: number): [number, number] => [
    Math.max(Math.floor((i - spatialRange) / kvStride), 0),
    Math.min(Math.floor((i + spatialRange + 1) / kvStride) + 1, maxLen, maxLenKv),
  ];
  for (let iy = 0; iy < maxLen; iy++) {
    const [y0, y1] = window(iy);
    for (let ix = 0; ix < maxLen; ix++) {
      const [x0, x1] = window(ix);
      const base = (iy * maxLen + ix) * maxLenKv * maxLenKv;
      for (let ky = y0; ky < y1; ky++) data.fill(0, base + ky * maxLenKv + x0, base + ky * maxLenKv + x1);
    }
  }
  return { data, shape: [maxLen, maxLen, maxLenKv, maxLenKv] };
}

/** mmcv sizes the local constraint map for the C4/C5 feature maps of an 1333x800 input only. */
const LOCAL_CONSTRAINT_MAX_LEN: Record<number, number> = { 256: 84, 512: 42 };

interface Grid {
  n: number;
  h: number;
  w: number;
}

export class GeneralizedAttention extends Module implements PluginModule {
  readonly inChannels: number;
  readonly spatialRange: number;
  readonly numHeads: number;
  readonly positionEmbeddingDim: number;
  readonly positionMagnitude: number;
  readonly kvStride: number;
  readonly qStride: number;
  readonly attentionType: string;
  readonly terms: AttentionTerms;
  readonly qkEmbedDim: number;
  readonly vDim: number;

  readonly queryConv: Conv2d | undefined;
  readonly keyConv: Conv2d | undefined;
  readonly valueConv: Conv2d;
  readonly apprGeomFcX: Linear | undefined;
  readonly apprGeomFcY: Linear | undefined;
  readonly apprBias: tf.Variable | undefined;
  readonly geomBias: tf.Variable | undefined;
  readonly projConv: Conv2d;
  readonly gamma: tf.Variable;
  /** uint8 in mmcv (a frozen parameter); an int32 buffer here, so its state-dict key loads. */
  readonly localConstraintMap: tf.Variable | undefined;

  constructor(options: GeneralizedAttentionOptions) {
    super();
    this.inChannels = options.inChannels;
    this.spatialRange = options.spatialRange ?? -1;
    this.numHeads = options.numHeads ?? 9;
    const embeddingDim = options.positionEmbeddingDim ?? -1;
    this.positionEmbeddingDim = embeddingDim > 0 ? embeddingDim : this.inChannels;
    this.positionMagnitude = options.positionMagnitude ?? 1;
    this.kvStride = options.kvStride ?? 2;
    this.qStride = options.qStride ?? 1;
    this.attentionType = options.attentionType ?? '1111';
    this.terms = parseAttentionType(this.attentionType);
    this.qkEmbedDim = Math.floor(this.inChannels / this.numHeads);
    this.vDim = Math.floor(this.inChannels / this.numHeads);
    this.#checkOptions();

    const { appearance, appearancePosition, biasAppearance, biasPosition } = this.terms;
    const outC = this.qkEmbedDim * this.numHeads;
    // Registration order is mmcv's, so that state-dict keys come out in the same order.
    if (appearance || appearancePosition) this.queryConv = this.registerModule('query_conv', pointwiseConv(this.inChannels, outC, false));
    if (appearance || biasAppearance) this.keyConv = this.registerModule('key_conv', pointwiseConv(this.inChannels, outC, false));
    this.valueConv = this.registerModule('value_conv', pointwiseConv(this.inChannels, this.vDim * this.numHeads, false));
    if (appearancePosition || biasPosition) {
      this.apprGeomFcX = this.registerModule('appr_geom_fc_x', positionLinear(this.positionEmbeddingDim / 2, outC));
      this.apprGeomFcY = this.registerModule('appr_geom_fc_y', positionLinear(this.positionEmbeddingDim / 2, outC));
    }
    if (biasAppearance) this.apprBias = this.addParameter('appr_bias', biasInit(outC, this.qkEmbedDim));
    if (biasPosition) this.geomBias = this.addParameter('geom_bias', biasInit(outC, this.qkEmbedDim));
    this.projConv = this.registerModule('proj_conv', pointwiseConv(this.vDim * this.numHeads, this.inChannels, true));
    // gamma starts at 0: a fresh block is an identity.
    this.gamma = this.addParameter('gamma', tf.zeros([1]));
    if (this.spatialRange >= 0) {
      const map = localConstraintMap(LOCAL_CONSTRAINT_MAX_LEN[this.inChannels]!, this.kvStride, this.spatialRange);
      this.localConstraintMap = this.addBuffer('local_constraint_map', tf.tensor(map.data, map.shape, 'int32'));
    }
  }

  /** Whether only the bias . key term is on: mmcv then computes one attention row for all queries. */
  get saliencyOnly(): boolean {
    const { appearance, appearancePosition, biasAppearance, biasPosition } = this.terms;
    return biasAppearance && !appearance && !appearancePosition && !biasPosition;
  }

  get usesPosition(): boolean {
    return this.terms.appearancePosition || this.terms.biasPosition;
  }

  /** The cases where mmcv crashes or silently misbehaves, as readable errors. */
  #checkOptions(): void {
    const fail = (message: string): never => {
      throw new Error(`GeneralizedAttention: ${message}`);
    };
    if (this.qkEmbedDim < 1) fail(`num_heads (${this.numHeads}) must not exceed in_channels (${this.inChannels})`);
    if (this.usesPosition && this.positionEmbeddingDim % 4 !== 0) {
      fail(`the position embedding dim (${this.positionEmbeddingDim}) must be a multiple of 4 (sin and cos per axis, for x and y) when attention_type uses positions`);
    }
    if (this.spatialRange >= 0 && !(this.inChannels in LOCAL_CONSTRAINT_MAX_LEN)) {
      fail(`spatial_range >= 0 needs in_channels 256 or 512 (mmcv sizes its local constraint map only for those), got ${this.inChannels}`);
    }
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, height, width] = x.shape;
      const xQ = this.qStride > 1 ? strided(x, this.qStride) : x;
      const xKv = this.kvStride > 1 ? strided(x, this.kvStride) : x;
      const query: Grid = { n, h: xQ.shape[1], w: xQ.shape[2] };
      const kv: Grid = { n, h: xKv.shape[1], w: xKv.shape[2] };

      let energy = this.#energy(xQ, xKv, query, kv);
      // The saliency-only energy has a single query row, which mmcv masks as a 1x1 query map.
      if (this.localConstraintMap) energy = this.#applyLocalConstraint(energy, this.saliencyOnly ? { n, h: 1, w: 1 } : query, kv);
      const attention = tf.softmax(energy);

      const value = this.#splitHeads(this.valueConv.forward(xKv), this.vDim); // [N, heads, Pkv, v]
      const attended = tf.matMul(attention, value); // [N, heads, Pq, v]
      const outH = this.saliencyOnly ? 1 : query.h;
      const outW = this.saliencyOnly ? 1 : query.w;
      let out = this.projConv.forward(tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [n, outH, outW, this.vDim * this.numHeads]));
      if (this.qStride > 1) out = tf.image.resizeBilinear(out, [height, width], false, true);
      return tf.add(tf.mul(this.gamma, out), x) as tf.Tensor4D;
    });
  }

  /** [N, H, W, heads * dim] -> [N, heads, H * W, dim]. */
  #splitHeads(t: tf.Tensor4D, dim: number): tf.Tensor4D {
    const [n, h, w] = t.shape;
    return tf.transpose(tf.reshape(t, [n, h * w, this.numHeads, dim]), [0, 2, 1, 3]);
  }

  /** The attention logits [N, heads, Pq, Pkv] ([N, heads, 1, Pkv] in the saliency-only case). */
  #energy(xQ: tf.Tensor4D, xKv: tf.Tensor4D, query: Grid, kv: Grid): tf.Tensor4D {
    const { appearance, biasAppearance } = this.terms;
    const dim = this.qkEmbedDim;
    const q = this.queryConv ? this.#splitHeads(this.queryConv.forward(xQ), dim) : undefined; // [N, heads, Pq, d]
    const k = this.keyConv ? tf.transpose(this.#splitHeads(this.keyConv.forward(xKv), dim), [0, 1, 3, 2]) : undefined; // [N, heads, d, Pkv]
    if (this.saliencyOnly) return this.#saliency(k!);

    // Every term is shaped to broadcast against [N, heads, h, w, h_kv, w_kv].
    const full = [query.n, this.numHeads, query.h, query.w, kv.h, kv.w];
    let energy: tf.Tensor | undefined;
    if (appearance) {
      // mmcv: (q + appr_bias) . k when both bit 0 and bit 2 are set.
      const withBias = this.apprBias ? tf.add(q!, tf.reshape(this.apprBias, [1, this.numHeads, 1, dim])) : q!;
      energy = tf.reshape(tf.matMul(withBias, k!), full);
    } else if (biasAppearance) {
      energy = tf.reshape(this.#saliency(k!), [query.n, this.numHeads, 1, 1, kv.h, kv.w]);
    }
    if (this.usesPosition) {
      const positional = this.#positionEnergy(q, query, kv);
      // mmcv: energy += energy_x + energy_y
      energy = energy ? tf.add(energy, positional) : positional;
    }
    // Without the appearance terms mmcv starts from zeros of the full shape (batch included).
    return tf.reshape(tf.broadcastTo(energy!, full), [query.n, this.numHeads, query.h * query.w, kv.h * kv.w]);
  }

  /** appr_bias . k: one row of logits [N, heads, 1, Pkv], the same for every query. */
  #saliency(k: tf.Tensor4D): tf.Tensor4D {
    const [n, heads, dim] = k.shape;
    return tf.matMul(tf.broadcastTo(tf.reshape(this.apprBias!, [1, heads, 1, dim]), [n, heads, 1, dim]), k);
  }

  /** The relative-position terms, energy_x + energy_y, broadcastable to [N, heads, h, w, h_kv, w_kv]. */
  #positionEnergy(q: tf.Tensor4D | undefined, query: Grid, kv: Grid): tf.Tensor {
    const heads = this.numHeads;
    const dim = this.qkEmbedDim;
    const posX = this.#positionFeatures(this.apprGeomFcX!, query.w, kv.w); // [heads, w, w_kv, d]
    const posY = this.#positionFeatures(this.apprGeomFcY!, query.h, kv.h); // [heads, h, h_kv, d]
    if (!this.terms.appearancePosition) {
      // bias . position only: one value per (x, x') and per (y, y'), the same for every image.
      const bias = tf.reshape(this.geomBias!, [heads, dim, 1]);
      const energyX = tf.matMul(tf.reshape(posX, [heads, query.w * kv.w, dim]), bias);
      const energyY = tf.matMul(tf.reshape(posY, [heads, query.h * kv.h, dim]), bias);
      return tf.add(tf.reshape(energyX, [1, heads, 1, query.w, 1, kv.w]), tf.reshape(energyY, [1, heads, query.h, 1, kv.h, 1]));
    }
    const withBias = this.geomBias ? tf.add(q!, tf.reshape(this.geomBias, [1, heads, 1, dim])) : q!;
    const q5 = tf.reshape(withBias, [query.n, heads, query.h, query.w, dim]);
    // energy_x[n, head, y, x, x'] = q[n, head, y, x] . posX[head, x, x']: a matmul batched over (head, x).
    const qByColumn = tf.reshape(tf.transpose(q5, [1, 3, 0, 2, 4]), [heads * query.w, query.n * query.h, dim]);
    const energyX = tf.matMul(qByColumn, tf.reshape(posX, [heads * query.w, kv.w, dim]), false, true);
    const energyXFull = tf.transpose(tf.reshape(energyX, [heads, query.w, query.n, query.h, kv.w]), [2, 0, 3, 1, 4]);
    // energy_y[n, head, y, x, y'] = q[n, head, y, x] . posY[head, y, y']: batched over (head, y).
    const qByRow = tf.reshape(tf.transpose(q5, [1, 2, 0, 3, 4]), [heads * query.h, query.n * query.w, dim]);
    const energyY = tf.matMul(qByRow, tf.reshape(posY, [heads * query.h, kv.h, dim]), false, true);
    const energyYFull = tf.transpose(tf.reshape(energyY, [heads, query.h, query.n, query.w, kv.h]), [2, 0, 1, 3, 4]);
    return tf.add(
      tf.reshape(energyXFull, [query.n, heads, query.h, query.w, 1, kv.w]),
      tf.reshape(energyYFull, [query.n, heads, query.h, query.w, kv.h, 1]),
    );
  }

  /** appr_geom_fc(embedding) / sqrt(2), as [heads, size, size_kv, d]. */
  #positionFeatures(fc: Linear, size: number, sizeKv: number): tf.Tensor4D {
    const embedding = relativePositionEmbedding(size, sizeKv, this.qStride, this.kvStride, this.positionMagnitude, this.positionEmbeddingDim);
    const features = fc.forward(tf.tensor2d(embedding, [size * sizeKv, this.positionEmbeddingDim / 2]));
    const perHead = tf.transpose(tf.reshape(features, [size, sizeKv, this.numHeads, this.qkEmbedDim]), [2, 0, 1, 3]);
    return tf.div(perHead, Math.SQRT2) as tf.Tensor4D;
  }

  /** Sets the energy outside each query's window to -inf (mmcv's masked_fill_ with local_constraint_map). */
  #applyLocalConstraint(energy: tf.Tensor4D, query: Grid, kv: Grid): tf.Tensor4D {
    const [maxLen, , maxLenKv] = this.localConstraintMap!.shape as [number, number, number, number];
    if (query.h > maxLen || query.w > maxLen || kv.h > maxLenKv || kv.w > maxLenKv) {
      throw new Error(
        `GeneralizedAttention: a ${query.h}x${query.w} query map (${kv.h}x${kv.w} keys) exceeds the local constraint map ` +
          `(${maxLen}x${maxLen}, keys ${maxLenKv}x${maxLenKv}) that mmcv sizes for in_channels ${this.inChannels}`,
      );
    }
    const window = tf.slice(this.localConstraintMap!, [0, 0, 0, 0], [query.h, query.w, kv.h, kv.w]);
    const outside = tf.reshape(tf.cast(window, 'bool'), [1, 1, query.h * query.w, kv.h * kv.w]);
    return tf.where(tf.broadcastTo(outside, energy.shape), tf.fill(energy.shape, -Infinity), energy) as tf.Tensor4D;
  }
}

/** nn.AvgPool2d(kernel_size=1, stride=s): plain strided subsampling, output floor((n - 1) / s) + 1. */
function strided(x: tf.Tensor4D, stride: number): tf.Tensor4D {
  return tf.avgPool(x, 1, stride, 'valid');
}

export const generalizedAttentionDescriptor = defineComponent<GeneralizedAttentionConfig, GeneralizedAttention>({
  type: 'GeneralizedAttention',
  abbreviation: 'gen_attention_block',
  description: 'empirical attention block (mmcv GeneralizedAttention)',
  schema: pluginSchema({
    spatial_range: { type: 'integer', minimum: -1, default: -1, description: '-1: no local constraint; >= 0 needs in_channels 256 or 512' },
    num_heads: { type: 'integer', minimum: 1, default: 9 },
    position_embedding_dim: { type: 'integer', default: -1, description: '<= 0: in_channels' },
    position_magnitude: { type: 'number', default: 1 },
    kv_stride: { type: 'integer', minimum: 1, default: 2 },
    q_stride: { type: 'integer', minimum: 1, default: 1 },
    attention_type: {
      type: 'string',
      pattern: '^(?!0000)[01]{4}$',
      default: '1111',
      description: "bits: query.key, query.position, bias.key, bias.position; e.g. '1111', not '0000'",
    },
  }),
  build: (cfg) =>
    new GeneralizedAttention({
      inChannels: cfg.in_channels,
      spatialRange: cfg.spatial_range,
      numHeads: cfg.num_heads,
      positionEmbeddingDim: cfg.position_embedding_dim,
      positionMagnitude: cfg.position_magnitude,
      kvStride: cfg.kv_stride,
      qStride: cfg.q_stride,
      attentionType: cfg.attention_type,
    }),
});
