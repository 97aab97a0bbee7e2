/**
 * evaluateCocoBbox against answers worked out by hand from pycocotools' rules (see each case).
 * Precision at recall thresholds r = 0, .01, ..., 1 is the best precision at recall >= r, so an
 * AP is (number of thresholds reached at each precision level) / 101.
 */
import { expect } from 'chai';
import { COCO_IOU_THRS, evaluateCocoBbox, formatCocoSummary, type CocoBboxSummary } from '@tsdet/data';
import { det, gtFile, type Box } from './support.js';

function expectStats(s: CocoBboxSummary, expected: Partial<Record<'AP' | 'AP50' | 'AP75' | 'APs' | 'APm' | 'APl' | 'AR1' | 'AR10' | 'AR100' | 'ARs' | 'ARm' | 'ARl', number>>): void {
  for (const [key, value] of Object.entries(expected)) expect(s[key as keyof typeof expected], key).to.be.closeTo(value, 1e-12);
}

/** pycocotools' precision is tp / (tp + fp + eps), so a perfect 1 comes out as 1 - 2e-16. */
function expectArray(actual: readonly number[], expected: readonly number[]): void {
  expect(actual).to.have.length(expected.length);
  actual.forEach((v, i) => expect(v, `stats[${i}]`).to.be.closeTo(expected[i]!, 1e-12));
}

