/**
 * Bias add and optional ReLU after a conv or matMul under the gradient tape, keeping only the
 * output. tfjs's Add saves both inputs for its gradient (the whole conv output, to undo the
 * broadcast of the bias) and its ReLU saves its input: two full-size tensors per conv of FPN and
 * RPN that PyTorch does not keep. (Off the tape, convs use tfjs's fused bias + activation.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { channelMeans } from './channel-means.js';

/**
 * x + bias (broadcast over the last axis), then ReLU when `relu`. Gradients: dx = g, dbias = the
 * per-channel sum of g, where g is dy masked by the ReLU's output.
 */
export function biasAct<T extends tf.Tensor>(x: T, bias: tf.Tensor, relu: boolean): T {
  const channels = x.shape[x.rank - 1]!;
  if (bias.size !== channels) throw new Error(`biasAct: a bias of ${bias.size} values for ${channels} channels (input [${x.shape}])`);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, b, save] = args as [T, tf.Tensor, tf.GradSaveFunc];
    const value = tf.tidy(() => {
      const sum = tf.add(input, tf.reshape(b, [channels]));
      return (relu ? tf.relu(sum) : sum) as T;
    });
    save(relu ? [value] : []);
    return {
      value,
      gradFunc: (dy: T, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const g = relu ? tf.mul(dy, tf.step(saved[0]!)) : dy.clone();
          const dBias = tf.reshape(tf.mul(channelMeans(g), g.size / channels), b.shape);
          return [g, dBias];
        }),
    };
  });
  return op(x, bias) as T;
}
