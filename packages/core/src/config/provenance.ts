/**
 * Which file (or command-line override) set each leaf of a merged config. Leaves are scalars, lists and empty dicts;
 * an override may also set a value inside a list, which then gets its own, more specific entry.
 *
 * Entries live in a Map whose insertion order is the order in which they were set, so "the last-set leaf under a
 * dict" is simply the last matching entry.
 */
import { startsWithPath } from './paths.js';
import { isConfigObject, type FrozenValue, type PathPart } from './values.js';

interface Entry {
  parts: readonly PathPart[];
  source: string;
}

export class Provenance {
  private readonly entries = new Map<string, Entry>();

  clone(): Provenance {
    const copy = new Provenance();
    for (const [key, entry] of this.entries) copy.entries.set(key, entry);
    return copy;
  }

  /** Adds the entries of another provenance (bases of one `_base_` list have disjoint top-level keys). */
  absorb(other: Provenance): void {
    for (const [key, entry] of other.entries) this.entries.set(key, entry);
  }

  /** Records that `source` put `value` at `parts` wholesale: whatever was recorded there before is gone. */
  stamp(parts: readonly PathPart[], value: FrozenValue, source: string): void {
    this.forgetSubtree(parts);
    this.stampLeaves(parts, value, source);
  }

  /** A dict at `parts` is about to gain keys, so it stops being an (empty-dict) leaf of its own. */
  forgetExact(parts: readonly PathPart[]): void {
    this.entries.delete(keyOf(parts));
  }

  /**
   * The most specific source for `parts` (already resolved against the data): its own entry, else the last-set
   * entry below it (a dict), else the nearest entry above it (a value inside a list).
   */
  sourceOf(parts: readonly PathPart[]): string | undefined {
    return this.entries.get(keyOf(parts))?.source ?? this.lastBelow(parts) ?? this.nearestAbove(parts);
  }

  /** Entries strictly below `parts`, in path order: the overrides that reached inside a list leaf. */
  entriesBelow(parts: readonly PathPart[]): Entry[] {
    return [...this.entries.values()]
      .filter((entry) => entry.parts.length > parts.length && startsWithPath(entry.parts, parts))
      .sort((a, b) => comparePaths(a.parts, b.parts));
  }

  private stampLeaves(parts: readonly PathPart[], value: FrozenValue, source: string): void {
    if (isConfigObject(value) && Object.keys(value).length > 0) {
      for (const [key, item] of Object.entries(value)) this.stampLeaves([...parts, key], item, source);
      return;
    }
    this.entries.set(keyOf(parts), { parts, source });
  }

  private forgetSubtree(parts: readonly PathPart[]): void {
    for (const [key, entry] of this.entries) {
      if (startsWithPath(entry.parts, parts)) this.entries.delete(key);
    }
  }

  private lastBelow(parts: readonly PathPart[]): string | undefined {
    let last: string | undefined;
    for (const entry of this.entries.values()) {
      if (entry.parts.length > parts.length && startsWithPath(entry.parts, parts)) last = entry.source;
    }
    return last;
  }

  private nearestAbove(parts: readonly PathPart[]): string | undefined {
    for (let length = parts.length - 1; length >= 0; length--) {
      const entry = this.entries.get(keyOf(parts.slice(0, length)));
      if (entry) return entry.source;
    }
    return undefined;
  }
}

/** JSON keeps `0` (a list index) and `"0"` (a dict key) apart, unlike a dotted string. */
function keyOf(parts: readonly PathPart[]): string {
  return JSON.stringify(parts);
}

function comparePaths(a: readonly PathPart[], b: readonly PathPart[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const [x, y] = [a[i] as PathPart, b[i] as PathPart];
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return a.length - b.length;
}
