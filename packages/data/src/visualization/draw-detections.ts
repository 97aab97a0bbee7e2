/**
 * Detection drawing with sharp: boxes and labels go into one SVG the size of the image, which
 * sharp rasterises (librsvg) and composites over the pixels at full size (compositing must come
 * before any resize: sharp runs resize first whatever the call order).
 */
import sharp from 'sharp';
import { withChannelOrder, type RawImage } from '../image/raw-image.js';
import { classColor, contrastingTextColor, cssColor, type Rgb } from './palette.js';
import { estimateTextWidth } from './text-width.js';

export interface Detections {
  /** N x 4 (x1, y1, x2, y2) in pixels of the image being drawn on, flat. */
  readonly bboxes: ArrayLike<number>;
  readonly scores: ArrayLike<number>;
  readonly labels: ArrayLike<number>;
}

export interface DrawOptions {
  /** Detections scoring below this are not drawn. Default 0.3 (mmdet's pred_score_thr). */
  scoreThreshold?: number;
  /** Box edge width in pixels. Default 2. */
  lineWidth?: number;
  /** Label text size in pixels. Default 13. */
  fontSize?: number;
  /** Colours by class index (cycled); default: generated per class. */
  palette?: readonly Rgb[];
  /** Default 'DejaVu Sans' (installed with fonts-dejavu-core; fontconfig falls back silently otherwise). */
  fontFamily?: string;
}

const LABEL_PADDING = 2;

/** A PNG of `image` with the detections drawn on it. A BGR image is converted to RGB first. */
export async function drawDetections(image: RawImage, detections: Detections, classNames: readonly string[], options: DrawOptions = {}): Promise<Buffer> {
  if (image.channels !== 3) throw new Error(`drawDetections: expected a 3-channel image, got ${image.channels}`);
  const rgb = withChannelOrder(image, 'rgb');
  const svg = detectionsSvg(rgb.width, rgb.height, detections, classNames, options);
  return sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
    .composite([{ input: Buffer.from(svg), left: 0, top: 0 }])
    .png()
    .toBuffer();
}

/** The overlay as SVG text; exported for callers who composite it themselves. */
export function detectionsSvg(width: number, height: number, detections: Detections, classNames: readonly string[], options: DrawOptions = {}): string {
  const count = checkDetections(detections);
  const threshold = options.scoreThreshold ?? 0.3;
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    if (!(detections.scores[i]! >= threshold)) continue;
    parts.push(...drawOne(detectionAt(detections, i), width, height, classNames, options));
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
}

interface Detection {
  box: [number, number, number, number];
  score: number;
  label: number;
}

function checkDetections({ bboxes, scores, labels }: Detections): number {
  const count = scores.length;
  if (bboxes.length !== count * 4 || labels.length !== count) {
    throw new Error(`drawDetections: ${bboxes.length / 4} boxes, ${scores.length} scores and ${labels.length} labels do not match`);
  }
  return count;
}

function detectionAt({ bboxes, scores, labels }: Detections, i: number): Detection {
  return { box: [bboxes[i * 4]!, bboxes[i * 4 + 1]!, bboxes[i * 4 + 2]!, bboxes[i * 4 + 3]!], score: scores[i]!, label: labels[i]! };
}

/** The box outline and its label, clipped to the image; nothing for a box fully outside. */
function drawOne({ box, score, label }: Detection, width: number, height: number, classNames: readonly string[], options: DrawOptions): string[] {
  const [x1, y1, x2, y2] = clipBox(box, width, height);
  if (x2 <= x1 || y2 <= y1) return [];
  const color = classColor(label, options.palette);
  const outline = outlineSvg([x1, y1, x2, y2], options.lineWidth ?? 2, color);
  const text = `${classNames[label] ?? `class ${label}`}: ${(score * 100).toFixed(1)}`;
  return [outline, labelSvg(text, [x1, y1], color, width, height, options)];
}

/**
 * The box edge drawn inside the box (an SVG stroke is centred on its path): the whole line stays
 * visible for boxes that touch the image border, and the box's own pixels are the ones coloured.
 */
function outlineSvg([x1, y1, x2, y2]: Detection['box'], lineWidth: number, color: Rgb): string {
  const inset = Math.min(lineWidth, x2 - x1, y2 - y1) / 2;
  const [width, height] = [x2 - x1 - 2 * inset, y2 - y1 - 2 * inset];
  return `<rect x="${x1 + inset}" y="${y1 + inset}" width="${width}" height="${height}" fill="none" stroke="${cssColor(color)}" stroke-width="${2 * inset}"/>`;
}

function clipBox([x1, y1, x2, y2]: Detection['box'], width: number, height: number): Detection['box'] {
  const clamp = (v: number, max: number) => Math.min(Math.max(v, 0), max);
  return [clamp(x1, width), clamp(y1, height), clamp(x2, width), clamp(y2, height)];
}

/**
 * A filled box with the label text: above the box's top-left corner when there is room, else just
 * inside it; shifted left so that it stays within the image.
 */
function labelSvg(text: string, [boxX, boxY]: [number, number], color: Rgb, width: number, height: number, options: DrawOptions): string {
  const fontSize = options.fontSize ?? 13;
  const labelWidth = Math.ceil(estimateTextWidth(text, fontSize)) + 2 * LABEL_PADDING;
  const labelHeight = Math.ceil(fontSize * 1.2) + LABEL_PADDING;
  const x = Math.max(0, Math.min(Math.floor(boxX), width - labelWidth));
  const y = boxY - labelHeight >= 0 ? Math.floor(boxY - labelHeight) : Math.min(Math.floor(boxY), Math.max(0, height - labelHeight));
  // Baseline at the descender line above the bottom padding: DejaVu's descent is about 0.24 em.
  const baseline = y + labelHeight - LABEL_PADDING / 2 - Math.round(fontSize * 0.24);
  const family = escapeXml(options.fontFamily ?? 'DejaVu Sans');
  return (
    `<rect x="${x}" y="${y}" width="${labelWidth}" height="${labelHeight}" fill="${cssColor(color)}"/>` +
    `<text x="${x + LABEL_PADDING}" y="${baseline}" font-family="${family}" font-size="${fontSize}" fill="${cssColor(contrastingTextColor(color))}">${escapeXml(text)}</text>`
  );
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}
