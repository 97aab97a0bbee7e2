/** Shared test helpers (a .test.ts file so that it stays out of the build): images made with sharp. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { RawImage } from './image/raw-image.js';

/** An RGB image whose pixel (x, y) is (x * 7 + y, y * 5 + 3 * x, x + y * 11) mod 256: every pixel tells where it came from. */
export function patternImage(width: number, height: number): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 7 + y) % 256;
      data[i + 1] = (y * 5 + 3 * x) % 256;
      data[i + 2] = (x + y * 11) % 256;
    }
  }
  return { data, width, height, channels: 3, channelOrder: 'rgb' };
}

/** A solid RGB image. */
export function solidImage(width: number, height: number, [r, g, b]: readonly [number, number, number]): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) [data[i], data[i + 1], data[i + 2]] = [r, g, b];
  return { data, width, height, channels: 3, channelOrder: 'rgb' };
}

/** PNG bytes of an RGB image (lossless, so decoding gives the pixels back). */
export function encodePng(image: RawImage): Promise<Buffer> {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toBuffer();
}

/** Decodes a PNG to RGB pixels. */
export async function decodePng(png: Buffer): Promise<RawImage> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3, channelOrder: 'rgb' };
}

export function pixelAt(image: RawImage, x: number, y: number): number[] {
  const i = (y * image.width + x) * image.channels;
  return [...image.data.subarray(i, i + image.channels)];
}

/** A temporary folder for files written by a test, and its removal. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tsdet-data-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function writePng(dir: string, name: string, image: RawImage): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, await encodePng(image));
  return file;
}
