/** Images as the data pipeline passes them around: HWC uint8 in a plain typed array, no tensors. */

/**
 * Channel order of a 3-channel image. mmdet decodes with cv2, so its pipelines and checkpoints
 * expect BGR (`bgr_to_rgb=True` in the data preprocessor undoes it); drawing wants RGB.
 */
export type ChannelOrder = 'rgb' | 'bgr';

export interface RawImage {
  /** Row-major HWC pixels, `height * width * channels` bytes. */
  readonly data: Uint8Array;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** Meaningful for 3-channel images only. */
  readonly channelOrder: ChannelOrder;
}

/** A new image with the first and third channels swapped (RGB <-> BGR). */
export function swapRedBlue(image: RawImage): RawImage {
  if (image.channels !== 3) throw new Error(`swapRedBlue: expected a 3-channel image, got ${image.channels} channel(s)`);
  const data = new Uint8Array(image.data.length);
  for (let i = 0; i < data.length; i += 3) {
    data[i] = image.data[i + 2]!;
    data[i + 1] = image.data[i + 1]!;
    data[i + 2] = image.data[i]!;
  }
  return { ...image, data, channelOrder: image.channelOrder === 'rgb' ? 'bgr' : 'rgb' };
}

/** The image in `order`, the same object when it already is. */
export function withChannelOrder(image: RawImage, order: ChannelOrder): RawImage {
  return image.channelOrder === order ? image : swapRedBlue(image);
}

/** Throws unless `data` holds exactly `height * width * channels` bytes. */
export function assertImageShape(image: RawImage, context: string): void {
  const expected = image.height * image.width * image.channels;
  if (image.data.length !== expected) {
    throw new Error(`${context}: image data has ${image.data.length} bytes, expected ${image.height}x${image.width}x${image.channels} = ${expected}`);
  }
}
