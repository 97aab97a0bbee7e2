/**
 * A COCO annotation file turned into mmdet's data list (CocoDataset.parse_data_info): one entry
 * per image with its instances as (x1, y1, x2, y2) boxes and contiguous labels. A file that is
 * not COCO at all is an error naming it; a bad annotation or image entry is skipped with a message
 * and counted (data-issues.ts).
 */
import path from 'node:path';
import type { DetInstance } from '../transforms/types.js';
import type { DataIssueLog } from './data-issues.js';

/** mmdet's data_info for one image. */
export interface DetDataInfo {
  readonly img_id: number;
  readonly img_path: string;
  /** The image's size as the annotation file states it. */
  readonly width: number;
  readonly height: number;
  readonly instances: readonly DetInstance[];
  /** Segmentation maps are not ported. */
  readonly seg_map_path: null;
}

export interface CocoCategoryInfo {
  readonly id: number;
  readonly name: string;
}

export interface ParsedCocoFile {
  /** The file's categories, in file order. */
  readonly fileCategories: readonly CocoCategoryInfo[];
  /** Class names; label i is the category named classes[i]. */
  readonly classes: readonly string[];
  /** catIds[label]: the category id of each label (mmdet's cat_ids). */
  readonly catIds: readonly number[];
  readonly dataList: readonly DetDataInfo[];
  /**
   * Per selected category id, the images with at least one annotation of it, valid or not
   * (pycocotools' catToImgs, which mmdet's filter_empty_gt reads).
   */
  readonly catToImgs: ReadonlyMap<number, ReadonlySet<number>>;
}

export class DatasetError extends Error {
  override name = 'DatasetError';
}

export interface ParseOptions {
  /** The annotation file, named in messages. */
  readonly annFile: string;
  /** Folder the images' file_name values are relative to. */
  readonly imgPrefix: string;
  /** metainfo.classes: category names to keep, in label order; undefined = every category, by id. */
  readonly classes?: readonly string[];
  readonly issues: DataIssueLog;
}

type JsonRecord = Record<string, unknown>;

interface ImageEntry {
  readonly id: number;
  readonly fileName: string;
  readonly width: number;
  readonly height: number;
}

const isRecord = (value: unknown): value is JsonRecord => typeof value === 'object' && value !== null && !Array.isArray(value);
const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isPositive = (value: unknown): value is number => isFiniteNumber(value) && value > 0;

export function parseCocoFile(json: unknown, options: ParseOptions): ParsedCocoFile {
  const file = options.annFile;
  if (!isRecord(json)) throw new DatasetError(`${file}: expected a COCO annotation object with images, annotations and categories`);
  for (const key of ['images', 'annotations', 'categories'] as const) {
    if (!Array.isArray(json[key])) throw new DatasetError(`${file}: '${key}' must be a list`);
  }
  const fileCategories = readCategories(json['categories'] as unknown[], file);
  const { classes, catIds } = selectClasses(fileCategories, options.classes, file);
  const { images, unsized } = readImages(json['images'] as unknown[], options);
  const annotations = json['annotations'] as unknown[];
  checkUniqueAnnotationIds(annotations, file);
  const { instancesByImage, catToImgs } = readAnnotations(annotations, { images, unsized, fileCategoryIds: new Set(fileCategories.map((c) => c.id)), catIds, options });
  const dataList = [...images.values()].map((image) => ({
    img_id: image.id,
    img_path: path.join(options.imgPrefix, image.fileName),
    width: image.width,
    height: image.height,
    instances: instancesByImage.get(image.id) ?? [],
    seg_map_path: null,
  }));
  return { fileCategories, classes, catIds, dataList, catToImgs };
}

