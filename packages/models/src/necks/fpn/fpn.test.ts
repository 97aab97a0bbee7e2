/**
 * mmdetection's tests/test_models/test_necks/test_necks.py::test_fpn, ported case by case
 * (mmdet-reference §6.2) with the real output shapes asserted (mmdet's shape "checks" are bare
 * expressions); then tsdet's own checks (where each extra level reads from, init, errors,
 * upsampling indices, gradients) and parity with the three mmdet FPN fixtures.
 * mmdet's AssertionErrors are ConfigValidationErrors naming the config path.
 */
import path from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigValidationError, initBackend, MODELS, stateDictOf, withoutLeaks } from '@tsdet/core';
import type { ResNet } from '../../backbones/resnet/resnet.js';
import { BatchNorm2d, GroupNorm } from '../../layers/norm.js';
import { formatComparison } from '../../parity/compare.js';
import { fixturesDir } from '../../parity/fixture-case.js';
import { REPO_ROOT } from '../../parity/repo-root.js';
import { runCase, type CaseReport } from '../../parity/run-case.js';
import { registerModels } from '../../register.js';
import { FPN, torchNearestIndices, upsampleTo } from './fpn.js';

// test_fpn's setup: four levels of 8..64 channels at 64, 32, 16, 8 pixels, 8 output channels.
const S = 64;
const IN_CHANNELS = [8, 16, 32, 64];
const OUT_CHANNELS = 8;
/** What every start_level=1, num_outs=5 case returns: P3..P7 of a 64-pixel input (NHWC). */
const P3_TO_P7 = [32, 16, 8, 4, 2].map((s) => [1, s, s, OUT_CHANNELS]);


function build(cfg: Record<string, unknown>): FPN {
  return MODELS.build<FPN>({ type: 'FPN', in_channels: IN_CHANNELS, out_channels: OUT_CHANNELS, ...cfg }, { path: 'model.neck' });
}

function expectConfigError(cfg: Record<string, unknown>, pattern: RegExp): void {
  expect(() => build(cfg)).to.throw(ConfigValidationError, pattern);
}

/** test_fpn's feats: rand(1, in_channels[i], S / 2^i, S / 2^i), here NHWC. */
function feats(sizes: readonly (readonly [number, number])[] = IN_CHANNELS.map((_, i) => [S >> i, S >> i]), batch = 1, channels = IN_CHANNELS): tf.Tensor4D[] {
  return sizes.map(([h, w], i) => tf.randomUniform([batch, h, w, channels[i]!]) as tf.Tensor4D);
}

/** Output shapes of one forward on `inputs` (default: test_fpn's feats); checks for leaks. */
async function forwardShapes(fpn: FPN, inputs: () => tf.Tensor4D[] = () => feats()): Promise<number[][]> {
  return withoutLeaks(() => tf.tidy(() => fpn.forward(inputs()).map((o) => o.shape)), 'FPN.forward');
}

