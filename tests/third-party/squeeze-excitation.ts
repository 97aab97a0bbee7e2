/**
 * A third-party attention plugin written outside tsdet's packages, exactly as docs/plugins.md
 * shows: Squeeze-and-Excitation (Hu et al., 2018) registered into MODELS from its own file.
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineComponent, MODELS, Module } from '@tsdet/core';
import { Conv2d, pluginSchema } from '@tsdet/models';

interface SqueezeExcitationConfig {
  in_channels: number;
  ratio: number;
}

class SqueezeExcitation extends Module {
  readonly reduce: Conv2d;
  readonly expand: Conv2d;

  constructor(cfg: SqueezeExcitationConfig) {
    super();
    const hidden = Math.max(1, Math.round(cfg.in_channels * cfg.ratio));
    this.reduce = this.registerModule('reduce', new Conv2d({ inChannels: cfg.in_channels, outChannels: hidden, kernelSize: 1, bias: true }));
    this.expand = this.registerModule('expand', new Conv2d({ inChannels: hidden, outChannels: cfg.in_channels, kernelSize: 1, bias: true }));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const squeezed = tf.mean(x, [1, 2], true) as tf.Tensor4D;
      const gate = tf.sigmoid(this.expand.forward(tf.relu(this.reduce.forward(squeezed)) as tf.Tensor4D));
      return tf.mul(x, gate);
    });
  }
}

MODELS.register(
  defineComponent<SqueezeExcitationConfig, SqueezeExcitation>({
    type: 'SqueezeExcitation',
    abbreviation: 'se_block',
    description: 'Squeeze-and-Excitation channel attention',
    schema: pluginSchema({ ratio: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.0625 } }),
    build: (cfg) => new SqueezeExcitation(cfg),
  }),
);
