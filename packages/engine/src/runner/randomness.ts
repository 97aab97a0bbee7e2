/**
 * mmengine's `randomness` config: one seed per run. It seeds the process-wide training stream
 * (globalRandom: samplers, flips, shuffles) and, while the model is built, Math.random, which
 * tfjs's unseeded initialisers (tf.randomNormal / randomUniform without a seed) draw their seeds
 * from; so a seed fixes the initial weights as torch.manual_seed does in mmengine.
 */
import { RandomStream, seededRandom } from '@tsdet/core';

export interface RandomnessConfig {
  /** null / absent: a random seed, logged and saved in checkpoints (mmengine's default). */
  seed?: number | null;
  /** Accepted for mmengine configs: on cpu and single-threaded wasm tsdet is deterministic anyway. */
  deterministic?: boolean;
  /** Single-process training: ignored. */
  diff_rank_seed?: boolean;
}

/** The run's seed: the configured one, or a fresh random 31-bit one. */
export function resolveSeed(cfg: RandomnessConfig | undefined): number {
  if (cfg?.seed !== undefined && cfg.seed !== null) return cfg.seed >>> 0;
  return Math.floor(Math.random() * 0x7fffffff);
}

/** Runs `build` with Math.random replaced by a stream seeded from `seed` (restored afterwards). */
export function withSeededMathRandom<T>(seed: number, build: () => T): T {
  const original = Math.random;
  // A stream distinct from the training stream, so building does not shift the training draws.
  const stream = seededRandom((seed ^ 0x5eed5eed) >>> 0);
  Math.random = stream;
  try {
    return build();
  } finally {
    Math.random = original;
  }
}

/** Seeds `stream` (globalRandom) for a run. */
export function seedTrainingStream(stream: RandomStream, seed: number): void {
  stream.seed(seed);
}
