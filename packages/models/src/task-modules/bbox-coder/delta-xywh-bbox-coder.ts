/**
 * mmdet's DeltaXYWHBBoxCoder (mmdet-reference §4.3): boxes <-> normalised (dx, dy, dw, dh)
 * deltas, with no +1 on widths. Written with tfjs ops in torch's order of operations, so the
 * float32 results match mmdet's and decode stays differentiable w.r.t. the deltas (IoU-type
 * losses on decoded boxes need that).
 */
import * as tf from '@tensorflow/tfjs-core';

/** mmdet's default wh_ratio_clip: dw, dh are clamped to |log(16 / 1000)|, about 4.135. */
export const DEFAULT_WH_RATIO_CLIP = 16 / 1000;

type Quad = readonly [number, number, number, number];

export interface DeltaXYWHBBoxCoderOptions {
  targetMeans?: Quad;
  targetStds?: Quad;
  /** Clip decoded boxes to the image when a max shape is given. */
  clipBorder?: boolean;
  /** Clamp the centre shift (dx * w) to +-ctrClamp pixels, and dw/dh only from above. */
  addCtrClamp?: boolean;
  ctrClamp?: number;
  /** Default of decode's whRatioClip. */
  whRatioClip?: number;
}

export interface DecodeOptions {
  /**
   * [h, w] to clip decoded boxes to (when clipBorder), or for 3-D deltas one [h, w] per image.
   */
  maxShape?: readonly [number, number] | readonly (readonly [number, number])[];
  whRatioClip?: number;
}

export class DeltaXYWHBBoxCoder {
  readonly encodeSize = 4;
  readonly means: Quad;
  readonly stds: Quad;
  readonly clipBorder: boolean;
  readonly addCtrClamp: boolean;
  readonly ctrClamp: number;
  readonly whRatioClip: number;

  constructor(options: DeltaXYWHBBoxCoderOptions = {}) {
    this.means = options.targetMeans ?? [0, 0, 0, 0];
    this.stds = options.targetStds ?? [1, 1, 1, 1];
    this.clipBorder = options.clipBorder ?? true;
    this.addCtrClamp = options.addCtrClamp ?? false;
    this.ctrClamp = options.ctrClamp ?? 32;
    this.whRatioClip = options.whRatioClip ?? DEFAULT_WH_RATIO_CLIP;
  }

  /** mmdet's bbox2delta: deltas [N, 4] that turn `boxes` [N, 4] into `gts` [N, 4]. */
  encode(boxes: tf.Tensor2D, gts: tf.Tensor2D): tf.Tensor2D {
    if (boxes.shape.join() !== gts.shape.join()) throw new Error(`DeltaXYWHBBoxCoder.encode: boxes [${boxes.shape.join(', ')}] and gts [${gts.shape.join(', ')}] must have one shape`);
    if (boxes.shape[1] !== 4) throw new Error(`DeltaXYWHBBoxCoder.encode: boxes must be [N, 4], got [${boxes.shape.join(', ')}]`);
    return tf.tidy(() => {
      const p = centreSize(boxes);
      const g = centreSize(gts);
      const dxy = tf.div(tf.sub(g.centre, p.centre), p.size);
      const dwh = tf.log(tf.div(g.size, p.size));
      const deltas = tf.concat([dxy, dwh], 1);
      return tf.div(tf.sub(deltas, tf.tensor1d([...this.means])), tf.tensor1d([...this.stds])) as tf.Tensor2D;
    });
  }

  /**
   * mmdet's delta2bbox: boxes from `rois` [N, 4] and `deltas` [N, 4 * C] (class-specific groups
   * of 4 decode against the same roi) -> [N, 4 * C]. Batched inputs, rois [B, N, 4] with deltas
   * [B, N, 4 * C], decode per image (maxShape then one [h, w] per image, or one for all).
   */
  decode<T extends tf.Tensor2D | tf.Tensor3D>(rois: T, deltas: T, options: DecodeOptions = {}): T {
    if (deltas.rank === 3) return this.decodeBatched(rois as tf.Tensor3D, deltas as tf.Tensor3D, options) as T;
    const maxShape = options.maxShape === undefined ? undefined : singleShape(options.maxShape);
    return this.decodeFlat(rois as tf.Tensor2D, deltas as tf.Tensor2D, maxShape, options.whRatioClip ?? this.whRatioClip) as T;
  }

