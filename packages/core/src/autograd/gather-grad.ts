/**
 * Row gather with a gradient that works on wasm.
 *
 * tfjs's GatherV2 gradient is an UnsortedSegmentSum, a kernel wasm does not have; on cpu it is a
 * loop over segments costing O(segments x N x D) (a 100k-index gather into a 3800x64 table did
 * not finish in 15 minutes, tfjs-notes §5a). Here the table's gradient is one ScatterNd, which
 * exists on both backends and sums the rows of duplicate indices.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * table[indices] along axis 0: table [R, ...D], int32 indices of any shape [...K] -> [...K, ...D].
 * Differentiable with respect to `table` (pass a tf.Variable to train it); indices get a zero
 * gradient.
 */
export function gatherRows<R extends tf.Rank>(table: tf.Tensor<R>, indices: tf.Tensor): tf.Tensor {
  if (indices.dtype !== 'int32') throw new Error(`gatherRows: indices must be int32, got ${indices.dtype}`);
  return gatherWithScatterGradient(table, indices);
}

const gatherWithScatterGradient = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [table, indices, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([indices]);
  return {
    value: tf.gather(table, indices, 0),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [savedIndices] = saved as [tf.Tensor];
      return [scatterRows(dy, savedIndices, table.shape), tf.zerosLike(savedIndices)];
    },
  };
});

/** The gradient of a row gather: sums each dy row into the table row it came from. */
function scatterRows(dy: tf.Tensor, indices: tf.Tensor, tableShape: number[]): tf.Tensor {
  return tf.tidy(() => {
    const rows = indices.size;
    const rowShape = tableShape.slice(1);
    return tf.scatterND(tf.reshape(indices, [rows, 1]), tf.reshape(dy, [rows, ...rowShape]), tableShape);
  });
}
