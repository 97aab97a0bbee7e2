/**
 * Spatial re-layouts shared by the convolution and pooling gradients (NHWC).
 *
 * Everything here is built from rank-<=4 pad, slice, reshape, transpose and concat, because the
 * wasm backend runs StridedSlice, Reverse, Gather, Unpack and any Slice/Transpose of rank > 4 on
 * slow element-wise paths (tfjs-notes §5a, gotcha 7).
 */
import * as tf from '@tensorflow/tfjs-core';

/** One spatial axis of a window: `out[r] = in[r - before]` for r in [0, length), `fill` outside `in`. */
export interface AxisWindow {
  before: number;
  length: number;
}

/**
 * Returns rows [-rows.before, -rows.before + rows.length) and the same for columns of an NHWC
 * tensor, padding with `fill` where the window leaves the tensor and cropping where it is smaller.
 * A negative `before` crops from the start. Like every helper here, returns a tensor the caller
 * owns (a clone when nothing changes).
 */
export function windowOf(t: tf.Tensor4D, rows: AxisWindow, cols: AxisWindow, fill = 0): tf.Tensor4D {
  return tf.tidy(() => {
    const { cropped, pads } = cropToWindow(t, rows, cols);
    if (cropped === undefined) return tf.fill([t.shape[0], rows.length, cols.length, t.shape[3]], fill) as tf.Tensor4D;
    if (pads.every((p) => p === 0)) return cropped;
    const [top, bottom, left, right] = pads;
    return tf.pad(cropped, [[0, 0], [top, bottom], [left, right], [0, 0]], fill);
  });
}

/**
 * The cropping half of windowOf: slices off what lies outside the window and returns the padding
 * [top, bottom, left, right] still needed, so a convolution can take it as explicit padding
 * instead of materialising a padded copy. `cropped` is undefined when the window misses the
 * tensor entirely.
 */
export function cropToWindow(t: tf.Tensor4D, rows: AxisWindow, cols: AxisWindow): {
  cropped: tf.Tensor4D | undefined;
  pads: [number, number, number, number];
} {
  const [n, h, w, c] = t.shape;
  const r = axisCrop(h, rows);
  const q = axisCrop(w, cols);
  const pads: [number, number, number, number] = [r.before, r.after, q.before, q.after];
  if (r.end <= r.start || q.end <= q.start) return { cropped: undefined, pads };
  const whole = r.start === 0 && q.start === 0 && r.end === h && q.end === w;
  // The caller owns (and may dispose) what we return, never the input itself: clone, don't alias.
  const cropped = whole ? t.clone() : tf.slice(t, [0, r.start, q.start, 0], [n, r.end - r.start, q.end - q.start, c]);
  return { cropped, pads };
}

/** Which source indices [start, end) a window keeps, and the fill it needs before and after them. */
function axisCrop(size: number, win: AxisWindow): { start: number; end: number; before: number; after: number } {
  const start = Math.max(0, -win.before);
  const end = Math.min(size, win.length - win.before);
  const before = Math.max(win.before, 0);
  return { start, end, before, after: win.length - before - Math.max(end - start, 0) };
}

/**
 * Stride phases in channel-major layout: [N, sh*Hq, sw*Wq, C] -> [sh*sw*C, N, Hq, Wq], where the
 * C rows starting at `(a*sw + b) * C` hold phase (a, b), i.e. input pixels (a + sh*i, b + sw*j).
 * After it, every tap of a strided window is a plain rank-4 slice. One reshape and one rank-4
 * transpose: [N*Hq, sh, Wq, sw*C] -> [sh, sw*C, N*Hq, Wq] (for stride 1 this is NHWC -> CNHW).
 */
export function channelMajorPhases(t: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, hp, wp, c] = t.shape;
    const hq = hp / sh;
    const wq = wp / sw;
    if (!Number.isInteger(hq) || !Number.isInteger(wq)) throw new Error(`channelMajorPhases: ${hp}x${wp} is not a multiple of the stride ${sh}x${sw}`);
    const grouped = tf.reshape(t, [n * hq, sh, wq, sw * c]);
    return tf.reshape(tf.transpose(grouped, [1, 3, 0, 2]), [sh * sw * c, n, hq, wq]);
  });
}

/**
 * Stride phases in NHWC layout: phases[a][b] = t[:, a::sh, b::sw, :] as [N, Hq, Wq, C], taken by
 * rank-4 slices of the [N*Hq, sh, Wq, sw*C] view (no StridedSlice).
 */
export function nhwcPhases(t: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D[][] {
  const [n, hp, wp, c] = t.shape;
  const hq = hp / sh;
  const wq = wp / sw;
  if (sh === 1 && sw === 1) return [[t.clone()]];
  return tf.tidy(() => {
    const grouped = tf.reshape(t, [n * hq, sh, wq, sw * c]);
    return range(sh).map((a) => range(sw).map((b) =>
      tf.reshape(tf.slice(grouped, [0, a, 0, b * c], [n * hq, 1, wq, c]), [n, hq, wq, c]) as tf.Tensor4D));
  });
}

/** Inverse of nhwcPhases: interleaves phases[a][b] ([N, Hq, Wq, C]) into [N, sh*Hq, sw*Wq, C]. */
export function mergeNhwcPhases(phases: tf.Tensor4D[][]): tf.Tensor4D {
  const sh = phases.length;
  const sw = phases[0]!.length;
  const [n, hq, wq, c] = phases[0]![0]!.shape;
  if (sh === 1 && sw === 1) return phases[0]![0]!.clone();
  return tf.tidy(() => {
    const rowsOfPhases = phases.map((row) => tf.concat(row.map((p) => tf.reshape(p, [n * hq, 1, wq, c])), 3));
    return tf.reshape(tf.concat(rowsOfPhases, 1), [n, hq * sh, wq * sw, c]) as tf.Tensor4D;
  });
}

/**
 * Inserts zeros after every row and column so that t[:, i, j] lands at [:, i*sh, j*sw]:
 * [N, h, w, C] -> [N, h*sh, w*sw, C] (the trailing sh-1 rows / sw-1 columns are zeros too).
 * Pad + reshape only, rows first while the tensor is smallest.
 */
export function zeroInsert(t: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return t.clone();
  return tf.tidy(() => {
    const [n, h, w, c] = t.shape;
    let out: tf.Tensor = t;
    if (sh > 1) out = tf.reshape(tf.pad(tf.reshape(out, [n * h, 1, w * c]), [[0, 0], [0, sh - 1], [0, 0]]), [n, h * sh, w, c]);
    if (sw > 1) out = tf.reshape(tf.pad(tf.reshape(out, [n * h * sh * w, 1, c]), [[0, 0], [0, sw - 1], [0, 0]]), [n, h * sh, w * sw, c]);
    return out as tf.Tensor4D;
  });
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
