/** The transforms one by one, on results records built by hand. */
import { expect } from 'chai';
import { patternImage, pixelAt, solidImage } from '../test-support.test.js';
import { LoadAnnotations } from './load-annotations.js';
import { PackDetInputs } from './pack-det-inputs.js';
import { RandomFlip } from './random-flip.js';
import { Resize } from './resize.js';
import type { DetResults } from './types.js';

/** What LoadImageFromFile would have produced for an image of width x height. */
function loaded(width: number, height: number, extra: Partial<DetResults> = {}): DetResults {
  const img = { ...patternImage(width, height), channelOrder: 'bgr' as const };
  return { img_path: 'memory.png', img_id: 1, img, img_shape: [height, width], ori_shape: [height, width], ...extra };
}

const f32 = (values: number[]) => Float32Array.from(values);
/** The float32 product torch computes for a float32 box coordinate times a float32 scale. */
const times = (value: number, scale: number) => Math.fround(value * Math.fround(scale));

describe('transforms/Resize', () => {
  it('keep_ratio: rescales 640x480 to fit (1333, 800) and records the per-axis scale factor', () => {
    const out = new Resize({ scale: [1333, 800], keep_ratio: true }).transform(loaded(640, 480, { gt_bboxes: f32([10, 20, 630, 470, 600, 400, 700, 500]) }));
    expect(out.img_shape).to.deep.equal([800, 1067]);
    expect([out.img!.width, out.img!.height, out.img!.data.length]).to.deep.equal([1067, 800, 1067 * 800 * 3]);
    expect(out.scale_factor).to.deep.equal([1067 / 640, 800 / 480]); // (new_w / w, new_h / h), not the single factor 800/480
    expect(out.scale).to.deep.equal([1333, 800]);
    expect(out.keep_ratio).to.equal(true);
    expect(out.ori_shape).to.deep.equal([480, 640]);
    // boxes times (w_scale, h_scale) in float32, then clipped to the new image (x2 700 -> 1167 -> 1067, y2 500 -> 833 -> 800)
    const [sx, sy] = [1067 / 640, 800 / 480];
    expect([...out.gt_bboxes!]).to.deep.equal([times(10, sx), times(20, sy), times(630, sx), times(470, sy), times(600, sx), times(400, sy), 1067, 800]);
  });

  it("matches mmdet's TestResize: 1333x800 (h x w) to (2000, 2000) gives 2000x1200", () => {
    const out = new Resize({ scale: [2000, 2000], keep_ratio: true }).transform({ img: solidImage(800, 1333, [1, 2, 3]) });
    expect(out.img_shape).to.deep.equal([2000, 1200]);
    expect(out.scale_factor).to.deep.equal([1200 / 800, 2000 / 1333]);
  });

  it('without keep_ratio, scale is the exact (w, h) target', () => {
    const out = new Resize({ scale: [50, 30] }).transform(loaded(100, 40, { gt_bboxes: f32([10, 10, 20, 20]) }));
    expect(out.img_shape).to.deep.equal([30, 50]);
    expect(out.scale_factor).to.deep.equal([0.5, 0.75]);
    expect([...out.gt_bboxes!]).to.deep.equal([5, 7.5, 10, 15]);
  });

  it('with only scale_factor, resizes by it (mmcv turns it into a target size first)', () => {
    expect(new Resize({ scale_factor: 0.5 }).transform(loaded(101, 40)).img_shape).to.deep.equal([20, 51]); // 50.5 + 0.5 -> 51
    expect(new Resize({ scale_factor: 1.5, keep_ratio: true }).transform(loaded(100, 40)).img_shape).to.deep.equal([60, 150]);
  });

  it('leaves boxes alone when there are none (the test pipeline loads them after resizing)', () => {
    const out = new Resize({ scale: [1333, 800], keep_ratio: true }).transform(loaded(64, 48));
    expect(out).to.not.have.property('gt_bboxes');
  });

  it('can keep boxes that cross the border', () => {
    const out = new Resize({ scale: [50, 20], clip_object_border: false }).transform(loaded(100, 40, { gt_bboxes: f32([-10, 0, 120, 40]) }));
    expect([...out.gt_bboxes!]).to.deep.equal([-5, 0, 60, 20]);
  });

  it('does not mutate its input', () => {
    const input = loaded(20, 10, { gt_bboxes: f32([1, 1, 5, 5]) });
    new Resize({ scale: [40, 20] }).transform(input);
    expect(input.img!.width).to.equal(20);
    expect([...input.gt_bboxes!]).to.deep.equal([1, 1, 5, 5]);
  });

  it('needs a scale or a scale factor, and an image', () => {
    expect(() => new Resize({})).to.throw(/`scale` and `scale_factor` can not both be unset/);
    expect(() => new Resize({ scale: 10 }).transform({})).to.throw(/Resize: results have no 'img'/);
  });
});