/** Builds, runs one forward, disposes: the shapes. */
async function shapesOf(cfg: Record<string, unknown>): Promise<{ shapes: number[][]; fpn: FPN }> {
  const fpn = build(cfg);
  const shapes = await forwardShapes(fpn);
  fpn.dispose();
  return { shapes, fpn };
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe('FPN (mmdet test_necks.py::test_fpn)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', threads: 1, verbose: false });
    registerModels();
  });

  it('1-2: builds with end_level -1, and with end_level 3 (the last level, so the same as -1)', () => {
    for (const end_level of [-1, 3]) {
      const fpn = build({ start_level: 0, end_level, num_outs: 5 });
      expect(fpn.levels).to.deep.equal({ numIns: 4, startLevel: 0, backboneEndLevel: 4, usedLevels: 4, extraLevels: 1 });
      fpn.dispose();
    }
  });

  it('3: end_level 2 below the last level fixes num_outs to end_level - start_level + 1', () => {
    expectConfigError({ start_level: 1, end_level: 2, num_outs: 3 }, /model\.neck\.num_outs: must be end_level - start_level \+ 1 = 2 .*got 3/);
  });

  it('4: num_outs below the used levels (4 - start_level 1)', () => {
    expectConfigError({ start_level: 1, num_outs: 2 }, /model\.neck\.num_outs: must be >= len\(in_channels\) - start_level = 3 .*got 2/);
  });

  it('5: end_level beyond the input levels', () => {
    expectConfigError({ start_level: 1, end_level: 4, num_outs: 2 }, /model\.neck\.end_level: must be -1 or < len\(in_channels\) = 4 \(it is inclusive\), got 4/);
  });

  it('6: end_level 3 is the last level, so num_outs must still cover levels 1..3', () => {
    expectConfigError({ start_level: 1, end_level: 3, num_outs: 1 }, /model\.neck\.num_outs: must be >= len\(in_channels\) - start_level = 3 .*got 1/);
  });

  it("7: add_extra_convs 'on_xxx' is rejected by the schema", () => {
    expectConfigError({ start_level: 1, add_extra_convs: 'on_xxx', num_outs: 5 }, /model\.neck\.add_extra_convs: must be one of \[false,true,"on_input","on_lateral","on_output"\]/);
  });

  it("8: add_extra_convs true means 'on_input': P3..P7", async () => {
    const { shapes, fpn } = await shapesOf({ start_level: 1, add_extra_convs: true, num_outs: 5 });
    expect(fpn.addExtraConvs).to.equal('on_input');
    expect(shapes).to.deep.equal(P3_TO_P7);
  });

  it('9: add_extra_convs false: extra levels by max pool, no extra convs', async () => {
    const { shapes, fpn } = await shapesOf({ start_level: 1, add_extra_convs: false, num_outs: 5 });
    expect(fpn.addExtraConvs).to.equal(false);
    expect(fpn.fpnConvs).to.have.length(3);
    expect(shapes).to.deep.equal(P3_TO_P7);
  });

  it('10: norm_cfg BN on every conv (laterals too: no_norm_on_lateral false), without conv biases', async () => {
    const { shapes, fpn } = await shapesOf({ start_level: 1, add_extra_convs: true, no_norm_on_lateral: false, norm_cfg: { type: 'BN', requires_grad: true }, num_outs: 5 });
    expect(fpn.addExtraConvs).to.equal('on_input');
    expect(shapes).to.deep.equal(P3_TO_P7);
    const convModules = [...fpn.lateralConvs, ...fpn.fpnConvs];
    expect(convModules.every((m) => m.norm instanceof BatchNorm2d && m.conv.bias === undefined)).to.equal(true);
    expect(fpn.namedParameters().map(([k]) => k)).to.include.members(['lateral_convs.0.bn.weight', 'fpn_convs.4.bn.bias']);
  });

  it('11: bilinear upsampling with align_corners, called twice', async () => {
    const fpn = build({ start_level: 1, add_extra_convs: true, upsample_cfg: { mode: 'bilinear', align_corners: true }, num_outs: 5 });
    expect(fpn.addExtraConvs).to.equal('on_input');
    expect(await forwardShapes(fpn)).to.deep.equal(P3_TO_P7);
    expect(await forwardShapes(fpn)).to.deep.equal(P3_TO_P7);
    fpn.dispose();
  });

  it('12: upsampling by scale_factor 2', async () => {
    const { shapes } = await shapesOf({ start_level: 1, add_extra_convs: true, upsample_cfg: { scale_factor: 2 }, num_outs: 5 });
    expect(shapes).to.deep.equal(P3_TO_P7);
  });

  for (const mode of ['on_input', 'on_lateral', 'on_output'] as const) {
    it(`13-15: add_extra_convs '${mode}'`, async () => {
      const { shapes, fpn } = await shapesOf({ start_level: 1, add_extra_convs: mode, num_outs: 5 });
      expect(fpn.addExtraConvs).to.equal(mode);
      expect(shapes).to.deep.equal(P3_TO_P7);
    });
  }
});

