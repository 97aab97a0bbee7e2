/**
 * Which names the labels of a detector stand for, in the order mmdet's init_detector looks for
 * them: the checkpoint's own metadata (mmdet 3 `meta.dataset_meta.classes`, mmdet 2
 * `meta.CLASSES`), then the config's dataset metainfo, then COCO's 80 names when the head has 80
 * classes, else `class i`. Names travel with the weights because the config may be a generic one
 * that a checkpoint was fine-tuned from.
 */
import type { Rgb } from '../visualization/palette.js';

/** mmdet's CocoDataset.METAINFO classes, in label order. */
export const COCO_CLASSES: readonly string[] = [
  'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
  'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
  'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
  'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
  'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
  'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed',
  'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven',
  'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush',
];

export interface ClassNames {
  /** One name per label index, exactly `numClasses` long when the head's class count is known. */
  readonly names: readonly string[];
  /** Per-class colours from the same metadata, when it has a valid palette. */
  readonly palette?: readonly Rgb[];
  /** Where the names came from, for one line of output. */
  readonly source: string;
  /** Set when the names found do not fit the head's class count. */
  readonly warning?: string;
}

export interface ClassNameSources {
  /** The checkpoint's top-level entries other than the weights (loadCheckpoint's `meta`). */
  readonly checkpointMeta?: Readonly<Record<string, unknown>>;
  /** The resolved config. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The box head's class count (model.roi_head.bbox_head.num_classes), when known. */
  readonly numClasses?: number;
}

interface Found {
  names: string[];
  palette?: Rgb[];
  source: string;
}

export function resolveClassNames(sources: ClassNameSources): ClassNames {
  const found = fromCheckpoint(sources.checkpointMeta) ?? fromConfig(sources.config) ?? defaultNames(sources.numClasses);
  return fitToClassCount(found, sources.numClasses);
}

/** The box head's class count in a resolved config, if it has a single box head. */
export function numClassesOf(config: Readonly<Record<string, unknown>>): number | undefined {
  const value = record(record(record(config['model'])?.['roi_head'])?.['bbox_head'])?.['num_classes'];
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

function fromCheckpoint(top: Readonly<Record<string, unknown>> | undefined): Found | undefined {
  const meta = record(top?.['meta']);
  if (!meta) return undefined;
  // mmdet lower-cases the dataset_meta keys: some versions saved `CLASSES` there.
  const datasetMeta = lowerCaseKeys(record(meta['dataset_meta']));
  const fromDatasetMeta = stringList(datasetMeta?.['classes']);
  if (fromDatasetMeta) return { names: fromDatasetMeta, palette: rgbList(datasetMeta?.['palette']), source: "the checkpoint's meta.dataset_meta.classes" };
  const legacy = stringList(meta['CLASSES']);
  if (legacy) return { names: legacy, palette: rgbList(meta['PALETTE']), source: "the checkpoint's meta.CLASSES" };
  return undefined;
}

/** The first dataloader whose dataset metainfo lists classes, test first as mmdet's tools read it. */
function fromConfig(config: Readonly<Record<string, unknown>>): Found | undefined {
  for (const loader of ['test_dataloader', 'val_dataloader', 'train_dataloader']) {
    const metainfo = record(record(record(config[loader])?.['dataset'])?.['metainfo']);
    const names = stringList(metainfo?.['classes']);
    if (names) return { names, palette: rgbList(metainfo?.['palette']), source: `the config's ${loader}.dataset.metainfo.classes` };
  }
  return undefined;
}

function defaultNames(numClasses: number | undefined): Found {
  if (numClasses === COCO_CLASSES.length) return { names: [...COCO_CLASSES], source: "COCO's 80 names (neither the checkpoint nor the config names the classes)" };
  return { names: genericNames(numClasses ?? 0), source: "generic names 'class i' (neither the checkpoint nor the config names the classes)" };
}

function genericNames(count: number, from = 0): string[] {
  return Array.from({ length: count - from }, (_, i) => `class ${from + i}`);
}

/** Pads missing names with `class i` so every label has a name, and says so. */
function fitToClassCount(found: Found, numClasses: number | undefined): ClassNames {
  const base = { palette: found.palette, source: found.source };
  if (numClasses === undefined || found.names.length === numClasses) return { ...base, names: found.names };
  const warning = `${found.source} lists ${found.names.length} names but the box head has ${numClasses} classes`;
  if (found.names.length > numClasses) return { ...base, names: found.names.slice(0, numClasses), warning: `${warning}; using the first ${numClasses}` };
  return { ...base, names: [...found.names, ...genericNames(numClasses, found.names.length)], warning: `${warning}; the others are named 'class i'` };
}

function record(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function lowerCaseKeys(value: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> | undefined {
  return value && Object.fromEntries(Object.entries(value).map(([k, v]) => [k.toLowerCase(), v]));
}

/** A non-empty list of strings (a pickled tuple arrives as an array), else undefined. */
function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string') ? [...(value as string[])] : undefined;
}

function rgbList(value: unknown): Rgb[] | undefined {
  const isRgb = (v: unknown): v is Rgb => Array.isArray(v) && v.length === 3 && v.every((c) => Number.isInteger(c) && c >= 0 && c <= 255);
  return Array.isArray(value) && value.length > 0 && value.every(isRgb) ? value.map((c: Rgb) => [c[0], c[1], c[2]] as Rgb) : undefined;
}