describe('transforms/RandomFlip', () => {
  const boxes = () => f32([10, 20, 30, 40, 0, 0, 100, 50]);

  it('flips the image and the boxes left-right: x1 = W - x2, x2 = W - x1', () => {
    const input = loaded(100, 50, { gt_bboxes: boxes() });
    const out = new RandomFlip({ prob: 1, direction: 'horizontal' }).transform(input);
    expect([...out.gt_bboxes!]).to.deep.equal([70, 20, 90, 40, 0, 0, 100, 50]);
    expect(pixelAt(out.img!, 0, 7)).to.deep.equal(pixelAt(input.img!, 99, 7));
    expect(pixelAt(out.img!, 99, 7)).to.deep.equal(pixelAt(input.img!, 0, 7));
    expect([out.flip, out.flip_direction]).to.deep.equal([true, 'horizontal']);
  });

  it('flips up-down and diagonally', () => {
    const vertical = new RandomFlip({ prob: 1, direction: 'vertical' }).transform(loaded(100, 50, { gt_bboxes: boxes() }));
    expect([...vertical.gt_bboxes!.subarray(0, 4)]).to.deep.equal([10, 10, 30, 30]);
    const input = loaded(100, 50, { gt_bboxes: boxes() });
    const diagonal = new RandomFlip({ prob: 1, direction: 'diagonal' }).transform(input);
    expect([...diagonal.gt_bboxes!.subarray(0, 4)]).to.deep.equal([70, 10, 90, 30]);
    expect(pixelAt(diagonal.img!, 0, 0)).to.deep.equal(pixelAt(input.img!, 99, 49));
  });

  it('flipping twice gives the original back', () => {
    const flip = new RandomFlip({ prob: 1, direction: 'horizontal' });
    const input = loaded(37, 11, { gt_bboxes: f32([1.5, 2, 30.25, 9]) });
    const twice = flip.transform(flip.transform(input));
    expect(twice.img!.data).to.deep.equal(input.img!.data);
    expect([...twice.gt_bboxes!]).to.deep.equal([1.5, 2, 30.25, 9]);
  });

  it('flips when the random draw is below prob, and records no flip otherwise', () => {
    const draws = [0.3, 0.7];
    const flip = new RandomFlip({ prob: 0.5, direction: 'horizontal' }, { random: () => draws.shift()! });
    const input = loaded(10, 5, { gt_bboxes: f32([1, 1, 2, 2]) });
    expect(flip.transform(input).flip).to.equal(true);
    const kept = flip.transform(input);
    expect([kept.flip, kept.flip_direction]).to.deep.equal([false, null]);
    expect(kept.img).to.equal(input.img);
    expect(kept.gt_bboxes).to.equal(input.gt_bboxes);
  });

  it('rejects a probability outside [0, 1]', () => {
    expect(() => new RandomFlip({ prob: 1.5, direction: 'horizontal' })).to.throw(/prob must be in \[0, 1\], got 1.5/);
  });
});

