/**
 * Parity runner for detector cases (../shared/fixtures/README.md, faster_rcnn_r50_fpn_infer):
 * builds `component` through the registry (without its data_preprocessor: the stored input is
 * already normalised and padded, and mmdet did not run it either), loads the weights strictly,
 * and compares, step by step as the case's `call` records them:
 *   feat.backbone.<i>, feat.neck.<i>         NCHW, per the case's atol map
 *   rpn.cls_score.<l>, rpn.bbox_pred.<l>     NHWC head outputs transposed to NCHW (A channels, a * 4 + k)
 *   proposals.<b>                            as sets: same count, each stored box matched within 1e-2 px, score within 1e-4
 *   roi.cls_score, roi.bbox_pred             the box head on the STORED rois (so the RoI head is tested in isolation)
 *   det.<b>                                  model.predict(rescale) end to end, as sets with equal labels
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadStateDict, MODELS, toFloat32, type ComponentConfig } from '@tsdet/core';
import { compareArrays, missing, type Comparison, type Tolerance } from '../parity/compare.js';
import { ioTensor, nchwToNhwc, type FixtureCase } from '../parity/fixture-case.js';
import { registerCaseRunner, type CaseRunner } from '../parity/run-case.js';
import { hostScoped } from './parts.js';
import { registerModels } from '../register.js';
import type { ImageMeta, InstanceResults } from './structures.js';
import { TwoStageDetector } from './two-stage.js';

/** fixtures/README.md: proposals and detections match as sets, boxes within 1e-2 px and scores within 1e-4. */
export const SET_BOX_TOLERANCE = 1e-2;
export const SET_SCORE_TOLERANCE = 1e-4;

const DETECTOR_TYPES = new Set(['FasterRCNN', 'TwoStageDetector']);

/** The case's tolerance for a tensor group: `atol` is a map keyed by group, e.g. 'roi.cls_score (given stored rois)'. */
function toleranceOf(c: FixtureCase, group: string): Tolerance {
  const atol = c.json.tolerance.atol as unknown;
  const rtol = c.json.tolerance.rtol;
  if (typeof atol === 'number') return { atol, rtol };
  const entry = Object.entries(atol as Record<string, number>).find(([key]) => key.split(' (')[0] === group);
  if (!entry) throw new Error(`${c.dir}/case.json: tolerance.atol has no entry for '${group}'`);
  return { atol: entry[1], rtol };
}

export function metasOf(c: FixtureCase): ImageMeta[] {
  const metas = c.json['data_samples_metainfo'];
  if (!Array.isArray(metas)) throw new Error(`${c.dir}/case.json: no data_samples_metainfo list`);
  return metas as ImageMeta[];
}

/** The detector of the case, weights loaded strictly, in the case's mode (eval unless 'train'). */
export function buildDetector(c: FixtureCase): TwoStageDetector {
  const { data_preprocessor: _notApplied, ...component } = c.json.component;
  const model = MODELS.build<unknown>(component as ComponentConfig, { path: `${c.name}/case.json:component` });
  if (!(model instanceof TwoStageDetector)) throw new Error(`${c.dir}: component built a ${String(model)}, not a two-stage detector`);
  if (!c.weights) throw new Error(`${c.dir}: a detector case needs weights.safetensors`);
  loadStateDict(model, c.weights, { strict: true, source: `${c.dir}/weights.safetensors` });
  return c.json.mode === 'train' ? model.train() : model.eval();
}

/** NHWC ours vs the stored NCHW tensor `key`. */
function compareNhwc(c: FixtureCase, key: string, ours: tf.Tensor4D | undefined, tolerance: Tolerance): Comparison {
  const stored = c.io.get(key);
  if (!stored) return missing(key, `the case has no tensor '${key}'`, tolerance);
  if (!ours) return missing(key, 'ours produced no such level', tolerance);
  const nchw = tf.transpose(ours, [0, 3, 1, 2]);
  if (nchw.shape.join() !== stored.shape.join()) return missing(key, `shape [${nchw.shape.join(', ')}] (as NCHW), expected [${stored.shape.join(', ')}]`, tolerance);
  return compareArrays(key, nchw.dataSync(), toFloat32(stored), tolerance);
}

