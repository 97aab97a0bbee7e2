/** Per-channel reductions of channels-last tensors, shared by the normalisation and bias gradients. */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Per-channel means over every axis but the last, [C], as one global average pool: XNNPACK's
 * pooling reads channels-last data in order, where tf.mean over N, H, W transposes the whole
 * tensor first and a matMul with a row of ones repacks it (4x and 15x slower on wasm).
 */
export function channelMeans(x: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const channels = x.shape[x.rank - 1]!;
    const cols = x.rank >= 3 ? x.shape[x.rank - 2]! : 1;
    const rowCount = x.size / channels / cols;
    // Rows first, then their means: float32 error grows with the length of each running sum,
    // and two short sums stay closer to PyTorch's (double-accumulated) statistics than one long one.
    const rowMeans = tf.avgPool(tf.reshape(x, [1, rowCount, cols, channels]) as tf.Tensor4D, [1, cols], [1, cols], 'valid');
    return tf.reshape(tf.avgPool(rowMeans, [rowCount, 1], 1, 'valid'), [channels]);
  });
}
