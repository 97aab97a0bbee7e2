/**
 * mulberry32: a tiny, well-mixed 32-bit PRNG giving uniform numbers in [0, 1). One source of
 * reproducible randomness (DropBlock masks, samplers, synthetic test data): the same seed gives
 * the same sequence on every backend and machine.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A mulberry32 stream whose state can be saved and restored: what checkpoints store so that a
 * resumed run draws the same samples, flips and shuffles as an uninterrupted one.
 */
export class RandomStream {
  #state: number;

  constructor(seed = 0) {
    this.#state = seed >>> 0;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** `next` as a plain function, for APIs that take a `() => number`. */
  readonly uniform = (): number => this.next();

  seed(seed: number): void {
    this.#state = seed >>> 0;
  }

  getState(): number {
    return this.#state;
  }

  setState(state: number): void {
    if (!Number.isInteger(state) || state < 0 || state > 0xffffffff) throw new RangeError(`RandomStream.setState: expected a uint32 state, got ${state}`);
    this.#state = state;
  }
}

const trainingRandom = new RandomStream(0);

/**
 * The process-wide stream training draws from by default (samplers, RandomFlip, dataloader
 * shuffles), mmengine's set_random_seed in one object: seed it once per run, save and restore
 * its state with checkpoints.
 */
export function globalRandom(): RandomStream {
  return trainingRandom;
}
