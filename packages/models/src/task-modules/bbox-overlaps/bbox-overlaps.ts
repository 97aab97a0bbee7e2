/**
 * mmdet's bbox_overlaps / BboxOverlaps2D on host arrays (mmdet-reference §4.6): pairwise IoU or
 * IoF of flat [x1, y1, x2, y2] boxes, with no +1 on widths and heights, the intersection
 * clamped at 0 and the denominator raised to eps. Every arithmetic step is rounded to float32
 * (Math.fround) as torch computes it on float32 tensors, so ties and thresholds match.
 */

export type OverlapMode = 'iou' | 'iof';

/** Pairwise overlaps of `rows` boxes against `cols` boxes, row-major [rows, cols]. */
export interface OverlapMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array;
}

const f = Math.fround;

function boxCount(boxes: ArrayLike<number>, what: string): number {
  if (boxes.length % 4 !== 0) throw new Error(`bbox_overlaps: ${what} must be flat [N, 4] boxes, got ${boxes.length} values`);
  return boxes.length / 4;
}

/**
 * bbox_overlaps(bboxes1, bboxes2, mode, eps=1e-6) with is_aligned=False: [N, M] overlaps of
 * every box of `a` against every box of `b`. mode 'iou' divides by the union, 'iof' by the
 * area of the `a` box. An empty input gives an empty [N, M] result.
 */
export function bboxOverlaps(a: ArrayLike<number>, b: ArrayLike<number>, mode: OverlapMode = 'iou', eps = 1e-6): OverlapMatrix {
  if (mode !== 'iou' && mode !== 'iof') throw new Error(`bbox_overlaps: unsupported mode '${String(mode)}' (iou or iof)`);
  const rows = boxCount(a, 'bboxes1');
  const cols = boxCount(b, 'bboxes2');
  const data = new Float32Array(rows * cols);
  if (rows === 0 || cols === 0) return { rows, cols, data };
  const epsF = f(eps);
  const areaB = new Float32Array(cols);
  for (let j = 0; j < cols; j++) areaB[j] = f(f(b[4 * j + 2]! - b[4 * j]!) * f(b[4 * j + 3]! - b[4 * j + 1]!));
  for (let i = 0; i < rows; i++) {
    const ax1 = f(a[4 * i]!);
    const ay1 = f(a[4 * i + 1]!);
    const ax2 = f(a[4 * i + 2]!);
    const ay2 = f(a[4 * i + 3]!);
    const areaA = f(f(ax2 - ax1) * f(ay2 - ay1));
    for (let j = 0; j < cols; j++) {
      const w = Math.max(f(Math.min(ax2, f(b[4 * j + 2]!)) - Math.max(ax1, f(b[4 * j]!))), 0);
      const h = Math.max(f(Math.min(ay2, f(b[4 * j + 3]!)) - Math.max(ay1, f(b[4 * j + 1]!))), 0);
      const overlap = f(w * h);
      const union = mode === 'iou' ? f(f(areaA + areaB[j]!) - overlap) : areaA;
      data[i * cols + j] = f(overlap / Math.max(union, epsF));
    }
  }
  return { rows, cols, data };
}

/** mmdet's BboxOverlaps2D iou calculator (scale 1, float32): `calculator.call(a, b, mode)`. */
export class BboxOverlaps2D {
  call(a: ArrayLike<number>, b: ArrayLike<number>, mode: OverlapMode = 'iou'): OverlapMatrix {
    return bboxOverlaps(a, b, mode);
  }
}