function readCategories(entries: readonly unknown[], file: string): CocoCategoryInfo[] {
  const categories = entries.map((entry, i) => {
    if (!isRecord(entry) || !isFiniteNumber(entry['id'])) throw new DatasetError(`${file}: categories[${i}] needs a numeric id`);
    if (typeof entry['name'] !== 'string') throw new DatasetError(`${file}: categories[${i}] (id ${entry['id']}) needs a name`);
    return { id: entry['id'], name: entry['name'] };
  });
  const duplicateId = firstDuplicate(categories.map((c) => c.id));
  if (duplicateId !== undefined) throw new DatasetError(`${file}: category id ${duplicateId} appears twice`);
  const duplicateName = firstDuplicate(categories.map((c) => c.name));
  if (duplicateName !== undefined) throw new DatasetError(`${file}: category name '${duplicateName}' appears twice`);
  return categories;
}

/**
 * Labels by name: label i is the category called classes[i]. Without classes, every category of
 * the file sorted by id (mmdet would fall back to its 80 COCO names instead).
 */
function selectClasses(categories: readonly CocoCategoryInfo[], classes: readonly string[] | undefined, file: string): { classes: string[]; catIds: number[] } {
  if (classes === undefined) {
    const byId = [...categories].sort((a, b) => a.id - b.id);
    return { classes: byId.map((c) => c.name), catIds: byId.map((c) => c.id) };
  }
  const duplicate = firstDuplicate(classes);
  if (duplicate !== undefined) throw new DatasetError(`metainfo.classes names '${duplicate}' twice`);
  const idOf = new Map(categories.map((c) => [c.name, c.id]));
  const unknown = classes.filter((name) => !idOf.has(name));
  if (unknown.length) {
    const listed = categories.map((c) => `'${c.name}'`).join(', ');
    throw new DatasetError(`metainfo.classes has ${unknown.map((n) => `'${n}'`).join(', ')}, not a category of ${file} (it has ${listed || 'no categories'})`);
  }
  return { classes: [...classes], catIds: classes.map((name) => idOf.get(name)!) };
}

/** The images with a usable size, and the ids of those without (skipped, reported). */
function readImages(entries: readonly unknown[], options: ParseOptions): { images: Map<number, ImageEntry>; unsized: Set<number> } {
  const file = options.annFile;
  const images = new Map<number, ImageEntry>();
  const unsized = new Set<number>();
  entries.forEach((entry, i) => {
    if (!isRecord(entry) || !isFiniteNumber(entry['id'])) throw new DatasetError(`${file}: images[${i}] needs a numeric id`);
    const id = entry['id'];
    if (typeof entry['file_name'] !== 'string') throw new DatasetError(`${file}: images[${i}] (id ${id}) needs a file_name`);
    if (images.has(id) || unsized.has(id)) throw new DatasetError(`${file}: image id ${id} appears twice`);
    const { width, height } = entry;
    if (!isPositive(width) || !isPositive(height)) {
      unsized.add(id);
      options.issues.report('image_without_size', `image ${id} '${entry['file_name']}' has width ${String(width)} and height ${String(height)}; skipped with its annotations`);
      return;
    }
    images.set(id, { id, fileName: entry['file_name'], width, height });
  });
  return { images, unsized };
}

function checkUniqueAnnotationIds(annotations: readonly unknown[], file: string): void {
  // mmdet asserts this too ("Annotation ids in ... are not unique!").
  const ids = annotations.flatMap((ann) => (isRecord(ann) && ann['id'] !== undefined ? [ann['id']] : []));
  const duplicate = firstDuplicate(ids);
  if (duplicate !== undefined) throw new DatasetError(`${file}: annotation id ${String(duplicate)} appears twice (annotation ids must be unique)`);
}

interface AnnotationTables {
  instancesByImage: Map<number, DetInstance[]>;
  catToImgs: Map<number, Set<number>>;
}

interface AnnotationSources {
  images: ReadonlyMap<number, ImageEntry>;
  unsized: ReadonlySet<number>;
  fileCategoryIds: ReadonlySet<number>;
  catIds: readonly number[];
  options: ParseOptions;
}

