/**
 * Image decoding with sharp, in the way mmcv's `imfrombytes(content, flag='color')` decodes with
 * cv2: always 3 channels (grey is replicated, alpha dropped, 16-bit reduced to 8), EXIF orientation
 * applied, no colour management, BGR unless asked otherwise.
 */
import fs from 'node:fs';
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

/**
 * Reads and decodes an image file (JPEG, PNG, WebP, TIFF, GIF, ... whatever libvips reads).
 *
 * libvips reads the file itself, on a worker thread. Reading it through node's fs first would
 * take a trip through the main thread per chunk, so a data loader's reads would stall whenever
 * the main thread is busy (a training step); this way a load needs the main thread only to
 * start and to finish. The file is checked synchronously first (a stat, microseconds) so that a
 * missing file or a folder gets its own message.
 */
export async function loadImage(path: string, options: LoadImageOptions = {}): Promise<RawImage> {
  checkImageFile(path);
  const decoded = await decodeRgb(path, options.colorType ?? 'color', path);
  return withChannelOrder(decoded, options.channelOrder ?? 'bgr');
}

function checkImageFile(path: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(path);
    fs.accessSync(path, fs.constants.R_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ImageLoadError(path, 'missing', 'no such file');
    throw new ImageLoadError(path, 'unreadable', error instanceof Error ? error.message : String(error));
  }
  if (stat.isDirectory()) throw new ImageLoadError(path, 'unreadable', 'it is a directory');
  if (stat.size === 0) throw new ImageLoadError(path, 'corrupt', 'the file is empty');
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

/** `input`: encoded bytes, or a file path for libvips to read. */
async function decodeRgb(input: Uint8Array | string, colorType: ColorType, source: string): Promise<RawImage> {
  try {
    // failOn 'error': refuse truncated or broken data, but accept files that only raise decoder
    // warnings (extraneous bytes and the like), which cv2 decodes too. ignoreIcc: cv2 does no
    // colour management, so an embedded profile must not change the pixel values.
    const { data, info } = await sharp(input, { autoOrient: colorType === 'color', ignoreIcc: true, failOn: 'error' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { data: ownBytes(data), height: info.height, width: info.width, channels: 3, channelOrder: 'rgb' };
  } catch (error) {
    throw new ImageLoadError(source, 'corrupt', `not a decodable image (${error instanceof Error ? error.message : String(error)})`);
  }
}

/**
 * The bytes in an array of their own: a Buffer may be a view into a larger shared pool, and is
 * then copied; a Buffer that owns its memory (what sharp returns for decoded images) is only
 * re-wrapped, sparing the main thread a copy of every image.
 */
function ownBytes(buffer: Buffer): Uint8Array {
  const ownsMemory = buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength;
  return ownsMemory ? new Uint8Array(buffer.buffer, 0, buffer.byteLength) : new Uint8Array(buffer);
}
