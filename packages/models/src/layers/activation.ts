import * as tf from '@tensorflow/tfjs-core';

export interface ActivationConfig {
  type: 'ReLU' | 'LeakyReLU' | 'Sigmoid' | 'Tanh' | 'GELU';
  negative_slope?: number;
  inplace?: boolean;
}

export const activationConfigSchema = {
  type: ['object', 'null'],
  properties: {
    type: { enum: ['ReLU', 'LeakyReLU', 'Sigmoid', 'Tanh', 'GELU'] },
    negative_slope: { type: 'number' },
    inplace: { type: 'boolean', description: 'accepted for mmdet compatibility; tfjs has no in-place ops' },
  },
  required: ['type'],
  additionalProperties: false,
} as const;

export type Activation = (x: tf.Tensor) => tf.Tensor;

/** mmcv's build_activation_layer, as a function (activations hold no state). */
export function buildActivation(cfg: ActivationConfig | null | undefined): Activation | undefined {
  if (!cfg) return undefined;
  switch (cfg.type) {
    case 'ReLU':
      return (x) => tf.relu(x);
    case 'LeakyReLU':
      return (x) => tf.leakyRelu(x, cfg.negative_slope ?? 0.01);
    case 'Sigmoid':
      return (x) => tf.sigmoid(x);
    case 'Tanh':
      return (x) => tf.tanh(x);
    case 'GELU':
      // PyTorch's default GELU is the exact erf form.
      return (x) => tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))));
  }
}
