/**
 * Gradient checkpointing (mmdet's `with_cp`, torch.utils.checkpoint): a segment keeps only its
 * inputs for the backward pass and recomputes its activations there, trading one extra forward
 * for the memory of every intermediate activation.
 *
 * Built on tf.customGrad as in tfjs-notes §6. Two engine details shape it:
 *  - the forward inside customGrad is not taped, so the segment's parameters must reach the
 *    customGrad as explicit inputs, or tf.variableGrads silently returns no gradient for them;
 *  - the backward runs a nested gradient (engine.gradients) over the recomputation; at gradient
 *    depth 0 that replaces engine.state.activeTape and nulls it when done, which crashes the outer
 *    backward ("Cannot read properties of null (reading 'forEach')"), so the tape is saved and
 *    restored around it.
 */
import * as tf from '@tensorflow/tfjs-core';

let recomputeDepth = 0;

/**
 * True while a checkpointed segment is re-running its forward inside the backward pass. Layers
 * with side effects (BatchNorm's running statistics) should skip them then: the first forward
 * already did them. PyTorch's checkpoint applies them twice.
 */
export function isRecomputing(): boolean {
  return recomputeDepth > 0;
}

export interface CheckpointOptions {
  /**
   * Throw in the backward pass when the recomputation reads a trainable variable missing from
   * `params` (whose gradient would otherwise be silently dropped). Default true.
   */
  checkUnlistedVariables?: boolean;
}

/**
 * Runs `fn(...inputs, ...params)` without keeping its activations for the backward pass.
 *
 * - `inputs`: the tensors the segment consumes (e.g. a block's input feature map); they are
 *   saved for the backward pass and their gradients flow back.
 * - `params`: EVERY trainable variable `fn` reads (its weights). `fn` receives them after the
 *   inputs and may use either those arguments or the variables themselves (a closure, e.g.
 *   `this.conv1.weight`): in the backward pass `fn` is re-run with the same variable objects.
 *   Variables must not be reassigned between the forward and the backward pass.
 * - `fn` must return one tensor and be deterministic (same result when re-run), and should guard
 *   side effects with isRecomputing().
 *
 * Gradients for inputs and params are identical to running `fn` directly. Outside a gradient
 * tape it simply runs `fn`.
 */
export function checkpoint<T extends tf.Tensor>(
  fn: (...args: tf.Tensor[]) => T,
  inputs: readonly tf.Tensor[],
  params: readonly tf.Tensor[] = [],
  options: CheckpointOptions = {},
): T {
  const checkUnlisted = options.checkUnlistedVariables ?? true;
  if (inputs.length + params.length === 0) return fn(); // nothing to differentiate with respect to
  const segment = tf.customGrad((...received: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = received.pop() as tf.GradSaveFunc;
    const args = received as tf.Tensor[];
    // Only the output survives; every intermediate is freed here instead of being kept for backward.
    // (An fn that returns one of its inputs gets a clone, so the segment's output is a new tensor.)
    const value = tf.tidy(() => {
      const out = fn(...args);
      return args.includes(out) ? (out.clone() as T) : out;
    });
    // Saved clones keep the inputs' data alive until the backward pass (no copy: same dataId).
    save(args);
    return {
      value,
      gradFunc: (dy: T, saved: tf.Tensor[]) => {
        // Same variable objects as the forward (closures read those); a param tensor disposed
        // since the forward is replaced by its saved clone.
        const reArgs = saved.map((clone, i) => (i >= inputs.length && !params[i - inputs.length]!.isDisposed ? params[i - inputs.length]! : clone));
        return recomputeGradients(fn, reArgs, dy, checkUnlisted);
      },
    };
  });
  return segment(...inputs, ...params) as T;
}

/** Re-runs fn(...args) on a fresh tape and returns d(sum(fn * dy))/d(arg) for every arg. */
function recomputeGradients(fn: (...args: tf.Tensor[]) => tf.Tensor, args: tf.Tensor[], dy: tf.Tensor, checkUnlisted: boolean): tf.Tensor[] {
  const engine = tf.engine();
  const outerTape = engine.state.activeTape;
  const unlisted = checkUnlisted ? trainableVariablesOtherThan(args) : [];
  recomputeDepth++;
  try {
    const { value, grads } = engine.gradients(() => fn(...args), [...args, ...unlisted], dy, true);
    value.dispose();
    const missed = unlisted.filter((_, i) => grads[args.length + i] != null);
    if (missed.length > 0) {
      tf.dispose(grads.filter((g): g is tf.Tensor => g != null));
      throw new Error(
        `checkpoint: the checkpointed function reads trainable variable(s) ${missed.map((v) => `'${v.name}'`).join(', ')} ` +
        'that are not in its params; list every variable it uses, or their gradients would be lost',
      );
    }
    // An unused input (or a non-float one, e.g. indices) has no gradient: give it zeros.
    return args.map((arg, i) => grads[i] ?? tf.zerosLike(arg));
  } finally {
    recomputeDepth--;
    engine.state.activeTape = outerTape;
  }
}

function trainableVariablesOtherThan(args: tf.Tensor[]): tf.Variable[] {
  const listed = new Set(args.map((a) => a.id));
  return Object.values(tf.engine().registeredVariables).filter((v) => v.trainable && !listed.has(v.id));
}
