/**
 * FasterRCNN / TwoStageDetector: the mmdetection fixture through runCase (wasm and cpu), mmdet's
 * state-dict keys, five predictions on images of different sizes without a leaked tensor,
 * mmdet's wiring (the RPN built from a copy with num_classes 1, heads handed their cfgs) and
 * the build-time checks, each naming the config paths involved.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigValidationError, initBackend, loadStateDict, MODELS, stateDictOf, withoutLeaks, type BackendName } from '@tsdet/core';
import { formatComparison } from '../parity/compare.js';
import { fixturesDir, readFixtureCase, type FixtureCase } from '../parity/fixture-case.js';
import { REPO_ROOT } from '../parity/repo-root.js';
import { runCase } from '../parity/run-case.js';
import '../parity/runners.js';
import { compareInstanceSets, matchInstanceSets } from './parity-runner.js';
import { registerModels } from '../register.js';
import type { InstanceResults } from './structures.js';
import { FasterRCNN, TwoStageDetector } from './two-stage.js';

const CASE_DIR = path.join(fixturesDir(REPO_ROOT), 'faster_rcnn_r50_fpn_infer');

/** feat.backbone x4, feat.neck x5, rpn cls/reg x5 levels, proposals (boxes, scores), roi cls/reg, det (boxes, scores). */
const EXPECTED_COMPARISONS = 4 + 5 + 2 * 5 + 2 + 2 + 2;

type Cfg = Record<string, unknown>;

/** The fixture's FasterRCNN config (ResNet-50 at base width 16, FPN to 32 channels, 3 classes), without its preprocessor. */
function fixtureComponent(fixture: FixtureCase): Cfg {
  const { data_preprocessor: _none, ...component } = fixture.json.component;
  return component;
}

/** `base` with each dotted key replaced by its value, or removed for undefined (a deep copy: the base is never touched). */
function withKeys(base: Cfg, changes: Record<string, unknown>): Cfg {
  const copy = structuredClone(base);
  for (const [key, value] of Object.entries(changes)) {
    const parts = key.split('.');
    const parent = parts.slice(0, -1).reduce<Cfg>((node, k) => node[k] as Cfg, copy);
    if (value === undefined) delete parent[parts[parts.length - 1]!];
    else parent[parts[parts.length - 1]!] = value;
  }
  return copy;
}

function withKey(base: Cfg, key: string, value: unknown): Cfg {
  return withKeys(base, { [key]: value });
}

function build(cfg: Cfg): TwoStageDetector {
  return MODELS.build<TwoStageDetector>(cfg, { path: 'model' });
}

function instances(boxes: number[][], scores: number[], labels: number[]): InstanceResults {
  return { bboxes: Float32Array.from(boxes.flat()), scores: Float32Array.from(scores), labels: Int32Array.from(labels) };
}

