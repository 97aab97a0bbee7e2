/**
 * Sums of two same-shape tensors (residual connections, FPN's top-down merge) that keep nothing
 * for the backward pass. tfjs's Add gradient saves both inputs (it needs their shapes to undo
 * broadcasting) and its ReLU saves its input, so a ResNet block's `relu(branch + identity)` held
 * three full-size tensors until the backward pass, where PyTorch holds the ReLU output alone.
 */
import * as tf from '@tensorflow/tfjs-core';

function assertSameShape(a: tf.Tensor, b: tf.Tensor, what: string): void {
  if (a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${what}: expected two tensors of the same shape, got [${a.shape}] and [${b.shape}]`);
  }
}

/** a + b for same-shape tensors; nothing is saved for the backward pass (both gradients are dy). */
export function addSameShape<T extends tf.Tensor>(a: T, b: T): T {
  assertSameShape(a, b, 'addSameShape');
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, y] = args as [T, T];
    return { value: tf.add(x, y) as T, gradFunc: (dy: T) => [dy.clone(), dy.clone()] };
  });
  return op(a, b) as T;
}

/**
 * relu(a + b) for same-shape tensors, keeping only the output for the backward pass (the next
 * layer keeps it anyway as its input); the gradient is zero where the output is, as PyTorch's.
 */
export function addRelu<T extends tf.Tensor>(a: T, b: T): T {
  assertSameShape(a, b, 'addRelu');
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, y, save] = args as [T, T, tf.GradSaveFunc];
    const value = tf.tidy(() => tf.relu(tf.add(x, y)) as T);
    save([value]);
    return {
      value,
      gradFunc: (dy: T, [out]: tf.Tensor[]) => {
        const g = tf.tidy(() => tf.mul(dy, tf.step(out!)));
        return [g, g.clone()];
      },
    };
  });
  return op(a, b) as T;
}
