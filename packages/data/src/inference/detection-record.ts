/**
 * The JSON written next to each drawn image. Keys follow mmdet's DetInferencer predictions
 * (`labels`, `scores`, `bboxes` as parallel lists, every detection the model kept, whatever the
 * drawing threshold), plus the class name of each label, the image and the timings. Values are
 * rounded (boxes to 0.01 px, scores to 1e-4) so that float32 noise does not fill the file.
 */
import type { RawImage } from '../image/raw-image.js';
import type { DetectionResult } from './detector.js';

export interface Timing {
  /** Decoding and the test transforms (resize, packing). */
  pipeline_ms: number;
  /** The detector's test step: preprocessing, forward and post-processing. */
  model_ms: number;
  /** Drawing the detections and encoding the PNG. */
  draw_ms: number;
  total_ms: number;
}

export interface DetectionRecord {
  image: { path: string; width: number; height: number };
  /** (x1, y1, x2, y2) in pixels of the original image. */
  bboxes: [number, number, number, number][];
  scores: number[];
  labels: number[];
  class_names: string[];
  /** Detections at or above it are drawn in the PNG. */
  score_thr: number;
  drawn: number;
  timing: Timing;
}

export interface RecordInput {
  imagePath: string;
  image: RawImage;
  detections: DetectionResult;
  classNames: readonly string[];
  scoreThreshold: number;
  timing: Timing;
}

const roundTo = (decimals: number) => (value: number) => Number(value.toFixed(decimals));
const pixels = roundTo(2);
const probability = roundTo(4);
const milliseconds = roundTo(1);

export function classNameOf(classNames: readonly string[], label: number): string {
  return classNames[label] ?? `class ${label}`;
}

export function detectionRecord(input: RecordInput): DetectionRecord {
  const { bboxes, scores, labels } = input.detections;
  const count = scores.length;
  const boxes = Array.from({ length: count }, (_, i) => [0, 1, 2, 3].map((k) => pixels(bboxes[i * 4 + k]!)) as [number, number, number, number]);
  const { pipeline_ms, model_ms, draw_ms, total_ms } = input.timing;
  const timing: Timing = { pipeline_ms: milliseconds(pipeline_ms), model_ms: milliseconds(model_ms), draw_ms: milliseconds(draw_ms), total_ms: milliseconds(total_ms) };
  return {
    image: { path: input.imagePath, width: input.image.width, height: input.image.height },
    bboxes: boxes,
    scores: Array.from(scores, probability),
    labels: Array.from(labels),
    class_names: Array.from(labels, (label) => classNameOf(input.classNames, label)),
    score_thr: input.scoreThreshold,
    drawn: Array.from(scores).filter((s) => s >= input.scoreThreshold).length,
    timing,
  };
}

/** A JSON number, string or literal: what a list that fits on one line holds. */
const PRIMITIVE = String.raw`(?:-?[\d.eE+-]+|"(?:[^"\\]|\\.)*"|true|false|null)`;
const FLAT_LIST = new RegExp(String.raw`\[\n\s+(${PRIMITIVE}(?:,\n\s+${PRIMITIVE})*)\n\s+\]`, 'g');

/**
 * Indented JSON with each list of plain values (a box, the scores, the class names) on one line,
 * so that the file reads as a table. JSON.stringify escapes newlines inside strings, so a
 * newline in its output always separates items.
 */
export function formatRecord(record: DetectionRecord): string {
  const json = JSON.stringify(record, null, 2);
  return `${json.replace(FLAT_LIST, (_, items: string) => `[${items.replace(/,\n\s+/g, ', ')}]`)}\n`;
}
