/**
 * Frees memory during the backward pass as soon as it is no longer needed, as PyTorch's autograd
 * does. tfjs keeps, until the whole backward pass ends, both every tensor its tape saved for the
 * backward and every intermediate gradient (tape.ts backpropagateGradients never disposes the dys
 * it consumed): memory grew through the backward pass to twice the forward's, and a Faster R-CNN
 * step peaked at its very last kernel.
 *
 * tfjs processes tape nodes one at a time, evaluating all of a node's input gradients before it
 * moves on, and each node's output gradient and saved tensors are read by that node alone. So when
 * the next node's gradient starts, the previous node's are released. Kept: the caller's dy, the
 * gradients of any x (an x may be an intermediate output), and everything while a higher-order
 * gradient is being recorded.
 */
import * as tf from '@tensorflow/tfjs-core';

type GradientThunks = Record<string, () => tf.Tensor>;

interface TapeNode {
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => GradientThunks;
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  addTapeNode(...args: unknown[]): void;
  gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean): unknown;
}

interface BackwardFrame {
  /** Tensors whose gradients are returned or were given: never released early. */
  keepIds: Set<number>;
  keepTensors: Set<tf.Tensor>;
  /** What the last processed node may release once the next node starts. */
  pending?: { dys: tf.Tensor[]; saved: tf.Tensor[] };
}

const frames: BackwardFrame[] = [];
let installed: { addTapeNode: EngineInternals['addTapeNode']; gradients: EngineInternals['gradients'] } | undefined;

/** Installs the early release on tfjs's engine (repeat calls are no-ops). */
export function installEagerGradientRelease(): void {
  if (installed) return;
  const engine = tf.engine() as unknown as EngineInternals;
  const original = { addTapeNode: engine.addTapeNode, gradients: engine.gradients };
  installed = original;

  engine.gradients = function (this: EngineInternals, f, xs, dy, allowNoGradients) {
    const frame: BackwardFrame = { keepIds: new Set(xs.map((x) => x.id)), keepTensors: new Set(dy ? [dy] : []) };
    frames.push(frame);
    try {
      return original.gradients.call(this, f, xs, dy, allowNoGradients);
    } finally {
      frames.pop();
    }
  };

  engine.addTapeNode = function (this: EngineInternals, ...args: unknown[]) {
    original.addTapeNode.apply(this, args);
    const tape = this.state.activeTape;
    const node = tape?.[tape.length - 1];
    const gradient = node?.gradient;
    if (!node || !gradient) return;
    node.gradient = (dys) => {
      const frame = frames[frames.length - 1];
      // Recording a higher-order gradient: the outer tape may still need all of these.
      if (!frame || this.state.gradientDepth > 0) return gradient(dys);
      release(frame.pending);
      frame.pending = undefined;
      const thunks = gradient(dys);
      const consumed = dys.filter((d, i): d is tf.Tensor => d !== null && !frame.keepTensors.has(d) && !frame.keepIds.has(node.outputs[i]!.id));
      frame.pending = { dys: consumed, saved: node.saved ?? [] };
      // A gradient function may hand a dy straight through as an input's gradient: give a clone, so
      // releasing the dy does not free what was stored for the input.
      const guarded: GradientThunks = {};
      for (const [name, thunk] of Object.entries(thunks)) {
        guarded[name] = () => {
          const dx = thunk();
          return consumed.includes(dx) ? dx.clone() : dx;
        };
      }
      return guarded;
    };
  };
}

function release(pending: BackwardFrame['pending']): void {
  if (!pending) return;
  for (const t of [...pending.dys, ...pending.saved]) if (!t.isDisposed) t.dispose();
}

/** Restores tfjs's own engine methods (for tests comparing the two). */
export function uninstallEagerGradientRelease(): void {
  if (!installed) return;
  const engine = tf.engine() as unknown as EngineInternals;
  engine.addTapeNode = installed.addTapeNode;
  engine.gradients = installed.gradients;
  installed = undefined;
}
