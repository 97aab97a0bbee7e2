/**
 * What the heads and detectors pass between them, on the host: per-image metadata (mmdet's
 * `img_metas`, snake_case keys as DetDataPreprocessor writes them) and per-image instance
 * lists (mmdet's InstanceData of bboxes/scores/labels) as flat typed arrays. Proposals and
 * detections are data, not graph: mmdet detaches them too.
 */
const f32 = Math.fround;

/** (height, width), mmdet's `img_shape` order. */
export type Shape2 = readonly [height: number, width: number];

/** Per-image metadata the heads read. A DetDataPreprocessor sample's metainfo fits it. */
export interface ImageMeta {
  /** (h, w) of the image after resizing, before padding: boxes are clipped to it. */
  readonly img_shape: Shape2;
  /** (h, w) of the image as loaded. */
  readonly ori_shape?: Shape2;
  /** (w_scale, h_scale) of the resize; detections are divided by it with rescale. */
  readonly scale_factor?: readonly [number, number];
  /** (h, w) of this image padded to the size divisor. */
  readonly pad_shape?: Shape2;
  /** (H, W) of the padded batch. */
  readonly batch_input_shape?: Shape2;
}

/** One image's boxes: bboxes [k * 4] rows of (x1, y1, x2, y2), scores [k], labels [k]. */
export interface InstanceResults {
  readonly bboxes: Float32Array;
  readonly scores: Float32Array;
  readonly labels: Int32Array;
}

/**
 * One image's annotated boxes, mmdet's gt_instances / ignored_instances: bboxes [k * 4] rows of
 * (x1, y1, x2, y2) in input pixels, labels [k] (0-based classes). @tsdet/data's InstanceData fits.
 */
export interface BoxInstances {
  readonly bboxes: Float32Array;
  readonly labels: Int32Array;
}

export function instanceCount(instances: InstanceResults): number {
  return instances.scores.length;
}

export function emptyInstances(): InstanceResults {
  return { bboxes: new Float32Array(0), scores: new Float32Array(0), labels: new Int32Array(0) };
}

/** mmdet's bbox2roi: per-image boxes -> flat [R * 5] rows of (batch_idx, x1, y1, x2, y2). */
export function bbox2roi(perImage: readonly { readonly bboxes: Float32Array }[]): Float32Array {
  const total = perImage.reduce((sum, b) => sum + b.bboxes.length / 4, 0);
  const rois = new Float32Array(total * 5);
  let row = 0;
  perImage.forEach(({ bboxes }, image) => {
    for (let k = 0; k < bboxes.length / 4; k++, row++) {
      rois[row * 5] = image;
      rois.set(bboxes.subarray(k * 4, k * 4 + 4), row * 5 + 1);
    }
  });
  return rois;
}

/**
 * mmdet's rescale step, scale_boxes(boxes, [1 / w_scale, 1 / h_scale]): x by 1 / w_scale and y by
 * 1 / h_scale, the factors rounded to float32 first as torch's new_tensor does.
 */
export function unscaleBoxes(boxes: Float32Array, scaleFactor: readonly [number, number]): Float32Array {
  const [sx, sy] = [f32(1 / scaleFactor[0]), f32(1 / scaleFactor[1])];
  return boxes.map((v, i) => (i % 2 === 0 ? v * sx : v * sy));
}

/** The scale factor of `meta`, or an error naming what is missing (rescale needs it). */
export function requireScaleFactor(meta: ImageMeta, image: number): readonly [number, number] {
  if (!meta.scale_factor) throw new Error(`rescale: image ${image}'s metadata has no scale_factor (the Resize transform records it)`);
  return meta.scale_factor;
}