function compareLevels(c: FixtureCase, prefix: string, group: string, ours: readonly tf.Tensor4D[]): Comparison[] {
  const tolerance = toleranceOf(c, group);
  const stored = [...c.io.keys()].filter((k) => k.startsWith(`${prefix}.`)).length;
  const count = Math.max(stored, ours.length);
  return Array.from({ length: count }, (_, i) => compareNhwc(c, `${prefix}.${i}`, ours[i], tolerance));
}

/** A stored instance list: `<prefix>.bboxes`, `.scores` and (detections) `.labels`. */
export function storedInstances(c: FixtureCase, prefix: string): InstanceResults {
  const bboxes = toFloat32(ioTensor(c, `${prefix}.bboxes`));
  const scores = toFloat32(ioTensor(c, `${prefix}.scores`));
  const labels = c.io.has(`${prefix}.labels`) ? Int32Array.from(toFloat32(ioTensor(c, `${prefix}.labels`))) : new Int32Array(scores.length);
  return { bboxes, scores, labels };
}

export interface SetMatch {
  /** Stored entries with no partner among ours. */
  unmatched: number;
  maxBoxDev: number;
  maxScoreDev: number;
}

function boxDeviation(a: Float32Array, i: number, b: Float32Array, j: number): number {
  let dev = 0;
  for (let k = 0; k < 4; k++) dev = Math.max(dev, Math.abs(a[4 * i + k]! - b[4 * j + k]!));
  return dev;
}

/**
 * One-to-one matching of `stored` entries to `ours`: each stored entry takes the closest free
 * entry of ours with the same label, its box within boxTol and its score within scoreTol.
 */
export function matchInstanceSets(ours: InstanceResults, stored: InstanceResults, boxTol = SET_BOX_TOLERANCE, scoreTol = SET_SCORE_TOLERANCE): SetMatch {
  const taken = new Uint8Array(ours.scores.length);
  let [unmatched, maxBoxDev, maxScoreDev] = [0, 0, 0];
  for (let i = 0; i < stored.scores.length; i++) {
    let best = -1;
    let bestDev = Infinity;
    for (let j = 0; j < ours.scores.length; j++) {
      if (taken[j] || ours.labels[j] !== stored.labels[i] || Math.abs(ours.scores[j]! - stored.scores[i]!) > scoreTol) continue;
      const dev = boxDeviation(stored.bboxes, i, ours.bboxes, j);
      if (dev <= boxTol && dev < bestDev) [best, bestDev] = [j, dev];
    }
    if (best < 0) {
      unmatched++;
      continue;
    }
    taken[best] = 1;
    maxBoxDev = Math.max(maxBoxDev, bestDev);
    maxScoreDev = Math.max(maxScoreDev, Math.abs(ours.scores[best]! - stored.scores[i]!));
  }
  return { unmatched, maxBoxDev, maxScoreDev };
}

/** Two comparisons per set (boxes, scores), failing on a count difference or an unmatched entry. */
export function compareInstanceSets(name: string, ours: InstanceResults, stored: InstanceResults, withLabels: boolean): Comparison[] {
  const match = matchInstanceSets(ours, stored);
  const problems: string[] = [];
  if (ours.scores.length !== stored.scores.length) problems.push(`${ours.scores.length} entries, expected ${stored.scores.length}`);
  if (match.unmatched) problems.push(`${match.unmatched} of ${stored.scores.length} stored entries have no match (box within ${SET_BOX_TOLERANCE} px, score within ${SET_SCORE_TOLERANCE}${withLabels ? ', same label' : ''})`);
  const ok = problems.length === 0;
  const entry = (suffix: string, maxAbs: number, atol: number): Comparison => ({
    name: `${name}.${suffix} (as a set${withLabels && suffix === 'bboxes' ? ', equal labels' : ''})`,
    ok,
    maxAbs,
    maxRel: 0,
    tolerance: { atol, rtol: 0 },
    ...(ok ? {} : { problem: `${problems.join('; ')}; max ${suffix === 'bboxes' ? 'box' : 'score'} deviation of the matched ${maxAbs.toExponential(2)}` }),
  });
  return [entry('bboxes', match.maxBoxDev, SET_BOX_TOLERANCE), entry('scores', match.maxScoreDev, SET_SCORE_TOLERANCE)];
}