describe('FPN: structure, sources of the extra levels, init and errors', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', threads: 1, verbose: false });
    registerModels();
  });

  it('uses only levels start_level..end_level (inclusive) when end_level is not the last', async () => {
    const fpn = build({ start_level: 1, end_level: 2, num_outs: 2 });
    expect(fpn.levels).to.deep.equal({ numIns: 4, startLevel: 1, backboneEndLevel: 3, usedLevels: 2, extraLevels: 0 });
    expect(fpn.lateralConvs.map((m) => m.conv.inChannels)).to.deep.equal([16, 32]);
    expect(await forwardShapes(fpn)).to.deep.equal([
      [1, 32, 32, OUT_CHANNELS],
      [1, 16, 16, OUT_CHANNELS],
    ]);
    fpn.dispose();
  });

  it("has mmdet's state-dict keys: laterals, then output convs, then extra convs; the first 'on_input' conv reads C5", () => {
    const fpn = build({ num_outs: 6, add_extra_convs: 'on_input' });
    const keys = [...stateDictOf(fpn).keys()];
    const lateral = [0, 1, 2, 3].flatMap((k) => [`lateral_convs.${k}.conv.weight`, `lateral_convs.${k}.conv.bias`]);
    const output = [0, 1, 2, 3, 4, 5].flatMap((k) => [`fpn_convs.${k}.conv.weight`, `fpn_convs.${k}.conv.bias`]);
    expect(keys).to.deep.equal([...lateral, ...output]);
    expect(fpn.lateralConvs.map((m) => m.conv.inChannels)).to.deep.equal(IN_CHANNELS);
    expect(fpn.fpnConvs.map((m) => [m.conv.inChannels, m.conv.kernelSize[0], m.conv.stride[0]])).to.deep.equal([
      [8, 3, 1],
      [8, 3, 1],
      [8, 3, 1],
      [8, 3, 1],
      [64, 3, 2],
      [8, 3, 2],
    ]);
    fpn.dispose();
  });

  it('no_norm_on_lateral: laterals keep their bias and have no norm; GN elsewhere', () => {
    const fpn = build({ num_outs: 4, no_norm_on_lateral: true, norm_cfg: { type: 'GN', num_groups: 2 } });
    expect(fpn.lateralConvs.every((m) => m.norm === undefined && m.conv.bias !== undefined)).to.equal(true);
    expect(fpn.fpnConvs.every((m) => m.norm instanceof GroupNorm && m.conv.bias === undefined)).to.equal(true);
    expect([...stateDictOf(fpn).keys()]).to.include.members(['lateral_convs.0.conv.bias', 'fpn_convs.0.gn.weight']);
    fpn.dispose();
  });

  it('applies no activation by default (mmdet act_cfg=None), and act_cfg when given', async () => {
    const minimum = async (cfg: Record<string, unknown>): Promise<number> => {
      const fpn = build({ num_outs: 5, ...cfg });
      const min = await withoutLeaks(() => tf.tidy(() => Math.min(...fpn.forward(feats()).map((o) => tf.min(o).dataSync()[0]!))));
      fpn.dispose();
      return min;
    };
    expect(await minimum({})).to.be.below(0);
    expect(await minimum({ act_cfg: { type: 'ReLU' } })).to.equal(0);
  });

  it('keeps every other pixel for a max-pool extra level, odd sizes included (2x3 -> 1x2)', () => {
    const fpn = build({ num_outs: 6 });
    const sizes = [[16, 20], [8, 10], [4, 5], [2, 3]] as const;
    tf.tidy(() => {
      const outs = fpn.forward(feats(sizes));
      expect(outs.map((o) => [o.shape[1], o.shape[2]])).to.deep.equal([[16, 20], [8, 10], [4, 5], [2, 3], [1, 2], [1, 1]]);
      const everyOther = tf.concat([tf.slice(outs[3]!, [0, 0, 0, 0], [1, 1, 1, -1]), tf.slice(outs[3]!, [0, 0, 2, 0], [1, 1, 1, -1])], 2);
      expect(maxAbsDiff(outs[4]!, everyOther)).to.equal(0);
    });
    fpn.dispose();
  });

  type Run = { inputs: tf.Tensor4D[]; fpn: FPN; outs: tf.Tensor4D[] };
  const sourceCases = [
    // The first extra level reads raw C5 (inputs[3]), the top lateral, or P5 (outs[2]).
    { mode: 'on_input', source: ({ inputs }: Run) => inputs[3]! },
    { mode: 'on_lateral', source: ({ inputs, fpn }: Run) => fpn.lateralConvs[2]!.forward(inputs[3]!) },
    { mode: 'on_output', source: ({ outs }: Run) => outs[2]! },
  ] as const;
  for (const { mode, source } of sourceCases) {
    it(`feeds the first extra conv from its '${mode}' source, and the next one from the level below (relu_before_extra_convs)`, async () => {
      for (const relu of [false, true]) {
        const fpn = build({ start_level: 1, add_extra_convs: mode, relu_before_extra_convs: relu, num_outs: 5 });
        await withoutLeaks(() =>
          tf.tidy(() => {
            const inputs = feats();
            const outs = fpn.forward(inputs);
            const first = fpn.fpnConvs[3]!.forward(source({ inputs, fpn, outs }));
            expect(maxAbsDiff(outs[3]!, first), `${mode}: P6`).to.be.below(1e-5);
            const below = relu ? tf.relu(outs[3]!) : outs[3]!;
            expect(maxAbsDiff(outs[4]!, fpn.fpnConvs[4]!.forward(below as tf.Tensor4D)), `${mode}: P7, relu ${relu}`).to.be.below(1e-5);
            // P6 has negative values, so the ReLU matters: the other choice gives another P7.
            const other = relu ? outs[3]! : tf.relu(outs[3]!);
            expect(maxAbsDiff(outs[4]!, fpn.fpnConvs[4]!.forward(other as tf.Tensor4D))).to.be.above(1e-3);
          }),
        );
        fpn.dispose();
      }
    });
  }

  it('upsamples to the lower level with PyTorch nearest indices (2x3 -> 4x5 is not an exact 2x)', () => {
    expect(torchNearestIndices(3, 5)).to.deep.equal([0, 0, 1, 1, 2]);
    expect(torchNearestIndices(2, 4)).to.deep.equal([0, 0, 1, 1]);
    tf.tidy(() => {
      const x = tf.reshape(tf.range(0, 6), [1, 2, 3, 1]) as tf.Tensor4D;
      const up = upsampleTo(x, [4, 5], { mode: 'nearest' }, 'test');
      expect(Array.from(up.dataSync())).to.deep.equal([0, 0, 1, 1, 2, 0, 0, 1, 1, 2, 3, 3, 4, 4, 5, 3, 3, 4, 4, 5]);
    });
  });

  it('initialises every conv Xavier-uniform with zero bias (init_cfg), or keeps Kaiming with init_cfg null', () => {
    const xavier = build({ num_outs: 5, add_extra_convs: 'on_input', in_channels: [64, 64, 64, 64], out_channels: 64 });
    for (const m of [...xavier.lateralConvs, ...xavier.fpnConvs]) {
      const [kh, kw, cin, cout] = m.conv.weight.shape as number[];
      const bound = Math.sqrt(6 / (kh! * kw! * (cin! + cout!)));
      const { max, std } = stats(m.conv.weight);
      expect(max).to.be.at.most(bound).and.above(0.95 * bound);
      expect(std).to.be.closeTo(bound / Math.sqrt(3), 0.1 * bound);
      expect(stats(m.conv.bias!).max).to.equal(0);
    }
    xavier.dispose();
    const normal = build({ num_outs: 4, in_channels: [64, 64, 64, 64], out_channels: 64, init_cfg: { type: 'Xavier', gain: 2 } });
    // mmengine's XavierInit defaults to the normal distribution: std = gain * sqrt(2 / (fan_in + fan_out)).
    expect(stats(normal.fpnConvs[0]!.conv.weight).std).to.be.closeTo(2 * Math.sqrt(2 / (9 * 128)), 0.01);
    normal.dispose();
    const kaiming = build({ num_outs: 4, in_channels: [64, 64, 64, 64], out_channels: 64, init_cfg: null });
    const conv = kaiming.fpnConvs[0]!.conv;
    expect(stats(conv.weight).std).to.be.closeTo(Math.sqrt(2 / (9 * 64)), 0.01);
    kaiming.dispose();
  });

  it('reports channels and strides of its outputs from a backbone: P2..P6, or P3..P7 from C3..C5', () => {
    const backbone = MODELS.build<ResNet>({ type: 'ResNet', depth: 50, base_channels: 4 }, { path: 'model.backbone' });
    const inShapes = backbone.outputShapes();
    const inChannels = inShapes.map((s) => s.channels);
    const fasterRcnn = build({ in_channels: inChannels, out_channels: 16, num_outs: 5 });
    expect(fasterRcnn.outputShapes(inShapes)).to.deep.equal([2, 3, 4, 5, 6].map((l) => ({ name: `p${l}`, channels: 16, stride: 2 ** l })));
    const retina = build({ in_channels: inChannels, out_channels: 16, start_level: 1, add_extra_convs: 'on_input', num_outs: 5 });
    expect(retina.outputShapes(inShapes).map((s) => s.name)).to.deep.equal(['p3', 'p4', 'p5', 'p6', 'p7']);
    expect(() => retina.outputShapes(inShapes.slice(1))).to.throw(/FPN \(model\.neck\): outputShapes takes 4 backbone levels .* got 3/);
    const wrongChannels = build({ num_outs: 5 });
    expect(() => wrongChannels.outputShapes(inShapes)).to.throw(/FPN \(model\.neck\): input level 0 'c2' has 16 channels, in_channels\[0\] is 8/);
    [backbone, fasterRcnn, retina, wrongChannels].forEach((m) => m.dispose());
  });

  it('names itself and the counts when forward gets the wrong levels', async () => {
    const fpn = build({ start_level: 1, num_outs: 3 });
    await withoutLeaks(() => {
      expect(() => tf.tidy(() => fpn.forward(feats().slice(1)))).to.throw(/FPN \(model\.neck\): forward takes 4 backbone levels \(one per in_channels entry, also those below start_level 1\), got 3/);
      expect(() => tf.tidy(() => fpn.forward(feats(undefined, 1, [8, 16, 32, 32])))).to.throw(/FPN \(model\.neck\): input level 3 of shape \[1, 8, 8, 32\] \(NHWC\) has 32 channels, in_channels\[3\] is 64/);
    });
    fpn.dispose();
  });

  it('rejects bad upsample configs: align_corners without bilinear, a scale factor that misses the lower size, a fractional one', async () => {
    expectConfigError({ num_outs: 4, upsample_cfg: { mode: 'nearest', align_corners: false } }, /model\.neck\.upsample_cfg\.align_corners: only applies to mode 'bilinear'/);
    expectConfigError({ num_outs: 4, upsample_cfg: { mode: 'bicubic' } }, /model\.neck\.upsample_cfg\.mode: must be one of/);
    const scale = (scale_factor: number, sizes: [number, number][]) => {
      const fpn = build({ in_channels: [8, 16], num_outs: 2, upsample_cfg: { scale_factor } });
      try {
        tf.tidy(() => fpn.forward(feats(sizes, 1, [8, 16])));
      } finally {
        fpn.dispose();
      }
    };
    expect(() => scale(2, [[5, 5], [3, 3]])).to.throw(/FPN \(model\.neck\): top-down from level 1: upsample_cfg\.scale_factor 2 turns 3x3 into 6x6, but the level below is 5x5/);
    expect(() => scale(1.5, [[4, 4], [3, 3]])).to.throw(/maps 3x3 to 4\.5x4\.5, not whole sizes/);
  });

  it('rejects unknown keys (the removed extra_convs_on_inputs), an empty in_channels and a start_level past the levels', () => {
    expectConfigError({ num_outs: 4, extra_convs_on_inputs: true }, /model\.neck\.extra_convs_on_inputs: unknown key for FPN/);
    expectConfigError({ num_outs: 4, in_channels: [] }, /model\.neck\.in_channels: must NOT have fewer than 1 items/);
    expectConfigError({ num_outs: 4, start_level: 4 }, /model\.neck\.start_level: must be < len\(in_channels\) = 4, got 4/);
    expectConfigError({ start_level: 2, end_level: 1, num_outs: 1 }, /model\.neck\.end_level: must be >= start_level \(2\), got 1/);
    // Every cross-key problem at once, each with its path.
    expect(() => build({ num_outs: 2, upsample_cfg: { mode: 'nearest', align_corners: true } }))
      .to.throw(ConfigValidationError)
      .with.property('issues')
      .that.satisfies((issues: { path: string }[]) => issues.map((i) => i.path).join() === 'model.neck.num_outs,model.neck.upsample_cfg.align_corners');
  });
});

