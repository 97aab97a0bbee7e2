/** Drawing is checked on the decoded PNG: edge pixels, the filled label box and rendered text. */
import { expect } from 'chai';
import type { RawImage } from '../image/raw-image.js';
import { decodePng, pixelAt, solidImage } from '../test-support.test.js';
import { detectionsSvg, drawDetections, type Detections } from './draw-detections.js';
import { classColor, contrastingTextColor, type Rgb } from './palette.js';

const BACKGROUND: Rgb = [30, 30, 30];
const PALETTE: Rgb[] = [
  [255, 0, 0],
  [0, 200, 0],
];
const GREEN = [0, 200, 0];
const CLASSES = ['person', 'bicycle'];

async function draw(detections: Detections, options = {}, image: RawImage = solidImage(100, 80, BACKGROUND)): Promise<RawImage> {
  const png = await drawDetections(image, detections, CLASSES, { palette: PALETTE, ...options });
  expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).to.equal('PNG');
  return decodePng(png);
}

/** Pixels of the rectangle [x0, x1) x [y0, y1) that satisfy `test`. */
function countPixels(image: RawImage, [x0, y0, x1, y1]: number[], test: (pixel: number[]) => boolean): number {
  let count = 0;
  for (let y = y0!; y < y1!; y++) for (let x = x0!; x < x1!; x++) if (test(pixelAt(image, x, y))) count++;
  return count;
}

const notBackground = (pixel: number[]) => pixel.join() !== BACKGROUND.join();

describe('visualization/drawDetections', () => {
  it('draws the box edge in its class colour, inside the box', async () => {
    const out = await draw({ bboxes: [20, 30, 70, 60], scores: [0.9], labels: [1] }, { lineWidth: 2 });
    expect([out.width, out.height]).to.deep.equal([100, 80]);
    expect(pixelAt(out, 20, 45)).to.deep.equal(GREEN); // left edge, 2 px wide
    expect(pixelAt(out, 21, 45)).to.deep.equal(GREEN);
    expect(pixelAt(out, 69, 45)).to.deep.equal(GREEN); // right edge, last pixel of the box
    expect(pixelAt(out, 45, 59)).to.deep.equal(GREEN); // bottom edge
    expect(pixelAt(out, 19, 45)).to.deep.equal(BACKGROUND); // just outside
    expect(pixelAt(out, 22, 45)).to.deep.equal(BACKGROUND); // just inside the line
    expect(pixelAt(out, 45, 45)).to.deep.equal(BACKGROUND); // the middle is not filled
  });

  it('puts a filled label box with readable text above the box', async () => {
    const out = await draw({ bboxes: [20, 30, 90, 60], scores: [0.9], labels: [1] }, { fontSize: 13 }, solidImage(200, 80, BACKGROUND));
    // label height ceil(13 * 1.2) + 2 = 18, so it spans y 12..29 above the box top at 30, from x 20
    expect(pixelAt(out, 20, 12)).to.deep.equal(GREEN);
    expect(pixelAt(out, 21, 28)).to.deep.equal(GREEN);
    expect(pixelAt(out, 20, 11)).to.deep.equal(BACKGROUND);
    // "bicycle: 90.0" in black (green is light) covers a good part of the box
    expect(contrastingTextColor(PALETTE[1]!)).to.deep.equal([0, 0, 0]);
    // (antialiased glyph pixels are green darkened towards black)
    const text = countPixels(out, [20, 12, 200, 30], ([r, g, b]) => r === 0 && b === 0 && g! < 150);
    expect(text).to.be.above(60);
    // the label box ends shortly after the text ("bicycle: 90.0" is about 85 px wide at 13 px)
    const labelRow = Array.from({ length: 200 }, (_, x) => pixelAt(out, x, 13).join() === GREEN.join());
    const labelEnd = labelRow.lastIndexOf(true);
    expect(labelEnd).to.be.within(95, 115);
    expect(pixelAt(out, labelEnd + 1, 13)).to.deep.equal(BACKGROUND);
  });

  it('skips detections under the score threshold', async () => {
    const detections = { bboxes: [10, 10, 40, 40, 50, 45, 90, 75], scores: [0.2, 0.5], labels: [0, 1] };
    const out = await draw(detections, { scoreThreshold: 0.3 });
    expect(pixelAt(out, 10, 25)).to.deep.equal(BACKGROUND);
    expect(pixelAt(out, 50, 60)).to.deep.equal(GREEN);
    const all = await draw(detections, { scoreThreshold: 0 });
    expect(pixelAt(all, 10, 25)).to.deep.equal([255, 0, 0]);
  });

  it('clips boxes and labels to the image', async () => {
    const out = await draw({ bboxes: [-20, -10, 30, 40, 80, 70, 500, 500, 200, 200, 300, 300], scores: [0.9, 0.8, 0.99], labels: [0, 1, 0] });
    expect(pixelAt(out, 0, 20)).to.deep.equal([255, 0, 0]); // the left edge is at the image border
    expect(pixelAt(out, 99, 75)).to.deep.equal(GREEN); // right edge of the box clipped at x = 100
    // no room above the first box: its label sits inside, at the top-left corner
    expect(pixelAt(out, 0, 0)).to.deep.equal([255, 0, 0]);
    // a label wider than the space left of the border moves left: it still ends inside the image
    expect(countPixels(out, [40, 52, 100, 70], notBackground)).to.be.above(0);
  });

  it('converts a BGR image to RGB before drawing', async () => {
    const bgrImage: RawImage = { ...solidImage(100, 80, [BACKGROUND[2], BACKGROUND[1], 200]), channelOrder: 'bgr' };
    const out = await draw({ bboxes: [], scores: [], labels: [] }, {}, bgrImage);
    expect(pixelAt(out, 5, 5)).to.deep.equal([200, 30, 30]);
  });

  it('escapes class names in the SVG and names unknown classes by index', () => {
    const svg = detectionsSvg(50, 50, { bboxes: [1, 1, 20, 20, 1, 1, 20, 20], scores: [0.9, 0.9], labels: [0, 5] }, ['a<b&"c'], {});
    expect(svg).to.contain('a&lt;b&amp;&quot;c: 90.0');
    expect(svg).to.contain('class 5: 90.0');
  });

  it('rejects detections whose lengths disagree', async () => {
    try {
      await drawDetections(solidImage(4, 4, BACKGROUND), { bboxes: [0, 0, 1, 1], scores: [0.5, 0.6], labels: [0] }, CLASSES);
      expect.fail('expected an error');
    } catch (error) {
      expect((error as Error).message).to.equal('drawDetections: 1 boxes, 2 scores and 1 labels do not match');
    }
  });

  it('gives each class a stable colour, distinct from its neighbours', () => {
    expect(classColor(3)).to.deep.equal(classColor(3));
    const colours = new Set(Array.from({ length: 80 }, (_, i) => classColor(i).join()));
    expect(colours.size).to.equal(80);
    expect(classColor(2, PALETTE)).to.deep.equal(PALETTE[0]); // a palette is cycled
  });
});
