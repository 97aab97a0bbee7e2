/** Elementwise comparison against golden tensors: |ours - ref| <= atol + rtol * |ref|. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface Comparison {
  name: string;
  ok: boolean;
  maxAbs: number;
  /** Largest |ours - ref| / |ref| over elements with |ref| > atol (relative error of the meaningful values). */
  maxRel: number;
  tolerance: Tolerance;
  /** Why it failed when it is not a numeric miss (missing tensor, shape). */
  problem?: string;
}

export function compareArrays(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: Tolerance): Comparison {
  if (actual.length !== expected.length) {
    return { name, ok: false, maxAbs: Infinity, maxRel: Infinity, tolerance, problem: `size ${actual.length}, expected ${expected.length}` };
  }
  let ok = true;
  let maxAbs = 0;
  let maxRel = 0;
  for (let i = 0; i < expected.length; i++) {
    const ref = expected[i]!;
    const diff = Math.abs(actual[i]! - ref);
    if (!(diff <= tolerance.atol + tolerance.rtol * Math.abs(ref))) ok = false;
    if (!(diff <= maxAbs)) maxAbs = diff;
    if (Math.abs(ref) > tolerance.atol) maxRel = Math.max(maxRel, diff / Math.abs(ref));
  }
  return { name, ok, maxAbs, maxRel, tolerance };
}

export function missing(name: string, problem: string, tolerance: Tolerance = { atol: 0, rtol: 0 }): Comparison {
  return { name, ok: false, maxAbs: Infinity, maxRel: Infinity, tolerance, problem };
}

export function formatComparison(c: Comparison): string {
  const status = c.ok ? 'ok  ' : 'FAIL';
  if (c.problem) return `${status} ${c.name}: ${c.problem}`;
  return `${status} ${c.name.padEnd(44)} max abs ${c.maxAbs.toExponential(2)}  max rel ${c.maxRel.toExponential(2)}  (atol ${c.tolerance.atol}, rtol ${c.tolerance.rtol})`;
}
