/** mmcv rescale_size / _scale_size: values worked out by hand from `int(x * s + 0.5)` and s = min(long/max(h, w), short/min(h, w)). */
import { expect } from 'chai';
import { rescaleSize, scaleSize } from './geometry.js';

describe('image/geometry', () => {
  // [w, h] in, scale, expected [new_w, new_h]; the comment is the hand computation.
  const table: [string, [number, number], number | [number, number], [number, number]][] = [
    // s = min(1333/640 = 2.0828, 800/480 = 1.6667) = 1.6667; 640 * 1.6667 + 0.5 = 1067.17 -> 1067; 480 * 1.6667 + 0.5 = 800.5 -> 800
    ['640x480 landscape', [640, 480], [1333, 800], [1067, 800]],
    // the same factor with the sides swapped: the edge limits apply to long/short, not to w/h
    ['480x640 portrait', [480, 640], [1333, 800], [800, 1067]],
    // s = min(1333/1920 = 0.69427, 800/1080 = 0.74074) = 0.69427; 1080 * 0.69427 = 749.81 + 0.5 -> 750
    ['1920x1080 long edge bound', [1920, 1080], [1333, 800], [1333, 750]],
    // edge order in the scale does not matter
    ['1920x1080, scale given short first', [1920, 1080], [800, 1333], [1333, 750]],
    // s = min(1333/1000, 800/200 = 4) = 1.333; 200 * 1.333 = 266.6 + 0.5 = 267.1 -> 267
    ['1000x200 panorama', [1000, 200], [1333, 800], [1333, 267]],
    // mmdet's TestResize: img 1333(h) x 800(w) to (2000, 2000): s = 2000/1333 = 1.50037; 800 * s = 1200.3 -> 1200
    ['mmdet TestResize', [800, 1333], [2000, 2000], [1200, 2000]],
    // s = min(13.2, 25/50 = 0.5) = 0.5; 101 * 0.5 = 50.5 + 0.5 = 51: half rounds up (Python's round() would give 50)
    ['half rounds up', [101, 50], [1333, 25], [51, 25]],
    // a number is a plain factor: 333 * 1.5 = 499.5 + 0.5 -> 500; 111 * 1.5 = 166.5 + 0.5 -> 167
    ['numeric factor', [333, 111], 1.5, [500, 167]],
  ];

  for (const [name, size, scale, expected] of table) {
    it(`rescaleSize: ${name}`, () => {
      expect(rescaleSize(size, scale).size).to.deep.equal(expected);
    });
  }

  it('returns the factor mmcv computes, not the per-axis ratios', () => {
    const { factor } = rescaleSize([640, 480], [1333, 800]);
    expect(factor).to.equal(800 / 480);
    expect(1067 / 640).to.not.equal(factor); // what Resize records as w_scale differs from it
  });

  it('scaleSize scales each side by its own factor and rounds half up', () => {
    expect(scaleSize([640, 480], [0.5, 2])).to.deep.equal([320, 960]);
    expect(scaleSize([3, 5], 0.5)).to.deep.equal([2, 3]); // 1.5 -> 2, 2.5 -> 3
  });

  it('rejects a non-positive numeric scale', () => {
    expect(() => rescaleSize([10, 10], 0)).to.throw(/invalid scale 0/);
  });
});
