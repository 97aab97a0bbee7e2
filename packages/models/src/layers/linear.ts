import * as tf from '@tensorflow/tfjs-core';
import { biasAct, Module } from '@tsdet/core';
import { torchDefaultUniform } from './init.js';

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

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy((): tf.Tensor2D => {
      const y: tf.Tensor2D = tf.matMul(x, this.weight as tf.Tensor2D);
      // biasAct: tfjs's Add would keep y and the bias until the backward pass.
      return this.bias ? biasAct(y, this.bias, false) : y;
    });
  }
}
