/**
 * mmcv's size arithmetic (`mmcv/image/geometric.py`), with its exact rounding: `int(x + 0.5)`,
 * i.e. half-up on positive sizes, not Python's round-half-even `round()`.
 */

/** (width, height) in pixels, the order mmcv uses for sizes (shapes are (h, w)). */
export type Size = readonly [width: number, height: number];

/** mmcv `_scale_size`: each side times its factor, rounded half up. */
export function scaleSize([width, height]: Size, factor: number | readonly [number, number]): [number, number] {
  const [fx, fy] = typeof factor === 'number' ? [factor, factor] : factor;
  return [Math.trunc(width * fx + 0.5), Math.trunc(height * fy + 0.5)];
}

/**
 * mmcv `rescale_size`: the largest size that keeps the aspect ratio and fits `scale`. A number
 * scales by that factor; a pair is (long edge, short edge) limits in either order, so (1333, 800)
 * bounds the long side by 1333 and the short side by 800.
 */
export function rescaleSize(size: Size, scale: number | readonly [number, number]): { size: [number, number]; factor: number } {
  const factor = rescaleFactor(size, scale);
  return { size: scaleSize(size, factor), factor };
}

function rescaleFactor([width, height]: Size, scale: number | readonly [number, number]): number {
  if (typeof scale === 'number') {
    if (!(scale > 0)) throw new Error(`rescale: invalid scale ${scale}, must be positive`);
    return scale;
  }
  const longEdge = Math.max(scale[0], scale[1]);
  const shortEdge = Math.min(scale[0], scale[1]);
  return Math.min(longEdge / Math.max(height, width), shortEdge / Math.min(height, width));
}
