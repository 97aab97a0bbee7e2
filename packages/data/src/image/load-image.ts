/**
 * Image decoding with sharp, in the way mmcv's `imfrombytes(content, flag='color')` decodes with
 * cv2: always 3 channels (grey is replicated, alpha dropped, 16-bit reduced to 8), EXIF orientation
 * applied, no colour management, BGR unless asked otherwise.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import type { ChannelOrder, RawImage } from './raw-image.js';
import { withChannelOrder } from './raw-image.js';

/**
 * mmcv's colour flags: `color` applies the EXIF orientation (cv2.IMREAD_COLOR does),
 * `color_ignore_orientation` keeps the stored pixel layout.
 */
export type ColorType = 'color' | 'color_ignore_orientation';

export interface LoadImageOptions {
  /** Default 'bgr', as mmdet's LoadImageFromFile; use 'rgb' for drawing or RGB-trained weights. */
  channelOrder?: ChannelOrder;
  /** Default 'color'. */
  colorType?: ColorType;
}

export type ImageLoadFailure = 'missing' | 'unreadable' | 'corrupt';

/** A file that could not be turned into pixels; the message names the file and why. */
export class ImageLoadError extends Error {
  override name = 'ImageLoadError';
  constructor(
    readonly source: string,
    readonly failure: ImageLoadFailure,
    detail: string,
  ) {
    super(`cannot load image '${source}': ${detail}`);
  }
}

/** Reads and decodes an image file (JPEG, PNG, WebP, TIFF, GIF, ... whatever libvips reads). */
export async function loadImage(path: string, options: LoadImageOptions = {}): Promise<RawImage> {
  const bytes = await readImageFile(path);
  return decodeImage(bytes, { ...options, source: path });
}

async function readImageFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ImageLoadError(path, 'missing', 'no such file');
    if (code === 'EISDIR') throw new ImageLoadError(path, 'unreadable', 'it is a directory');
    throw new ImageLoadError(path, 'unreadable', error instanceof Error ? error.message : String(error));
  }
}

/**
 * Decodes encoded image bytes. `source` names the bytes in errors (a file path, a URL, ...).
 *
 * Differences from cv2 that remain: sharp's JPEG decoder (mozjpeg) may round a few pixels
 * differently from the libjpeg-turbo in opencv-python, and CMYK JPEGs are converted through an
 * ICC transform where cv2 uses libjpeg's plain inversion.
 */
export async function decodeImage(bytes: Uint8Array, options: LoadImageOptions & { source?: string } = {}): Promise<RawImage> {
  const source = options.source ?? '<buffer>';
  if (bytes.length === 0) throw new ImageLoadError(source, 'corrupt', 'the file is empty');
  const decoded = await decodeRgb(bytes, options.colorType ?? 'color', source);
  return withChannelOrder(decoded, options.channelOrder ?? 'bgr');
}

async function decodeRgb(bytes: Uint8Array, colorType: ColorType, source: string): Promise<RawImage> {
  try {
    // failOn 'error': refuse truncated or broken data, but accept files that only raise decoder
    // warnings (extraneous bytes and the like), which cv2 decodes too. ignoreIcc: cv2 does no
    // colour management, so an embedded profile must not change the pixel values.
    const { data, info } = await sharp(bytes, { autoOrient: colorType === 'color', ignoreIcc: true, failOn: 'error' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    // sharp's Buffer may be a view into a larger pool: copy into an array of our own.
    return { data: new Uint8Array(data), height: info.height, width: info.width, channels: 3, channelOrder: 'rgb' };
  } catch (error) {
    throw new ImageLoadError(source, 'corrupt', `not a decodable image (${error instanceof Error ? error.message : String(error)})`);
  }
}
