import * as tf from '@tensorflow/tfjs-core';

/**
 * Runs `fn` and throws if it leaves tensors behind: every forward must run under tf.tidy or
 * dispose explicitly. Returns what `fn` returned (which must not hold tensors).
 */
export async function withoutLeaks<T>(fn: () => T | Promise<T>, label = 'the code under test'): Promise<T> {
  const before = tf.memory().numTensors;
  const result = await fn();
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`${label} leaked ${after - before} tensor(s) (${before} before, ${after} after)`);
  return result;
}

/** Runs fn and returns how many more tensors are alive afterwards than before. */
export function tensorsLeakedBy(fn: () => void): number {
  const before = tf.memory().numTensors;
  fn();
  return tf.memory().numTensors - before;
}

/** Async variant of tensorsLeakedBy. */
export async function tensorsLeakedByAsync(fn: () => Promise<void>): Promise<number> {
  const before = tf.memory().numTensors;
  await fn();
  return tf.memory().numTensors - before;
}

/**
 * Data buffers `forward(...inputs)` leaves allocated inside a gradient scope (its intermediates
 * freed by a tidy): its output plus what the tape keeps for the backward pass. Buffers, not
 * tf.memory().numBytes, because the tape's saved clones share their source's buffer. To see an
 * op hold its inputs, compute them inside `forward` (tf.neg keeps nothing for its own gradient).
 */
export function buffersHeldForBackward(forward: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): number {
  let held = Number.NaN;
  tf.tidy(() => {
    tf.grads((...xs: tf.Tensor[]) => {
      const before = tf.memory().numDataBuffers;
      const out = tf.tidy(() => forward(...xs));
      held = tf.memory().numDataBuffers - before;
      return tf.sum(tf.square(out));
    })(inputs);
  });
  return held;
}