function readAnnotations(annotations: readonly unknown[], sources: AnnotationSources): AnnotationTables {
  const labelOf = new Map(sources.catIds.map((id, label) => [id, label]));
  const tables: AnnotationTables = { instancesByImage: new Map(), catToImgs: new Map(sources.catIds.map((id) => [id, new Set<number>()])) };
  annotations.forEach((ann, index) => {
    const instance = readAnnotation(ann, index, { ...sources, labelOf, tables });
    if (!instance) return;
    const imageId = (ann as JsonRecord)['image_id'] as number;
    const list = tables.instancesByImage.get(imageId) ?? [];
    list.push(instance);
    tables.instancesByImage.set(imageId, list);
  });
  return tables;
}

interface AnnotationContext extends AnnotationSources {
  labelOf: ReadonlyMap<number, number>;
  tables: AnnotationTables;
}

/** One annotation as an instance, or undefined when it is left out (reported unless that is by design). */
function readAnnotation(ann: unknown, index: number, context: AnnotationContext): DetInstance | undefined {
  const { images, unsized, fileCategoryIds, labelOf, options } = context;
  const name = isRecord(ann) && ann['id'] !== undefined ? `annotation id ${String(ann['id'])}` : `annotations[${index}]`;
  const report = options.issues.report.bind(options.issues);
  if (!isRecord(ann)) return void report('malformed_annotation', `${name} is not an object; skipped`);
  const imageId = ann['image_id'];
  const image = isFiniteNumber(imageId) ? images.get(imageId) : undefined;
  if (!image) {
    // an image skipped for its size was reported already, with its annotations
    if (!(isFiniteNumber(imageId) && unsized.has(imageId))) report('unknown_image', `${name} has image_id ${JSON.stringify(imageId)}, which is not in images; skipped`);
    return undefined;
  }
  const where = `${name} (image ${image.id} '${image.fileName}')`;
  const categoryId = ann['category_id'];
  if (!isFiniteNumber(categoryId) || !fileCategoryIds.has(categoryId)) {
    return void report('unknown_category', `${where} has category_id ${JSON.stringify(categoryId)}, which is not in categories; skipped`);
  }
  const label = labelOf.get(categoryId);
  // Categories left out by metainfo.classes are dropped by design, as in mmdet.
  if (label === undefined) return undefined;
  context.tables.catToImgs.get(categoryId)!.add(image.id);
  if (ann['ignore']) return undefined; // mmdet skips `ignore` annotations too
  const bbox = ann['bbox'];
  if (!Array.isArray(bbox) || bbox.length !== 4 || !bbox.every(isFiniteNumber)) {
    return void report('malformed_annotation', `${where} has bbox ${JSON.stringify(bbox)}, not four numbers [x, y, w, h]; skipped`);
  }
  const [x, y, w, h] = bbox as [number, number, number, number];
  const area = isFiniteNumber(ann['area']) ? ann['area'] : w * h;
  if (w < 1 || h < 1 || area <= 0) {
    return void report('degenerate_box', `${where} has bbox ${JSON.stringify(bbox)} (area ${area}): narrower or lower than 1 pixel, or of no area; skipped`);
  }
  const overlapW = Math.max(0, Math.min(x + w, image.width) - Math.max(x, 0));
  const overlapH = Math.max(0, Math.min(y + h, image.height) - Math.max(y, 0));
  if (overlapW * overlapH === 0) {
    return void report('box_outside_image', `${where} has bbox ${JSON.stringify(bbox)}, entirely outside the ${image.width}x${image.height} image; skipped`);
  }
  return { bbox: [x, y, x + w, y + h], bbox_label: label, ignore_flag: ann['iscrowd'] ? 1 : 0 };
}

function firstDuplicate<T>(values: readonly T[]): T | undefined {
  const seen = new Set<T>();
  for (const value of values) {
    if (seen.has(value)) return value;
    seen.add(value);
  }
  return undefined;
}
