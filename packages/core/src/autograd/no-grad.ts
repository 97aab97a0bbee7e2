/**
 * torch.no_grad for tfjs: run a function without recording it on the active gradient tape.
 *
 * Inside tf.grad / variableGrads tfjs records EVERY kernel and keeps the tensors each one saves
 * for its backward until the gradient is computed, even for ops no variable depends on. A frozen
 * backbone stage (mmdet's frozen_stages) therefore held all its activations through the backward
 * pass for nothing. Its output needs no gradient (no trainable weight before it, and the image
 * needs none), so it can be computed off the tape: same values, no saved activations.
 */
import * as tf from '@tensorflow/tfjs-core';

interface EngineState {
  gradientDepth: number;
}

function engineState(): EngineState {
  return tf.engine().state as unknown as EngineState;
}

/** True inside tf.grad / variableGrads (and not inside noGrad): kernels are being taped. */
export function isRecordingGradients(): boolean {
  return engineState().gradientDepth > 0;
}

/**
 * Runs `fn` with the tape paused: its results carry no gradient back to anything computed before
 * (like PyTorch's no_grad or tf.stopGradient on every output). Nothing changes outside a
 * gradient scope. Do not start a new gradient computation inside `fn`.
 */
export function noGrad<T>(fn: () => T): T {
  const state = engineState();
  const depth = state.gradientDepth;
  if (depth === 0) return fn();
  state.gradientDepth = 0;
  try {
    return fn();
  } finally {
    state.gradientDepth = depth;
  }
}
