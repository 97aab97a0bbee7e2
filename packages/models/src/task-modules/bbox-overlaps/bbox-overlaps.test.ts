/** bbox_overlaps (mmdet-reference §4.6): IoU and IoF by hand, no +1, eps, empty inputs. */
import { expect } from 'chai';
import { expectAllClose } from '../test-support.test.js';
import { BboxOverlaps2D, bboxOverlaps } from './index.js';

const A = [0, 0, 10, 10, 10, 10, 20, 20, 32, 32, 38, 42];
const B = [0, 0, 10, 20, 0, 10, 10, 19, 10, 10, 20, 20];

describe('bboxOverlaps', () => {
  it("gives mmdet's IoU test vector (no +1 on widths)", () => {
    const out = bboxOverlaps(A, B);
    expect([out.rows, out.cols]).to.deep.equal([3, 3]);
    expectAllClose(out.data, [0.5, 0, 0, 0, 0, 1, 0, 0, 0], 1e-7);
  });

  it('computes partial overlaps: IoU divides by the union, IoF by the area of the first box', () => {
    const a = [0, 0, 10, 10];
    const b = [5, 5, 15, 15, 0, 0, 20, 20];
    // inter 25, union 100 + 100 - 25; [0,0,20,20] contains a: inter 100, union 400.
    expectAllClose(bboxOverlaps(a, b, 'iou').data, [25 / 175, 100 / 400], 1e-7);
    expectAllClose(bboxOverlaps(a, b, 'iof').data, [25 / 100, 100 / 100], 1e-7);
    // IoF is not symmetric: relative to the big box it is 100 / 400.
    expectAllClose(bboxOverlaps(b, a, 'iof').data, [0.25, 0.25], 1e-7);
    expect(new BboxOverlaps2D().call(a, b, 'iof').data).to.deep.equal(bboxOverlaps(a, b, 'iof').data);
  });

  it('rounds like float32 torch and clamps the denominator at eps', () => {
    const out = bboxOverlaps([0, 0, 10, 10], [5, 5, 15, 15]).data[0]!;
    expect(out).to.equal(Math.fround(Math.fround(25) / Math.fround(175)));
    // Degenerate boxes: zero area, zero union -> 0 / eps = 0; inverted boxes intersect at 0.
    expect(Array.from(bboxOverlaps([0, 0, 0, 0], [0, 0, 0, 0]).data)).to.deep.equal([0]);
    expect(Array.from(bboxOverlaps([0, 0, 10, 10], [20, 20, 10, 10]).data)).to.deep.equal([0]);
  });

  it('gives an empty result of the right shape for empty inputs', () => {
    for (const [a, b, rows, cols] of [
      [[], B, 0, 3],
      [A, [], 3, 0],
      [[], [], 0, 0],
    ] as const) {
      for (const mode of ['iou', 'iof'] as const) {
        const out = bboxOverlaps(a, b, mode);
        expect([out.rows, out.cols, out.data.length]).to.deep.equal([rows, cols, 0]);
      }
    }
  });

  it('rejects ragged boxes and unknown modes', () => {
    expect(() => bboxOverlaps([0, 0, 1], B)).to.throw(/bboxes1 must be flat \[N, 4\]/);
    expect(() => bboxOverlaps(A, B, 'giou' as 'iou')).to.throw(/unsupported mode 'giou'/);
  });
});
