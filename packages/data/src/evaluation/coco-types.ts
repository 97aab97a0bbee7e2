/**
 * COCO annotation and result files as JSON values, and their checking. Errors name the file
 * (`source`) and the offending entry in one line.
 */

/** COCO box: [x, y, width, height] in pixels. */
export type CocoBox = readonly [number, number, number, number];

export interface CocoImage {
  readonly id: number;
  readonly file_name?: string;
  readonly width?: number;
  readonly height?: number;
}

export interface CocoCategory {
  readonly id: number;
  readonly name?: string;
}

export interface CocoGtAnnotation {
  readonly id?: number;
  readonly image_id: number;
  readonly category_id: number;
  readonly bbox: CocoBox;
  /** Area used for the small/medium/large split (for COCO: the segmentation area); default w·h. */
  readonly area?: number;
  readonly iscrowd?: number | boolean;
}

/** An instances_*.json file (the parts bbox evaluation reads). */
export interface CocoAnnotations {
  readonly images: readonly CocoImage[];
  readonly annotations: readonly CocoGtAnnotation[];
  readonly categories: readonly CocoCategory[];
}

/** One detection of a COCO results file. */
export interface CocoResult {
  readonly image_id: number;
  readonly category_id: number;
  readonly bbox: CocoBox;
  readonly score: number;
}

export class CocoFormatError extends Error {
  override name = 'CocoFormatError';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isBox(value: unknown): value is CocoBox {
  return Array.isArray(value) && value.length === 4 && value.every(isFiniteNumber);
}

/** Checks the shape of a parsed annotation file; throws a one-line CocoFormatError naming `source`. */
export function checkCocoAnnotations(value: unknown, source = 'annotations'): CocoAnnotations {
  if (!isRecord(value)) throw new CocoFormatError(`${source}: expected a COCO annotation object with images, annotations and categories`);
  for (const key of ['images', 'annotations', 'categories'] as const) {
    if (!Array.isArray(value[key])) throw new CocoFormatError(`${source}: '${key}' must be a list`);
  }
  const images = value.images as unknown[];
  const categories = value.categories as unknown[];
  const annotations = value.annotations as unknown[];
  images.forEach((image, i) => {
    if (!isRecord(image) || !isFiniteNumber(image.id)) throw new CocoFormatError(`${source}: images[${i}] needs a numeric id`);
  });
  categories.forEach((category, i) => {
    if (!isRecord(category) || !isFiniteNumber(category.id)) throw new CocoFormatError(`${source}: categories[${i}] needs a numeric id`);
  });
  const imageIds = new Set(images.map((image) => (image as CocoImage).id));
  const categoryIds = new Set(categories.map((category) => (category as CocoCategory).id));
  annotations.forEach((ann, i) => {
    if (!isRecord(ann)) throw new CocoFormatError(`${source}: annotations[${i}] is not an object`);
    if (!isBox(ann.bbox)) throw new CocoFormatError(`${source}: annotations[${i}].bbox must be [x, y, w, h] numbers`);
    if (ann.area !== undefined && !isFiniteNumber(ann.area)) throw new CocoFormatError(`${source}: annotations[${i}].area must be a number`);
    if (!imageIds.has(ann.image_id as number)) throw new CocoFormatError(`${source}: annotations[${i}] has image_id ${JSON.stringify(ann.image_id)}, not in images`);
    if (!categoryIds.has(ann.category_id as number)) throw new CocoFormatError(`${source}: annotations[${i}] has category_id ${JSON.stringify(ann.category_id)}, not in categories`);
  });
  return value as unknown as CocoAnnotations;
}

/**
 * Checks a parsed results file against the annotations: every entry needs a box and a score, and
 * its image and category must exist there (pycocotools asserts the former and silently drops the latter).
 */
export function checkCocoResults(value: unknown, gt: CocoAnnotations, source = 'results', gtSource = 'the annotations'): CocoResult[] {
  if (!Array.isArray(value)) throw new CocoFormatError(`${source}: expected a list of detections`);
  const imageIds = new Set(gt.images.map((image) => image.id));
  const categoryIds = new Set(gt.categories.map((category) => category.id));
  value.forEach((det: unknown, i) => {
    if (!isRecord(det)) throw new CocoFormatError(`${source}: entry ${i} is not an object`);
    if (!isBox(det.bbox)) throw new CocoFormatError(`${source}: entry ${i} needs bbox [x, y, w, h] numbers`);
    if (!isFiniteNumber(det.score)) throw new CocoFormatError(`${source}: entry ${i} needs a numeric score`);
    if (!imageIds.has(det.image_id as number)) throw new CocoFormatError(`${source}: entry ${i} has image_id ${JSON.stringify(det.image_id)}, which is not in ${gtSource}`);
    if (!categoryIds.has(det.category_id as number)) throw new CocoFormatError(`${source}: entry ${i} has category_id ${JSON.stringify(det.category_id)}, which is not in ${gtSource}`);
  });
  return value as CocoResult[];
}