describe('transforms/LoadAnnotations', () => {
  const instances = [
    { bbox: [1, 2, 3, 4], bbox_label: 5 },
    { bbox: [10, 20, 30, 40], bbox_label: 2, ignore_flag: 1 },
  ] as const;

  it('turns instances into float32 boxes, int labels and ignore flags', () => {
    const out = new LoadAnnotations().transform({ instances });
    expect(out.gt_bboxes).to.deep.equal(f32([1, 2, 3, 4, 10, 20, 30, 40]));
    expect(out.gt_bboxes_labels).to.deep.equal(Int32Array.from([5, 2]));
    expect(out.gt_ignore_flags).to.deep.equal(Uint8Array.from([0, 1]));
  });

  it('gives empty arrays for an image without objects, and can skip labels', () => {
    const out = new LoadAnnotations({ with_label: false }).transform({});
    expect(out.gt_bboxes!.length).to.equal(0);
    expect(out).to.not.have.property('gt_bboxes_labels');
  });

  it('names the bad instance', () => {
    const bad = [instances[0], { bbox: [1, 2, 3], bbox_label: 0 }] as unknown as DetResults['instances'];
    expect(() => new LoadAnnotations().transform({ instances: bad })).to.throw('LoadAnnotations: instances[1].bbox must be 4 finite numbers (x1, y1, x2, y2), got [1,2,3]');
    const badLabel = [{ bbox: [1, 2, 3, 4], bbox_label: -1 }] as const;
    expect(() => new LoadAnnotations().transform({ instances: badLabel })).to.throw(/instances\[0\]\.bbox_label must be an integer >= 0, got -1/);
  });
});

describe('transforms/PackDetInputs', () => {
  const annotated = () =>
    ({ ...loaded(8, 6), gt_bboxes: f32([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]), gt_bboxes_labels: Int32Array.from([7, 8, 9]), gt_ignore_flags: Uint8Array.from([0, 1, 0]), flip: false, flip_direction: null, scale_factor: [1, 1] }) as const;

  it('splits boxes and labels by ignore flag and copies the meta keys', () => {
    const input = annotated();
    const packed = new PackDetInputs().transform(input);
    expect(packed.inputs).to.equal(input.img);
    expect(packed.data_samples.gt_instances.bboxes).to.deep.equal(f32([1, 1, 2, 2, 5, 5, 6, 6]));
    expect(packed.data_samples.gt_instances.labels).to.deep.equal(Int32Array.from([7, 9]));
    expect(packed.data_samples.ignored_instances.bboxes).to.deep.equal(f32([3, 3, 4, 4]));
    expect(packed.data_samples.ignored_instances.labels).to.deep.equal(Int32Array.from([8]));
    expect(packed.data_samples.metainfo).to.deep.equal({ img_id: 1, img_path: 'memory.png', ori_shape: [6, 8], img_shape: [6, 8], scale_factor: [1, 1], flip: false, flip_direction: null });
  });

  it('fails on a missing meta key, naming it (the default keys need RandomFlip)', () => {
    const { flip: _flip, flip_direction: _direction, ...withoutFlip } = annotated();
    expect(() => new PackDetInputs().transform(withoutFlip)).to.throw(/meta key\(s\) 'flip', 'flip_direction' not found in the results/);
    const testKeys = ['img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'];
    expect(new PackDetInputs({ meta_keys: testKeys }).transform(withoutFlip).data_samples.metainfo).to.have.keys(testKeys);
  });

  it('packs empty instances when no annotations were loaded', () => {
    const packed = new PackDetInputs({ meta_keys: ['img_id'] }).transform(loaded(4, 4));
    expect(packed.data_samples.gt_instances.bboxes.length).to.equal(0);
    expect(packed.data_samples.ignored_instances.labels.length).to.equal(0);
  });
});