  private decodeFlat(rois: tf.Tensor2D, deltas: tf.Tensor2D, maxShape: readonly [number, number] | undefined, whRatioClip: number): tf.Tensor2D {
    const [numBoxes, width] = deltas.shape;
    if (rois.shape[0] !== numBoxes || rois.shape[1] !== 4) throw new Error(`DeltaXYWHBBoxCoder.decode: rois must be [${numBoxes}, 4] for deltas [${deltas.shape.join(', ')}], got [${rois.shape.join(', ')}]`);
    if (width % 4 !== 0) throw new Error(`DeltaXYWHBBoxCoder.decode: deltas must have 4 * C columns, got ${width}`);
    if (numBoxes === 0) return tf.clone(deltas);
    return tf.tidy(() => {
      const classes = width / 4;
      const d = tf.add(tf.mul(tf.reshape(deltas, [-1, 4]), tf.tensor1d([...this.stds])), tf.tensor1d([...this.means]));
      const p = centreSize(tf.reshape(tf.tile(rois, [1, classes]), [-1, 4]) as tf.Tensor2D);
      const shift = this.clampShift(tf.mul(p.size, tf.slice(d, [0, 0], [-1, 2])));
      const dwh = this.clampScale(tf.slice(d, [0, 2], [-1, 2]), whRatioClip);
      const centre = tf.add(p.centre, shift);
      const half = tf.mul(tf.mul(p.size, tf.exp(dwh)), 0.5);
      const boxes = tf.concat([tf.sub(centre, half), tf.add(centre, half)], 1) as tf.Tensor2D;
      const clipped = this.clipBorder && maxShape ? clipToShape(boxes, maxShape) : boxes;
      return tf.reshape(clipped, [numBoxes, width]);
    });
  }

  /** Per image of a batch; mmdet's onnx_delta2bbox path gives the same numbers. */
  private decodeBatched(rois: tf.Tensor3D, deltas: tf.Tensor3D, options: DecodeOptions): tf.Tensor3D {
    const batch = deltas.shape[0];
    if (rois.rank !== 3 || rois.shape[0] !== batch || rois.shape[1] !== deltas.shape[1]) {
      throw new Error(`DeltaXYWHBBoxCoder.decode: batched rois must be [${batch}, ${deltas.shape[1]}, 4], got [${rois.shape.join(', ')}]`);
    }
    const shapes = perImageShapes(options.maxShape, batch);
    const whRatioClip = options.whRatioClip ?? this.whRatioClip;
    return tf.tidy(() => {
      const images = Array.from({ length: batch }, (_, b) => {
        const roi = tf.squeeze(tf.slice(rois, [b, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D;
        const delta = tf.squeeze(tf.slice(deltas, [b, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D;
        return this.decodeFlat(roi, delta, shapes?.[b], whRatioClip);
      });
      return tf.stack(images) as tf.Tensor3D;
    });
  }

  /** With add_ctr_clamp the centre shift in pixels is clamped to +-ctr_clamp. */
  private clampShift(shift: tf.Tensor): tf.Tensor {
    return this.addCtrClamp ? tf.clipByValue(shift, -this.ctrClamp, this.ctrClamp) : shift;
  }

  /** dw, dh clamped to +-|log(wh_ratio_clip)| (only from above with add_ctr_clamp). */
  private clampScale(dwh: tf.Tensor, whRatioClip: number): tf.Tensor {
    const maxRatio = Math.abs(Math.log(whRatioClip));
    return this.addCtrClamp ? tf.minimum(dwh, maxRatio) : tf.clipByValue(dwh, -maxRatio, maxRatio);
  }
}

/** Centres (x1 + x2) * 0.5 and sizes x2 - x1, as [N, 2] (x, y) tensors. */
function centreSize(boxes: tf.Tensor2D): { centre: tf.Tensor2D; size: tf.Tensor2D } {
  const topLeft = tf.slice(boxes, [0, 0], [-1, 2]);
  const bottomRight = tf.slice(boxes, [0, 2], [-1, 2]);
  return { centre: tf.mul(tf.add(topLeft, bottomRight), 0.5), size: tf.sub(bottomRight, topLeft) };
}

/** x into [0, w] and y into [0, h] (to w, not w - 1, as mmdet). */
function clipToShape(boxes: tf.Tensor2D, [h, w]: readonly [number, number]): tf.Tensor2D {
  return tf.minimum(tf.maximum(boxes, 0), tf.tensor1d([w, h, w, h]));
}

function isShapeList(shape: DecodeOptions['maxShape']): shape is readonly (readonly [number, number])[] {
  return Array.isArray(shape) && Array.isArray(shape[0]);
}

function singleShape(shape: NonNullable<DecodeOptions['maxShape']>): readonly [number, number] {
  if (isShapeList(shape)) throw new Error('DeltaXYWHBBoxCoder.decode: a list of max shapes needs batched [B, N, 4 * C] deltas');
  return shape as readonly [number, number];
}

/** One [h, w] per image: a single shape is shared, a list must have one entry per image (mmdet asserts). */
function perImageShapes(shape: DecodeOptions['maxShape'], batch: number): (readonly [number, number])[] | undefined {
  if (shape === undefined) return undefined;
  if (!isShapeList(shape)) return Array.from({ length: batch }, () => shape as readonly [number, number]);
  if (shape.length !== batch) throw new Error(`DeltaXYWHBBoxCoder.decode: ${shape.length} max shapes for a batch of ${batch}`);
  return [...shape];
}
