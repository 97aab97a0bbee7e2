/** cv2 INTER_LINEAR / INTER_NEAREST semantics, on values worked out by hand from cv2's fixed-point arithmetic. */
import { expect } from 'chai';
import { patternImage, solidImage } from '../test-support.test.js';
import type { RawImage } from './raw-image.js';
import { resizeImage } from './resize.js';

function gray(width: number, height: number, values: number[]): RawImage {
  return { data: Uint8Array.from(values), width, height, channels: 1, channelOrder: 'rgb' };
}

describe('image/resize (cv2 semantics)', () => {
  it('samples at pixel centres and clamps at the borders: [0, 100] to 4 wide is [0, 25, 75, 100]', () => {
    // x_src = (x + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
    expect([...resizeImage(gray(2, 1, [0, 100]), 4, 1).data]).to.deep.equal([0, 25, 75, 100]);
  });

  it('does the same vertically, where cv2 keeps the weights and clamps the rows', () => {
    expect([...resizeImage(gray(1, 2, [0, 100]), 1, 4).data]).to.deep.equal([0, 25, 75, 100]);
  });

  it("truncates as cv2's fixed point does, which is not round(bilinear)", () => {
    // Rows 5 and 0 to 5 rows: row 1 samples y = 1.5 * 0.4 - 0.5 = 0.1 (float32), weights
    // round(0.9 * 2048) = 1843 and 205. Row values are 5 * 2048 = 10240 and 0:
    // ((10240 >> 4) * 1843) >> 16 = 17; (17 + 2) >> 2 = 4, where 5 * 0.9 = 4.5 would round to 5.
    const out = resizeImage(gray(16, 2, [...Array(16).fill(5), ...Array(16).fill(0)]), 16, 5);
    expect(out.data[16]).to.equal(4);
    expect([...out.data.subarray(16, 32)]).to.deep.equal(Array(16).fill(4)); // every column, so no row tail differs
  });

  it('halves as the mean of each 2x2 block with (sum + 2) >> 2 (cv2 switches to INTER_AREA there, same result)', () => {
    const width = 32; // 96 values a row: the whole row goes through cv2's vector path
    const top = Array.from({ length: width * 3 }, (_, i) => (i * 37) % 256);
    const bottom = Array.from({ length: width * 3 }, (_, i) => (i * 91 + 5) % 256);
    const image: RawImage = { data: Uint8Array.from([...top, ...bottom]), width, height: 2, channels: 3, channelOrder: 'rgb' };
    const out = resizeImage(image, width / 2, 1);
    for (let x = 0; x < width / 2; x++) {
      for (let c = 0; c < 3; c++) {
        const a = x * 2 * 3 + c;
        const b = a + 3;
        expect(out.data[x * 3 + c], `x=${x} c=${c}`).to.equal((top[a]! + top[b]! + bottom[a]! + bottom[b]! + 2) >> 2);
      }
    }
  });

  it('keeps channels interleaved and images of any size consistent', () => {
    const out = resizeImage(patternImage(7, 5), 10, 3);
    expect([out.width, out.height, out.data.length]).to.deep.equal([10, 3, 90]);
    // a single-colour image stays that colour whatever the scale
    const resized = resizeImage({ ...solidImage(6, 4, [10, 200, 255]), channelOrder: 'bgr' }, 13, 9);
    expect(resized.channelOrder).to.equal('bgr');
    expect(new Set(Array.from({ length: 13 * 9 }, (_, p) => [...resized.data.subarray(p * 3, p * 3 + 3)].join()))).to.deep.equal(new Set(['10,200,255']));
  });

  it('INTER_NEAREST takes floor(x * src/dst), without a half-pixel shift', () => {
    expect([...resizeImage(gray(2, 1, [10, 20]), 5, 1, 'nearest').data]).to.deep.equal([10, 10, 10, 20, 20]); // 0, 0.4, 0.8, 1.2, 1.6
    expect([...resizeImage(gray(3, 1, [10, 20, 30]), 2, 1, 'nearest').data]).to.deep.equal([10, 20]); // 0, 1.5
  });

  it('copies when the size does not change', () => {
    const image = patternImage(4, 3);
    const same = resizeImage(image, 4, 3);
    expect(same.data).to.deep.equal(image.data);
    expect(same.data).to.not.equal(image.data);
  });

  it('rejects bad target sizes and inconsistent images', () => {
    expect(() => resizeImage(patternImage(4, 3), 0, 3)).to.throw(/positive integers, got 0x3/);
    expect(() => resizeImage(patternImage(4, 3), 2.5, 3)).to.throw(/positive integers/);
    expect(() => resizeImage({ ...patternImage(4, 3), width: 5 }, 2, 2)).to.throw(/36 bytes, expected 3x5x3 = 45/);
  });
});
