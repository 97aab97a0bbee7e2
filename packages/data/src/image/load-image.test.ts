import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { encodePng, patternImage, pixelAt, withTempDir, writePng } from '../test-support.test.js';
import { ImageLoadError, decodeImage, loadImage, type ImageLoadFailure } from './load-image.js';

async function expectLoadError(promise: Promise<unknown>, failure: ImageLoadFailure, message: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(ImageLoadError);
    expect((error as ImageLoadError).failure).to.equal(failure);
    expect((error as Error).message).to.match(message);
    return;
  }
  expect.fail('expected an ImageLoadError');
}

/** A JPEG of 16x8 stored pixels (left half red, right half blue) with an EXIF orientation tag. */
function orientedJpeg(orientation: number): Promise<Buffer> {
  const data = new Uint8Array(16 * 8 * 3);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 16; x++) data.set(x < 8 ? [255, 0, 0] : [0, 0, 255], (y * 16 + x) * 3);
  return sharp(data, { raw: { width: 16, height: 8, channels: 3 } }).jpeg({ quality: 100 }).withMetadata({ orientation }).toBuffer();
}

describe('image/loadImage', () => {
  it('decodes to BGR by default, as mmdet does, and to RGB on request', async () => {
    await withTempDir(async (dir) => {
      const source = patternImage(9, 6);
      const file = await writePng(dir, 'pattern.png', source);
      const bgr = await loadImage(file);
      expect([bgr.width, bgr.height, bgr.channels, bgr.channelOrder]).to.deep.equal([9, 6, 3, 'bgr']);
      expect(pixelAt(bgr, 4, 3)).to.deep.equal(pixelAt(source, 4, 3).reverse());
      const rgb = await loadImage(file, { channelOrder: 'rgb' });
      expect(rgb.data).to.deep.equal(source.data);
      // our own copy, not a view into sharp's pooled memory
      expect(rgb.data.byteOffset).to.equal(0);
      expect(rgb.data.buffer.byteLength).to.equal(9 * 6 * 3);
    });
  });

  it('applies the EXIF orientation (cv2 IMREAD_COLOR), unless told to ignore it', async () => {
    const jpeg = await orientedJpeg(6); // "rotate 90 degrees clockwise to display"
    const oriented = await decodeImage(jpeg, { channelOrder: 'rgb' });
    expect([oriented.width, oriented.height]).to.deep.equal([8, 16]);
    const [r, , b] = pixelAt(oriented, 4, 2); // the stored left half (red) is now on top
    expect(r).to.be.above(200);
    expect(b).to.be.below(60);
    const stored = await decodeImage(jpeg, { channelOrder: 'rgb', colorType: 'color_ignore_orientation' });
    expect([stored.width, stored.height]).to.deep.equal([16, 8]);
  });

  it('always gives 3 channels: grey is replicated, alpha dropped', async () => {
    const grey = await sharp(Uint8Array.from([0, 50, 100, 150, 200, 250]), { raw: { width: 3, height: 2, channels: 1 } }).png().toBuffer();
    const fromGrey = await decodeImage(grey);
    expect(fromGrey.channels).to.equal(3);
    expect(pixelAt(fromGrey, 1, 1)).to.deep.equal([200, 200, 200]);
    const rgba = await sharp(Uint8Array.from([10, 20, 30, 128, 40, 50, 60, 255]), { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer();
    const fromRgba = await decodeImage(rgba, { channelOrder: 'rgb' });
    expect([...fromRgba.data]).to.deep.equal([10, 20, 30, 40, 50, 60]);
  });

  it('names the file when it is missing', async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, 'nope.jpg');
      await expectLoadError(loadImage(file), 'missing', new RegExp(`cannot load image '${escape(file)}': no such file`));
    });
  });

  it('names the file when it cannot be read', async () => {
    await withTempDir(async (dir) => {
      const folder = path.join(dir, 'a-folder.png');
      await mkdir(folder);
      await expectLoadError(loadImage(folder), 'unreadable', new RegExp(`'${escape(folder)}': it is a directory`));
    });
  });

  it('names the file when it is not an image, truncated or empty', async () => {
    await withTempDir(async (dir) => {
      const text = path.join(dir, 'notes.jpg');
      await writeFile(text, 'this is not an image');
      await expectLoadError(loadImage(text), 'corrupt', new RegExp(`'${escape(text)}': not a decodable image \\(.*unsupported image format`));
      const png = await encodePng(patternImage(32, 32));
      const truncated = path.join(dir, 'truncated.png');
      await writeFile(truncated, png.subarray(0, png.length - 40));
      await expectLoadError(loadImage(truncated), 'corrupt', new RegExp(`'${escape(truncated)}': not a decodable image`));
      const empty = path.join(dir, 'empty.png');
      await writeFile(empty, '');
      await expectLoadError(loadImage(empty), 'corrupt', /empty\.png': the file is empty/);
    });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
