/**
 * mmengine's weight initialisers, as ResNet/ConvModule apply them (mmdet-reference §1.9):
 * Kaiming normal with mode fan_out and ReLU gain for convs, constants for norms.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Kaiming normal (He) for an HWIO filter: std = sqrt(2) / sqrt(fan_out), fan_out = kh * kw * out. */
export function kaimingNormalFanOut(shape: readonly [number, number, number, number], seed?: number): tf.Tensor4D {
  const [kh, kw, , out] = shape;
  const std = Math.SQRT2 / Math.sqrt(kh * kw * out);
  return tf.randomNormal([...shape], 0, std, 'float32', seed);
}

/** PyTorch's default Conv2d/Linear init: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5)). */
export function torchDefaultUniform(shape: readonly number[], fanIn: number, seed?: number): tf.Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return tf.randomUniform([...shape], -bound, bound, 'float32', seed);
}

/** Normal(mean, std), as mmengine's normal_init. */
export function normalInit(shape: readonly number[], std: number, mean = 0, seed?: number): tf.Tensor {
  return tf.randomNormal([...shape], mean, std, 'float32', seed);
}
