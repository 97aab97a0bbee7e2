/**
 * Replacing entries of tfjs's global gradient table, remembering what was there before.
 *
 * tfjs-core alone has no gradients in Node: the table is filled when the @tensorflow/tfjs umbrella
 * package loads. It must load BEFORE we override an entry, or loading it later would overwrite ours
 * (and initBackend skips loading it once a 'Conv2D' gradient is present).
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';

const require = createRequire(import.meta.url);

/** The entry each overridden kernel had before our first override (undefined: it had none). */
const builtins = new Map<string, tf.GradConfig | undefined>();

export function ensureTfjsGradients(): void {
  if (tf.getGradient(tf.Conv2D)) return;
  require('@tensorflow/tfjs');
  if (!tf.getGradient(tf.Conv2D)) {
    throw new Error('tfjs gradients did not register: is @tensorflow/tfjs installed at the same version as @tensorflow/tfjs-core?');
  }
}

/** Registers `config` for its kernel; a no-op when that exact config is already registered. */
export function overrideGradient(config: tf.GradConfig): void {
  ensureTfjsGradients();
  const current = tf.getGradient(config.kernelName);
  if (current === config) return;
  if (!builtins.has(config.kernelName)) builtins.set(config.kernelName, current);
  tf.registerGradient(config);
}

/** The gradient tfjs itself registered for `kernelName`, even after we overrode it. */
export function builtinGradient(kernelName: string): tf.GradConfig | undefined {
  ensureTfjsGradients();
  return builtins.has(kernelName) ? builtins.get(kernelName) : tf.getGradient(kernelName);
}

/** Puts tfjs's own gradient back (for A/B comparisons); a no-op if we never overrode it. */
export function restoreBuiltinGradient(kernelName: string): void {
  const builtin = builtins.get(kernelName);
  if (builtin) tf.registerGradient(builtin);
}

/** True when our `config` is the gradient currently registered for its kernel. */
export function isGradientInstalled(config: tf.GradConfig): boolean {
  return tf.getGradient(config.kernelName) === config;
}