describe('FPN on the cpu backend: PyTorch nearest indices and gradients', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', verbose: false });
    registerModels();
  });

  it("upsamples 26 -> 44 with PyTorch's float32 indices where tfjs's cpu kernel picks another row", () => {
    const torch = torchNearestIndices(26, 44);
    // floor(22 * 26 / 44) = 13 exactly, but PyTorch's float32 scale gives 12.999999 -> 12.
    expect(torch[22]).to.equal(12);
    tf.tidy(() => {
      const x = tf.reshape(tf.range(0, 26), [1, 26, 1, 1]) as tf.Tensor4D;
      expect(tf.image.resizeNearestNeighbor(x, [44, 1]).dataSync()[22], "tfjs's cpu resize").to.equal(13);
      expect(Array.from(upsampleTo(x, [44, 1], { mode: 'nearest' }, 'test').dataSync())).to.deep.equal(torch);
    });
  });

  it('back-propagates nearest upsampling exactly for a batch of 2 (the adjoint of the forward)', () => {
    // <d/dx sum(up(x) * w), v> must equal <w, up(v)>: tfjs's cpu ResizeNearestNeighborGrad alone
    // fails this for every sample after the first; 26 -> 44 takes the gather path.
    for (const [inSize, outSize] of [[[2, 3], [4, 5]], [[26, 7], [44, 14]]] as [[number, number], [number, number]][]) {
      tf.tidy(() => {
        const up = (x: tf.Tensor4D) => upsampleTo(x, outSize, { mode: 'nearest' }, 'test');
        const [x, v] = [tf.randomNormal([2, ...inSize, 3]) as tf.Tensor4D, tf.randomNormal([2, ...inSize, 3]) as tf.Tensor4D];
        const w = tf.randomNormal([2, ...outSize, 3]);
        const grad = tf.grad((input) => tf.sum(tf.mul(up(input as tf.Tensor4D), w)))(x);
        const [lhs, rhs] = [tf.sum(tf.mul(grad, v)).dataSync()[0]!, tf.sum(tf.mul(w, up(v))).dataSync()[0]!];
        expect(Math.abs(lhs - rhs), `${inSize.join('x')} -> ${outSize.join('x')}`).to.be.below(1e-3);
      });
    }
  });

  it('gives every parameter a gradient in train mode (GN, on_output, ReLU before extra convs)', async () => {
    const fpn = build({ start_level: 1, add_extra_convs: 'on_output', relu_before_extra_convs: true, norm_cfg: { type: 'GN', num_groups: 2 }, num_outs: 5 }).train();
    const variables = fpn.trainableVariables();
    await withoutLeaks(() => {
      const inputs = feats([[16, 16], [8, 8], [4, 4], [2, 2]]);
      const { value, grads } = tf.variableGrads(() => tf.addN(fpn.forward(inputs).map((o) => tf.sum(tf.square(o)))) as tf.Scalar, variables);
      expect(Object.keys(grads)).to.have.length(variables.length);
      const norms = Object.values(grads).map((g) => tf.tidy(() => tf.norm(g).dataSync()[0]!));
      expect(norms.every((n) => Number.isFinite(n) && n > 0), norms.join(', ')).to.equal(true);
      tf.dispose([value, ...Object.values(grads), ...inputs]);
    });
    fpn.dispose();
  });
});

