/**
 * Seeds derived from a tuple of integers (run seed, epoch, sample index, ...): each tuple gets its
 * own well-mixed 32-bit seed, so that one sample's random stream never depends on how many
 * numbers another sample drew, nor on the order samples were loaded in.
 */

/** murmur3's 32-bit finaliser: every input bit affects every output bit. */
function fmix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const GOLDEN = 0x9e3779b9;

/** A uint32 seed for the tuple `parts` (integers; negative and >= 2^32 values are mixed in whole). */
export function deriveSeed(...parts: readonly number[]): number {
  let h = GOLDEN;
  for (const part of parts) {
    if (!Number.isSafeInteger(part)) throw new RangeError(`deriveSeed: expected safe integers, got ${part}`);
    const low = part >>> 0;
    const high = Math.floor(part / 0x100000000) >>> 0;
    h = fmix32((h ^ fmix32(low)) + GOLDEN);
    h = fmix32((h ^ fmix32(high ^ 0x5bd1e995)) + GOLDEN);
  }
  return h;
}

/** Which use a derived seed is for, so that two uses of the same (seed, epoch, ...) never share a stream. */
export const SEED_PURPOSE = { shuffle: 1, sample: 2 } as const;
