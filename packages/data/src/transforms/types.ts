/**
 * The data a pipeline passes along, mmcv-style: one `results` record per image, with mmdet's key
 * names (snake_case, as configs and meta keys name them). Transforms never mutate their input;
 * each returns a new record (sharing untouched arrays).
 */
import type { Shape } from '../boxes/boxes.js';
import type { FlipDirection } from '../image/flip.js';
import type { RawImage } from '../image/raw-image.js';

/** One annotated object as a dataset hands it over (mmdet's `instances` list). */
export interface DetInstance {
  /** (x1, y1, x2, y2) in pixels of the original image. */
  readonly bbox: readonly [number, number, number, number];
  /** Contiguous class index, 0-based. */
  readonly bbox_label: number;
  /** COCO `iscrowd`: such boxes go to `ignored_instances`. Default 0. */
  readonly ignore_flag?: 0 | 1;
}

export interface DetResults {
  readonly img_path?: string;
  readonly img_id?: number | string;
  readonly img?: RawImage;
  /** (h, w) of the image as loaded. */
  readonly ori_shape?: Shape;
  /** (h, w) of the image now, after resizing. */
  readonly img_shape?: Shape;
  /** The resize target as given to mmcv (a (w, h) pair, or edge limits with keep_ratio). */
  readonly scale?: readonly [number, number];
  /** (w_scale, h_scale): the actual new/old ratios per axis. */
  readonly scale_factor?: readonly [number, number];
  readonly keep_ratio?: boolean;
  readonly flip?: boolean;
  readonly flip_direction?: FlipDirection | null;
  readonly instances?: readonly DetInstance[];
  /** N x 4 float32 (x1, y1, x2, y2). */
  readonly gt_bboxes?: Float32Array;
  readonly gt_bboxes_labels?: Int32Array;
  /** 1 where the box is ignored (crowd), 0 otherwise. */
  readonly gt_ignore_flags?: Uint8Array;
  readonly [key: string]: unknown;
}

/**
 * What a pipeline run carries besides the data: the sample's own random stream. The data loader
 * derives it from (seed, epoch, sample index), so that an augmentation draws the same numbers
 * whatever order samples are loaded in and wherever a run is resumed (mmcv draws from numpy's
 * global state instead, which depends on the worker and the order).
 */
export interface TransformContext {
  /** Uniform numbers in [0, 1). */
  readonly random: () => number;
}

/** mmcv's BaseTransform: returns the new results, or null to drop the sample. */
export interface Transform {
  transform(results: DetResults, context?: TransformContext): DetResults | null | Promise<DetResults | null>;
}

/** mmengine's InstanceData restricted to what detection boxes need. */
export interface InstanceData {
  /** N x 4 float32 (x1, y1, x2, y2). */
  readonly bboxes: Float32Array;
  readonly labels: Int32Array;
}

/** Per-image metadata (mmdet `DetDataSample.metainfo`); the preprocessor adds the padding keys. */
export interface DetMetaInfo {
  readonly img_id?: number | string;
  readonly img_path?: string;
  readonly ori_shape?: Shape;
  readonly img_shape?: Shape;
  readonly scale_factor?: readonly [number, number];
  readonly flip?: boolean;
  readonly flip_direction?: FlipDirection | null;
  /** (H, W) of the padded batch, set by DetDataPreprocessor. */
  readonly batch_input_shape?: Shape;
  /** (h, w) of this image padded to the size divisor, set by DetDataPreprocessor. */
  readonly pad_shape?: Shape;
  readonly [key: string]: unknown;
}

export interface DetDataSample {
  readonly metainfo: DetMetaInfo;
  /** Boxes with ignore flag 0; empty when no annotations were loaded. */
  readonly gt_instances: InstanceData;
  /** Boxes with ignore flag 1 (crowds). */
  readonly ignored_instances: InstanceData;
}

/**
 * What PackDetInputs emits. Unlike mmdet (a C x H x W tensor) the image stays an HWC uint8
 * array: tfjs works in NHWC, and keeping it off the backend lets data preparation run ahead.
 */
export type PackedDetInputs = {
  readonly inputs: RawImage;
  readonly data_samples: DetDataSample;
};