/** The RoI head on the stored rois (bbox2roi of the stored proposals). */
function compareRoiHead(c: FixtureCase, model: TwoStageDetector, neckFeats: readonly tf.Tensor4D[]): Comparison[] {
  const stored = ioTensor(c, 'roi.rois');
  const rois = tf.tensor2d(toFloat32(stored), stored.shape as [number, number]);
  const { clsScore, bboxPred } = model.roiHead!.bboxForward(neckFeats, rois);
  const compare2d = (key: string, ours: tf.Tensor2D | undefined, group: string): Comparison => {
    const tolerance = toleranceOf(c, group);
    const ref = c.io.get(key);
    if (!ref || !ours) return missing(key, ref ? 'the box head has no such branch' : `the case has no tensor '${key}'`, tolerance);
    if (ours.shape.join() !== ref.shape.join()) return missing(key, `shape [${ours.shape.join(', ')}], expected [${ref.shape.join(', ')}]`, tolerance);
    return compareArrays(key, ours.dataSync(), toFloat32(ref), tolerance);
  };
  return [compare2d('roi.cls_score', clsScore, 'roi.cls_score'), compare2d('roi.bbox_pred', bboxPred, 'roi.bbox_pred')];
}

function compareDetector(c: FixtureCase, model: TwoStageDetector): Comparison[] {
  const metas = metasOf(c);
  const input = nchwToNhwc(ioTensor(c, 'input'));
  const backboneFeats = model.backbone.forward(input);
  const neckFeats = model.neck ? model.neck.forward(backboneFeats) : backboneFeats;
  const rpn = model.rpnHead!;
  const { clsScores, bboxPreds } = rpn.forward(neckFeats);
  const proposals = rpn.predictByFeat(clsScores, bboxPreds, metas, { rescale: false });
  const detections = model.predict(input, metas, { rescale: true });
  return [
    ...compareLevels(c, 'feat.backbone', 'feat.backbone', backboneFeats),
    ...compareLevels(c, 'feat.neck', 'feat.neck', model.neck ? neckFeats : []),
    ...clsScores.flatMap((scores, l) => [compareNhwc(c, `rpn.cls_score.${l}`, scores, toleranceOf(c, 'rpn.cls_score')), compareNhwc(c, `rpn.bbox_pred.${l}`, bboxPreds[l], toleranceOf(c, 'rpn.bbox_pred'))]),
    ...proposals.flatMap((p, b) => compareInstanceSets(`proposals.${b}`, p, storedInstances(c, `proposals.${b}`), false)),
    ...compareRoiHead(c, model, neckFeats),
    ...detections.flatMap((d, b) => compareInstanceSets(`det.${b}`, d, storedInstances(c, `det.${b}`), true)),
  ];
}

export function isDetectorCase(c: FixtureCase): boolean {
  return DETECTOR_TYPES.has(String(c.json.component['type']));
}

export const detectorCaseRunner: CaseRunner = {
  kind: 'detector',
  matches: (c) => isDetectorCase(c) && c.json.mode === 'eval' && c.io.has('det.0.bboxes'),
  run: (c) => {
    registerModels();
    const model = buildDetector(c);
    try {
      // Every intermediate tensor is freed with the scope; the comparisons are plain numbers.
      return hostScoped(() => compareDetector(c, model));
    } finally {
      model.dispose();
    }
  },
};

registerCaseRunner(detectorCaseRunner);
