/**
 * One image of the synthetic shapes dataset, drawn in JS from a seed: a textured background
 * (noise, gradient or stripes) and 1-5 solid, anti-aliased shapes whose colours stand out from
 * it. Objects may overlap a little (at most 30 % of the smaller box), so each stays clearly
 * visible, and each box is the exact extent of its shape.
 */
import { RandomStream } from '@tsdet/core';
import type { RawImage } from '../image/raw-image.js';
import { hsvToRgb, type Rgb } from '../visualization/palette.js';
import { circle, square, star, triangle, type Box, type ShapeGeometry } from './geometry.js';

export const SHAPE_CLASSES = ['circle', 'square', 'triangle', 'star'] as const;
export type ShapeClass = (typeof SHAPE_CLASSES)[number];

export interface ShapeObject {
  readonly className: ShapeClass;
  /** (x1, y1, x2, y2): the exact extent of the drawn shape. */
  readonly box: Box;
  /** The shape's own area (not its box's). */
  readonly area: number;
  readonly color: Rgb;
}

export interface ShapesImage {
  /** RGB pixels. */
  readonly image: RawImage;
  readonly objects: readonly ShapeObject[];
}

/** The dataset's ranges; sizes are the longer side of a shape's box, in pixels. */
export const SHAPES_LIMITS = {
  minSide: 128,
  maxSide: 192,
  minObjects: 1,
  maxObjects: 5,
  minSize: 12,
  maxSize: 80,
  /** Largest share of the smaller of two boxes that their intersection may cover. */
  maxOverlap: 0.3,
} as const;

/** Colour distance (RGB, Euclidean) a shape keeps from its background's colours and from shapes it overlaps. */
const BACKGROUND_CONTRAST = 110;
const NEIGHBOUR_CONTRAST = 90;
const PLACEMENT_TRIES = 40;

class Random {
  readonly #stream: RandomStream;
  constructor(seed: number) {
    this.#stream = new RandomStream(seed);
  }
  uniform(low: number, high: number): number {
    return low + (high - low) * this.#stream.next();
  }
  /** An integer in [low, high]. */
  int(low: number, high: number): number {
    return low + Math.floor(this.#stream.next() * (high - low + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
}

export function drawShapesImage(seed: number): ShapesImage {
  const random = new Random(seed);
  const width = random.int(SHAPES_LIMITS.minSide, SHAPES_LIMITS.maxSide);
  const height = random.int(SHAPES_LIMITS.minSide, SHAPES_LIMITS.maxSide);
  const canvas = new Float32Array(width * height * 3);
  const keyColors = paintBackground(canvas, width, height, random);
  const objects: ShapeObject[] = [];
  const wanted = random.int(SHAPES_LIMITS.minObjects, SHAPES_LIMITS.maxObjects);
  for (let k = 0; k < wanted; k++) {
    const placed = placeShape(width, height, objects, random);
    if (!placed) continue;
    const color = pickColor(keyColors, objects.filter((o) => overlap(o.box, placed.shape.box) > 0).map((o) => o.color), random);
    drawShape(canvas, width, height, placed.shape, color);
    objects.push({ className: placed.className, box: placed.shape.box, area: placed.shape.area, color });
  }
  return { image: { data: quantize(canvas), width, height, channels: 3, channelOrder: 'rgb' }, objects };
}

// ---------------------------------------------------------------------------------------------
// background

function randomColor(random: Random, low = 30, high = 225): Rgb {
  return [random.uniform(low, high), random.uniform(low, high), random.uniform(low, high)];
}

/** `base` moved by a random offset of length `distance`, kept in 0..255. */
function nearbyColor(base: Rgb, distance: number, random: Random): Rgb {
  const direction = [random.uniform(-1, 1), random.uniform(-1, 1), random.uniform(-1, 1)];
  const norm = Math.hypot(...direction) || 1;
  return base.map((c, i) => Math.min(255, Math.max(0, c + (direction[i]! / norm) * distance))) as unknown as Rgb;
}

/** Paints a textured background; returns the colours it is made of (shapes must stand out from them). */
function paintBackground(canvas: Float32Array, width: number, height: number, random: Random): Rgb[] {
  const base = randomColor(random);
  const kind = random.pick(['noise', 'gradient', 'stripes'] as const);
  const other = nearbyColor(base, kind === 'gradient' ? random.uniform(40, 90) : random.uniform(25, 60), random);
  const angle = random.uniform(0, Math.PI);
  const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
  const period = random.uniform(6, 18);
  const halfDiagonal = Math.hypot(width, height) / 2;
  const noise = kind === 'noise' ? random.uniform(10, 28) : 4;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const along = (x - width / 2) * cos + (y - height / 2) * sin;
      const t = kind === 'gradient' ? 0.5 + along / (2 * halfDiagonal) : kind === 'stripes' ? 0.5 + 0.5 * Math.sin((2 * Math.PI * along) / period) : 0;
      const grain = random.uniform(-noise, noise);
      const i = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) canvas[i + c] = base[c]! + t * (other[c]! - base[c]!) + grain;
    }
  }
  return kind === 'noise' ? [base] : [base, other];
}