describe('evaluateCocoBbox', () => {
  it('uses numpy linspace IoU thresholds', () => {
    expect(COCO_IOU_THRS).to.have.length(10);
    expect(COCO_IOU_THRS[0]).to.equal(0.5);
    expect(COCO_IOU_THRS[5]).to.equal(0.75);
    expect(COCO_IOU_THRS[9]).to.equal(0.95);
  });

  it('perfect detections give 1 everywhere, -1 for an area range without gts', () => {
    // cat 1: a small gt (10x10), cat 2: a medium gt (50x50); no large gt.
    const gt = gtFile([
      { image: 1, cat: 1, box: [0, 0, 10, 10] },
      { image: 1, cat: 2, box: [0, 0, 50, 50] },
      { image: 2, cat: 1, box: [5, 5, 20, 20] },
    ], [1, 2], [1, 2]);
    const s = evaluateCocoBbox(gt, [det(1, 1, [0, 0, 10, 10], 0.9), det(1, 2, [0, 0, 50, 50], 0.8), det(2, 1, [5, 5, 20, 20], 0.7)]);
    expectArray(s.stats, [1, 1, 1, 1, 1, -1, 1, 1, 1, 1, 1, -1]);
    expect(s.perCategory.map((c) => c.categoryId)).to.deep.equal([1, 2]);
    expectArray(s.perCategory.map((c) => c.AP), [1, 1]);
  });

  it('two gts, detections at IoU 0.72 and 0.62', () => {
    // IoU .72 matches at .50-.70 (5 thresholds), .62 at .50-.60 (3 thresholds).
    // t <= .60: both tp -> AP 1, recall 1. t = .65, .70: tp then fp: recall .5, precision 1 for
    // r <= .5 (51 thresholds) -> 51/101. t >= .75: nothing matched -> 0.
    const gt = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }, { image: 1, cat: 1, box: [100, 0, 10, 10] }]);
    const s = evaluateCocoBbox(gt, [det(1, 1, [100, 0, 6.2, 10], 0.8), det(1, 1, [0, 0, 7.2, 10], 0.9)]);
    const ap = (3 + (2 * 51) / 101) / 10;
    expectStats(s, { AP: ap, AP50: 1, AP75: 0, APs: ap, APm: -1, APl: -1 });
    // AR@1 keeps only the .9 detection: recall .5 at 5 thresholds.
    expectStats(s, { AR1: (5 * 0.5) / 10, AR10: (3 + 2 * 0.5) / 10, AR100: 0.4, ARs: 0.4, ARm: -1, ARl: -1 });
  });

  it('an IoU equal to a threshold matches at that threshold', () => {
    // IoU exactly .5 (and .75 on the second gt).
    const gt = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }, { image: 1, cat: 1, box: [100, 0, 10, 10] }]);
    const s = evaluateCocoBbox(gt, [det(1, 1, [0, 0, 5, 10], 0.9), det(1, 1, [100, 0, 7.5, 10], 0.8)]);
    // t=.5: 1. t=.55..=.75 (5 thresholds): recall .5 reached by the second det only, after the fp:
    // tp=[0,1], fp=[1,1] -> precision [0,.5] made monotone [.5,.5] -> 51 * .5 / 101.
    expectStats(s, { AP50: 1, AP75: (51 * 0.5) / 101, AP: (1 + (5 * 51 * 0.5) / 101) / 10 });
  });

  it('a false positive scored above true positives (interpolated precision)', () => {
    // 3 gts; dets by score: tp (.95), fp (.9), tp (.8). recall [1/3, 1/3, 2/3], precision
    // [1, 1/2, 2/3] -> monotone [1, 2/3, 2/3]. r = 0..0.33 (34 thresholds) -> 1; r = .34..0.66
    // (33) -> 2/3; r >= .67 -> 0. AP = (34 + 33*2/3) / 101 = 56/101 at every IoU threshold.
    const gt = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }, { image: 1, cat: 1, box: [20, 0, 10, 10] }, { image: 1, cat: 1, box: [40, 0, 10, 10] }]);
    const s = evaluateCocoBbox(gt, [det(1, 1, [20, 0, 10, 10], 0.8), det(1, 1, [0, 0, 10, 10], 0.95), det(1, 1, [200, 200, 10, 10], 0.9)]);
    expectStats(s, { AP: 56 / 101, AP50: 56 / 101, AP75: 56 / 101, APs: 56 / 101, AR1: 1 / 3, AR10: 2 / 3, AR100: 2 / 3 });
  });

  it('equal scores keep the input order (stable sort)', () => {
    // fp listed first with the same score as the tp: tp=[0,1] -> AP .5*51/101 ... with 2 gts and
    // a single tp: recall .5, precision [0, .5] -> monotone [.5, .5] -> 51 * .5 / 101.
    const gt = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }, { image: 1, cat: 1, box: [40, 0, 10, 10] }]);
    const fpFirst = evaluateCocoBbox(gt, [det(1, 1, [200, 200, 10, 10], 0.5), det(1, 1, [0, 0, 10, 10], 0.5)]);
    expectStats(fpFirst, { AP: (51 * 0.5) / 101, AR1: 0 });
    const tpFirst = evaluateCocoBbox(gt, [det(1, 1, [0, 0, 10, 10], 0.5), det(1, 1, [200, 200, 10, 10], 0.5)]);
    expectStats(tpFirst, { AP: 51 / 101, AR1: 0.5 });
  });

  it('crowd regions: IoU over the detection area, matched repeatedly, ignored', () => {
    // d1 matches the regular gt. d2 and d3 lie inside the crowd box: IoU = 100/100 = 1, both
    // ignored. As a regular gt, the crowd box would make them false positives. The crowd gt is
    // medium-sized but ignored, so medium has no gt -> -1.
    const gt = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }, { image: 1, cat: 1, box: [50, 0, 40, 40], crowd: true }]);
    const dets = [det(1, 1, [0, 0, 10, 10], 0.7), det(1, 1, [50, 0, 10, 10], 0.9), det(1, 1, [60, 10, 10, 10], 0.8)];
    // AR@1 keeps only the top detection, d2, which is ignored: recall 0.
    expectArray(evaluateCocoBbox(gt, dets).stats, [1, 1, 1, 1, -1, -1, 0, 1, 1, 1, -1, -1]);
    // The same boxes with iscrowd 0: d2 has IoU 100/1600 -> fp, ranked first; d3 too.
    const notCrowd = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }, { image: 1, cat: 1, box: [50, 0, 40, 40], crowd: false }]);
    const s = evaluateCocoBbox(notCrowd, dets);
    // all: recall [0,0,.5], precision [0,0,1/3] -> monotone 1/3 for r <= .5 (51): 17/101.
    expect(s.AP).to.be.closeTo(51 / 3 / 101, 1e-12);
  });

  it('a regular gt is preferred over a crowd region once matched', () => {
    // The det overlaps the regular gt (IoU .5) and lies inside the crowd region (IoU 1): it
    // matches the regular gt at t = .5 (regular gts come first, and the search stops at the
    // ignored ones) and the crowd region above.
    const gt = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }, { image: 1, cat: 1, box: [0, 0, 100, 100], crowd: true }]);
    const s = evaluateCocoBbox(gt, [det(1, 1, [0, 0, 5, 10], 0.9)]);
    expectStats(s, { AP50: 1, AP75: 0, AP: 0.1, AR100: 0.1 });
  });

  it('unmatched detections outside an area range are ignored for that range', () => {
    // A small gt found; a large fp (200x200) ranked above it. 'all': precision [0, .5] -> 51*.5/101;
    // 'small': the fp is outside the range and ignored -> 1. 'large': no gt -> -1.
    const gt = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }]);
    const s = evaluateCocoBbox(gt, [det(1, 1, [500, 500, 200, 200], 0.9), det(1, 1, [0, 0, 10, 10], 0.8)]);
    expectStats(s, { AP: 1 / 2, APs: 1, APm: -1, APl: -1, AR1: 0, ARs: 1 });
  });

  it("uses the gt's area field, not its box, for the area ranges", () => {
    const gt = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10], area: 96 * 96 + 1 }]);
    const s = evaluateCocoBbox(gt, [det(1, 1, [0, 0, 10, 10], 0.9)]);
    expectStats(s, { AP: 1, APs: -1, APm: -1, APl: 1 });
  });

  it('drops detections beyond maxDets per image and category', () => {
    // Image 1: 101 gts and 101 exact dets (scores .99 down); the lowest is dropped at 100.
    // Image 2: 1 gt and 1 det scored .5 (not dropped: the limit is per image).
    // 102 gts; 101 tps then nothing: precision 1 up to recall 101/102 = .9902 -> 100 thresholds.
    const anns: { image: number; cat: number; box: Box }[] = [];
    const dets = [];
    for (let i = 0; i < 101; i++) {
      anns.push({ image: 1, cat: 1, box: [i * 20, 0, 10, 10] });
      dets.push(det(1, 1, [i * 20, 0, 10, 10], 0.99 - i * 0.001));
    }
    anns.push({ image: 2, cat: 1, box: [0, 0, 10, 10] });
    dets.push(det(2, 1, [0, 0, 10, 10], 0.5));
    const s = evaluateCocoBbox(gtFile(anns, [1, 2]), dets);
    expectStats(s, { AP: 100 / 101, AR1: 2 / 102, AR10: 11 / 102, AR100: 101 / 102 });
    const custom = evaluateCocoBbox(gtFile(anns, [1, 2]), dets, { maxDets: [1, 2, 3] });
    expectStats(custom, { AR1: 2 / 102, AR10: 3 / 102, AR100: 4 / 102, AP: 4 / 101 });
  });

  it('empty results: 0 where there are gts, -1 elsewhere', () => {
    const gt = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }, { image: 2, cat: 2, box: [0, 0, 10, 10] }], [1, 2, 3], [1, 2, 3]);
    expect(evaluateCocoBbox(gt, []).stats).to.deep.equal([0, 0, 0, 0, -1, -1, 0, 0, 0, 0, -1, -1]);
    expect(evaluateCocoBbox(gtFile([]), []).stats).to.deep.equal(new Array(12).fill(-1));
  });

  it('a category without gts but with detections is -1 and left out of the mean', () => {
    const gt = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }], [1], [1, 2]);
    const s = evaluateCocoBbox(gt, [det(1, 1, [0, 0, 10, 10], 0.9), det(1, 2, [0, 0, 10, 10], 0.9)]);
    expect(s.AP).to.be.closeTo(1, 1e-12);
    expectArray(s.perCategory.map((c) => c.AP), [1, -1]);
  });

  it('rejects results naming unknown images or categories', () => {
    const gt = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }]);
    expect(() => evaluateCocoBbox(gt, [det(7, 1, [0, 0, 1, 1], 1)])).to.throw(/entry 0 has image_id 7/);
    expect(() => evaluateCocoBbox(gt, [det(1, 9, [0, 0, 1, 1], 1)])).to.throw(/entry 0 has category_id 9/);
  });

  it("formats pycocotools' summary lines", () => {
    const gt = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }]);
    const lines = formatCocoSummary(evaluateCocoBbox(gt, [det(1, 1, [0, 0, 10, 10], 0.9)]));
    expect(lines).to.have.length(12);
    expect(lines[0]).to.equal(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000');
    expect(lines[1]).to.equal(' Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 1.000');
    expect(lines[4]).to.equal(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000');
    expect(lines[6]).to.equal(' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 1.000');
    expect(lines[9]).to.equal(' Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 1.000');
  });
});