describe('two-stage detectors', () => {
  let fixture: FixtureCase;

  before(() => {
    expect(fs.existsSync(CASE_DIR), `no fixture case ${CASE_DIR}`).to.equal(true);
    fixture = readFixtureCase(CASE_DIR);
  });

  for (const backend of ['wasm', 'cpu'] as BackendName[]) {
    describe(`parity with mmdetection (${backend})`, () => {
      before(async () => {
        await initBackend({ backend, threads: 1, verbose: false });
        registerModels();
      });

      it('faster_rcnn_r50_fpn_infer: every stage within tolerance, proposals and detections as sets, no leak', async () => {
        const report = await withoutLeaks(() => runCase(CASE_DIR), 'runCase');
        const failures = report.comparisons.filter((c) => !c.ok).map(formatComparison);
        expect(failures, failures.join('\n')).to.deep.equal([]);
        expect(report.comparisons).to.have.length(EXPECTED_COMPARISONS);
        expect(tf.getBackend()).to.equal(backend);
      });
    });
  }

  describe('set comparison', () => {
    it('matches entries in any order and fails on a moved box, a changed label or a different count', () => {
      const stored = instances([[0, 0, 10, 10], [5, 5, 20, 20]], [0.9, 0.8], [1, 2]);
      const shuffled = instances([[5, 5, 20, 20.005], [0, 0, 10, 10]], [0.80005, 0.9], [2, 1]);
      expect(matchInstanceSets(shuffled, stored)).to.deep.include({ unmatched: 0 });
      expect(compareInstanceSets('det.0', shuffled, stored, true).every((c) => c.ok)).to.equal(true);
      expect(matchInstanceSets(instances([[5, 5, 20, 20.02], [0, 0, 10, 10]], [0.8, 0.9], [2, 1]), stored).unmatched).to.equal(1);
      expect(matchInstanceSets(instances([[5, 5, 20, 20], [0, 0, 10, 10]], [0.8, 0.9], [0, 1]), stored).unmatched).to.equal(1);
      expect(compareInstanceSets('det.0', instances([[0, 0, 10, 10]], [0.9], [1]), stored, true)[0]!.problem).to.match(/1 entries, expected 2/);
    });
  });

  describe('built from the fixture config', () => {
    before(async () => {
      await initBackend({ backend: 'wasm', threads: 1, verbose: false });
      registerModels();
    });

    it('has exactly the fixture\'s (mmdet\'s) state-dict keys and shapes', () => {
      const model = build(fixtureComponent(fixture));
      expect(model).to.be.instanceOf(FasterRCNN);
      const ours = Object.fromEntries([...stateDictOf(model)].map(([k, v]) => [k, v.shape.join('x')]));
      const theirs = Object.fromEntries([...fixture.weights!].map(([k, v]) => [k, v.shape.join('x')]));
      expect(ours).to.deep.equal(theirs);
      model.dispose();
    });

    it('predicts five images of different sizes in a row without leaking a tensor', async () => {
      const model = build(fixtureComponent(fixture));
      loadStateDict(model, fixture.weights!, { strict: true });
      model.eval();
      const predictOn = ([h, w]: [number, number], seed: number) => {
        const image = tf.randomNormal([1, h, w, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
        const [result] = model.predict(image, [{ img_shape: [h, w], scale_factor: [0.5, 0.5] }]);
        image.dispose();
        return result!;
      };
      predictOn([64, 64], 1); // warm-up: folded conv-BN weights are cached on first use
      const sizes: [number, number][] = [[96, 128], [64, 64], [100, 75], [33, 47], [128, 96]];
      const results = await withoutLeaks(() => sizes.map((size, i) => predictOn(size, 10 + i)), '5 predictions');
      results.forEach((r, i) => {
        const [h, w] = sizes[i]!;
        expect(r.scores.length, `image ${i}`).to.equal(r.labels.length);
        // rescale by 1 / 0.5: every box lies within twice the image.
        r.bboxes.forEach((v, k) => expect(v, `image ${i} box value ${k}`).to.be.within(0, (k % 2 === 0 ? w : h) * 2));
        r.labels.forEach((l) => expect(l).to.be.within(0, 2));
      });
      expect(results.some((r) => r.scores.length > 0)).to.equal(true);
      model.dispose();
    });

    it('takes given proposals instead of running the RPN (mmdet\'s data_sample.proposals)', () => {
      const model = build(withKey(fixtureComponent(fixture), 'type', 'TwoStageDetector'));
      model.eval();
      const image = tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
      const proposals = [instances([[4, 4, 40, 40]], [1], [0])];
      const [result] = model.predict(image, [{ img_shape: [64, 64], scale_factor: [1, 1] }], { proposals });
      expect(result!.scores.length).to.be.at.most(3);
      image.dispose();
      model.dispose();
    });

    it('builds the RPN from a copy with num_classes 1, with a one-line notice, leaving the config alone', () => {
      const cfg = withKey(fixtureComponent(fixture), 'rpn_head.num_classes', 2);
      const warnings: string[] = [];
      const warn = console.warn;
      console.warn = (message: string) => void warnings.push(message);
      try {
        build(cfg).dispose();
      } finally {
        console.warn = warn;
      }
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.match(/^model\.rpn_head\.num_classes: an RPN has one class \(objectness\), got 2; building it with 1/);
      expect((cfg['rpn_head'] as Cfg)['num_classes']).to.equal(2);
    });

    it('hands the heads their train_cfg / test_cfg parts', () => {
      const model = build(fixtureComponent(fixture));
      expect(model.rpnHead!.testCfg).to.deep.include({ nms_pre: 1000, max_per_img: 1000, min_bbox_size: 0 });
      expect(model.rpnHead!.trainCfg!.sampler).to.deep.include({ num: 256, pos_fraction: 0.5 });
      expect(model.roiHead!.testCfg).to.deep.include({ score_thr: 0.05, max_per_img: 100 });
      expect(model.roiHead!.trainCfg!.assigner).to.deep.include({ pos_iou_thr: 0.5, match_low_quality: false, gt_max_assign_all: true });
      model.dispose();
    });
  });

  describe('config errors name the config paths', () => {
    before(async () => {
      await initBackend({ backend: 'wasm', threads: 1, verbose: false });
      registerModels();
    });

    const expectErrors = (changes: Record<string, unknown>, pattern: RegExp) => {
      expect(() => build(withKeys(fixtureComponent(fixture), changes)).dispose()).to.throw(ConfigValidationError, pattern);
    };
    const expectError = (key: string, value: unknown, pattern: RegExp) => expectErrors({ [key]: value }, pattern);

    it('neck in_channels against the backbone outputs', () => {
      expectError('neck.in_channels', [64, 128, 256, 1024], /model\.neck\.in_channels\.3: is 1024, but model\.backbone output 3 \(c5\) has 512 channels/);
      expectError('neck.in_channels', [64, 128, 256], /model\.neck\.in_channels: has 3 entries, but model\.backbone outputs 4 levels .*check model\.backbone\.out_indices/);
      expectError('backbone.out_indices', [1, 2, 3], /model\.neck\.in_channels: has 4 entries, but model\.backbone outputs 3 levels/);
    });

    it('the heads against the neck outputs', () => {
      expectError('rpn_head.in_channels', 64, /model\.rpn_head\.in_channels: is 64, but model\.neck outputs 32 channels/);
      expectError('rpn_head.anchor_generator.strides', [4, 8, 16, 32], /model\.rpn_head\.anchor_generator\.strides: has 4 levels, but model\.neck outputs 5/);
      expectError('rpn_head.anchor_generator.strides', [4, 8, 16, 32, 128], /model\.rpn_head\.anchor_generator\.strides\.4: is 128, but model\.neck output 4 \(p6\) has stride 64/);
      expectError('roi_head.bbox_roi_extractor.featmap_strides', [8, 16, 32, 64], /model\.roi_head\.bbox_roi_extractor\.featmap_strides\.0: is 8, but model\.neck output 0 \(p2\) has stride 4/);
      expectErrors({ 'roi_head.bbox_roi_extractor.out_channels': 64, 'roi_head.bbox_head.in_channels': 64 }, /model\.roi_head\.bbox_roi_extractor\.out_channels: is 64, but model\.neck outputs 32 channels/);
      // Every mismatch at once: the RPN's channels and each of the four strides.
      expectErrors({ 'rpn_head.in_channels': 64, 'roi_head.bbox_roi_extractor.featmap_strides': [8, 16, 32, 64] }, /has 5 problems:\n {2}- model\.rpn_head\.in_channels: [^]*featmap_strides\.3: is 64/);
    });

    it('train_cfg / test_cfg keys, including unknown ones', () => {
      expectError('train_cfg.rpn_propsal', { max_per_img: 10, nms: { iou_threshold: 0.7 } }, /model\.train_cfg\.rpn_propsal: unknown key .*did you mean 'rpn_proposal'/);
      expectError('train_cfg.rcnn.sampler.num_pos', 3, /model\.train_cfg\.rcnn\.sampler\.num_pos: unknown key/);
      expectError('train_cfg.rcnn.assigner.type', 'ATSSAssigner', /model\.train_cfg\.rcnn\.assigner\.type/);
      expectError('test_cfg.rcnn', undefined, /model\.test_cfg\.rcnn: is required with model\.roi_head/);
      expectError('test_cfg', undefined, /missing required key 'test_cfg' for FasterRCNN/);
    });

    it('a head\'s own train_cfg / test_cfg (set by the detector) and missing heads', () => {
      expectError('rpn_head.test_cfg', { max_per_img: 10, nms: { iou_threshold: 0.7 } }, /model\.rpn_head\.test_cfg: is set by the enclosing component/);
      expectError('roi_head', undefined, /missing required key 'roi_head' for FasterRCNN/);
      expectError('init_cfg', { type: 'Pretrained', checkpoint: 'x.pth' }, /model\.init_cfg/);
    });
  });
});
