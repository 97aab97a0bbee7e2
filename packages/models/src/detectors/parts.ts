/**
 * What a detector's parts need of each other, as structural types with runtime checks: a
 * child built from the registry is `unknown` until checked, and a wrong component type in a
 * config is reported with its config path rather than failing later inside a forward.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DecodeOptions } from '../task-modules/bbox-coder/delta-xywh-bbox-coder.js';

/** What the heads need of a box coder (DeltaXYWHBBoxCoder, or any coder with the same face). */
export interface BBoxCoder {
  readonly encodeSize: number;
  encode(boxes: tf.Tensor2D, gts: tf.Tensor2D): tf.Tensor2D;
  decode(rois: tf.Tensor2D, deltas: tf.Tensor2D, options?: DecodeOptions): tf.Tensor2D;
}

export function isBBoxCoder(value: unknown): value is BBoxCoder {
  const coder = value as Partial<BBoxCoder> | null;
  return typeof coder === 'object' && coder !== null && typeof coder.decode === 'function' && typeof coder.encode === 'function' && typeof coder.encodeSize === 'number';
}

/** `value` if it passes `check`, else an error naming the config path and what was built. */
export function expectBuilt<T>(value: unknown, check: (v: unknown) => v is T, path: string, what: string): T {
  if (!check(value)) throw new Error(`${path}: expected ${what}, got ${describeValue(value)}`);
  return value;
}

function describeValue(value: unknown): string {
  return typeof value === 'object' && value !== null ? `a ${value.constructor.name}` : String(value);
}

/**
 * Runs `fn` in a tfjs scope and frees every tensor it created: tf.tidy for host results
 * (typed arrays), which tidy would walk element by element looking for tensors.
 */
export function hostScoped<T>(fn: () => T): T {
  tf.engine().startScope();
  try {
    return fn();
  } finally {
    tf.engine().endScope();
  }
}