describe('parity: FPN fixtures from mmdetection', () => {
  const FIXTURES = fixturesDir(REPO_ROOT);

  /** Runs a case and fails with every tensor out of tolerance; prints the max abs error per tensor. */
  function expectParity(name: string, minComparisons: number): CaseReport {
    const before = tf.memory().numTensors;
    const report = runCase(path.join(FIXTURES, name));
    for (const c of report.comparisons) console.log(`      ${formatComparison(c)}`);
    const failures = report.comparisons.filter((c) => !c.ok).map(formatComparison);
    expect(failures, failures.join('\n')).to.deep.equal([]);
    expect(report.comparisons.length).to.be.at.least(minComparisons);
    expect(tf.memory().numTensors, 'tensors leaked by the case').to.equal(before);
    return report;
  }

  describe('eval cases (wasm, 1 thread)', () => {
    before(async () => {
      await initBackend({ backend: 'wasm', threads: 1, verbose: false });
      registerModels();
    });
    it('fpn_default_maxpool: 5 outputs, P6 = max_pool(P5) 2x3 -> 1x2', () => void expectParity('fpn_default_maxpool', 5));
    it("fpn_on_input: 5 outputs, P6 = conv(C5), 2x3 -> 4x5 nearest top-down", () => void expectParity('fpn_on_input', 5));
  });

  describe('train case (cpu: wasm lacks Conv2DBackpropFilter until the fast conv gradients land)', () => {
    before(async () => {
      await initBackend({ backend: 'cpu', verbose: false });
      registerModels();
    });
    it('fpn_train: outputs, loss and all 16 gradients (start_level 1, on_output, ReLU before extra convs)', () => {
      const report = expectParity('fpn_train', 5 + 1 + 16);
      expect(report.comparisons.filter((c) => c.name.startsWith('grad.'))).to.have.length(16);
    });
  });
});

function stats(t: tf.Tensor): { max: number; std: number } {
  return tf.tidy(() => {
    const { variance } = tf.moments(t);
    return { max: tf.max(tf.abs(t)).dataSync()[0]!, std: Math.sqrt(variance.dataSync()[0]!) };
  });
}