// ---------------------------------------------------------------------------------------------
// shapes

function makeShape(className: ShapeClass, cx: number, cy: number, size: number, random: Random): ShapeGeometry {
  switch (className) {
    case 'circle':
      return circle(cx, cy, size / 2);
    case 'square':
      return square(cx, cy, size);
    case 'triangle':
      return triangle(cx, cy, size, size * random.uniform(0.75, 1), random.int(0, 3) as 0 | 1 | 2 | 3);
    case 'star':
      return star(cx, cy, size / 2, random.uniform(0, (2 * Math.PI) / 5));
  }
}

/** Intersection over the smaller box's area. */
function overlap(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const area = (box: Box) => (box[2] - box[0]) * (box[3] - box[1]);
  return (w * h) / Math.min(area(a), area(b));
}

/** A shape of random class and size, inside the image (1 px margin), overlapping no earlier box too much. */
function placeShape(width: number, height: number, placed: readonly ShapeObject[], random: Random): { className: ShapeClass; shape: ShapeGeometry } | undefined {
  for (let attempt = 0; attempt < PLACEMENT_TRIES; attempt++) {
    const className = random.pick(SHAPE_CLASSES);
    const size = random.uniform(SHAPES_LIMITS.minSize, Math.min(SHAPES_LIMITS.maxSize, Math.min(width, height) - 4));
    // the same random draws at the origin and in place: build at (0, 0) to learn the extent
    const shapeSeed = random.int(0, 0xffffffff);
    const atOrigin = makeShape(className, 0, 0, size, new Random(shapeSeed));
    const [bx1, by1, bx2, by2] = atOrigin.box;
    const cx = random.uniform(1 - bx1, width - 1 - bx2);
    const cy = random.uniform(1 - by1, height - 1 - by2);
    const shape = makeShape(className, cx, cy, size, new Random(shapeSeed));
    if (placed.every((o) => overlap(o.box, shape.box) <= SHAPES_LIMITS.maxOverlap)) return { className, shape };
  }
  return undefined;
}

const distance = (a: Rgb, b: Rgb) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

/** A saturated colour far from the background's colours and from the shapes it overlaps (the farthest of many tries otherwise). */
function pickColor(background: readonly Rgb[], neighbours: readonly Rgb[], random: Random): Rgb {
  let best: Rgb = [0, 0, 0];
  let bestScore = -Infinity;
  for (let attempt = 0; attempt < 60; attempt++) {
    const color = hsvToRgb(random.uniform(0, 1), random.uniform(0.55, 1), random.uniform(0.45, 1));
    const score = Math.min(...background.map((c) => distance(c, color) - BACKGROUND_CONTRAST), ...neighbours.map((c) => distance(c, color) - NEIGHBOUR_CONTRAST));
    if (score >= 0) return color;
    if (score > bestScore) [best, bestScore] = [color, score];
  }
  return best;
}

/** Blends `color` over the canvas by the shape's coverage of each pixel (pixel centres at +0.5). */
function drawShape(canvas: Float32Array, width: number, height: number, shape: ShapeGeometry, color: Rgb): void {
  const [x1, y1, x2, y2] = shape.box;
  for (let y = Math.max(0, Math.floor(y1) - 1); y < Math.min(height, Math.ceil(y2) + 1); y++) {
    for (let x = Math.max(0, Math.floor(x1) - 1); x < Math.min(width, Math.ceil(x2) + 1); x++) {
      const cover = shape.coverage(x + 0.5, y + 0.5);
      if (cover === 0) continue;
      const i = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) canvas[i + c] = canvas[i + c]! * (1 - cover) + color[c]! * cover;
    }
  }
}

function quantize(canvas: Float32Array): Uint8Array {
  const out = new Uint8Array(canvas.length);
  for (let i = 0; i < canvas.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(canvas[i]!)));
  return out;
}
