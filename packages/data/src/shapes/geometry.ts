/**
 * The four shapes of the synthetic dataset as exact geometry: each knows its extent (the box the
 * annotation states), its area, and how much of a pixel it covers (for anti-aliased drawing:
 * the signed distance of the pixel centre to the outline, clamped to one pixel's width).
 */

export type Box = readonly [x1: number, y1: number, x2: number, y2: number];
type Point = readonly [number, number];

export interface ShapeGeometry {
  /** The tight box: the shape's exact extent. */
  readonly box: Box;
  readonly area: number;
  /** Fraction of the pixel centred at (x, y) that the shape covers, 0..1. */
  coverage(x: number, y: number): number;
}

/** Signed distance -> coverage of a 1-pixel-wide footprint (negative distance = inside). */
function coverageOf(signedDistance: number): number {
  return Math.min(1, Math.max(0, 0.5 - signedDistance));
}

export function circle(cx: number, cy: number, radius: number): ShapeGeometry {
  return {
    box: [cx - radius, cy - radius, cx + radius, cy + radius],
    area: Math.PI * radius * radius,
    coverage: (x, y) => coverageOf(Math.hypot(x - cx, y - cy) - radius),
  };
}

/** A simple polygon (convex or not) through `points`, in order. */
export function polygon(points: readonly Point[]): ShapeGeometry {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return {
    box: [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)],
    area: Math.abs(shoelace(points)),
    coverage: (x, y) => {
      const distance = distanceToOutline(points, x, y);
      return coverageOf(isInside(points, x, y) ? -distance : distance);
    },
  };
}

function shoelace(points: readonly Point[]): number {
  let sum = 0;
  points.forEach(([x1, y1], i) => {
    const [x2, y2] = points[(i + 1) % points.length]!;
    sum += x1 * y2 - x2 * y1;
  });
  return sum / 2;
}

/** Even-odd rule: a ray to the right crosses the outline an odd number of times. */
function isInside(points: readonly Point[], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i]!;
    const [xj, yj] = points[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function distanceToOutline(points: readonly Point[], x: number, y: number): number {
  let best = Infinity;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) best = Math.min(best, distanceToSegment(points[j]!, points[i]!, x, y));
  return best;
}

function distanceToSegment([ax, ay]: Point, [bx, by]: Point, x: number, y: number): number {
  const [dx, dy] = [bx - ax, by - ay];
  const t = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(x - (ax + t * dx), y - (ay + t * dy));
}

/** Axis-aligned square of side `side` centred at (cx, cy). */
export function square(cx: number, cy: number, side: number): ShapeGeometry {
  const h = side / 2;
  return polygon([
    [cx - h, cy - h],
    [cx + h, cy - h],
    [cx + h, cy + h],
    [cx - h, cy + h],
  ]);
}

/** Isosceles triangle with base `base` and height `height`, apex towards `direction` (0 up, 1 right, 2 down, 3 left). */
export function triangle(cx: number, cy: number, base: number, height: number, direction: 0 | 1 | 2 | 3): ShapeGeometry {
  const [b, h] = [base / 2, height / 2];
  const up: Point[] = [
    [0, -h],
    [b, h],
    [-b, h],
  ];
  // rotate by quarter turns exactly (no trigonometry: the box stays exact)
  const turn = ([x, y]: Point): Point => [-y, x];
  let points = up;
  for (let k = 0; k < direction; k++) points = points.map(turn);
  return polygon(points.map(([x, y]) => [cx + x, cy + y]));
}

/** Five-pointed star: outer radius `radius`, inner radius `innerRatio * radius`, first point at `angle` (radians, 0 = up). */
export function star(cx: number, cy: number, radius: number, angle: number, innerRatio = 0.45): ShapeGeometry {
  const points: Point[] = [];
  for (let k = 0; k < 10; k++) {
    const r = k % 2 === 0 ? radius : radius * innerRatio;
    const a = angle + (k * Math.PI) / 5;
    points.push([cx + r * Math.sin(a), cy - r * Math.cos(a)]);
  }
  return polygon(points);
}
