/**
 * Parity runner for detector training cases (../shared/fixtures/README.md,
 * faster_rcnn_r50_fpn_train_losses): builds `component` through the registry (without its
 * data_preprocessor: the stored input is already normalised), loads the weights strictly, puts
 * the model in train mode and runs the case's `call` — model.loss, parseLosses, the gradient of
 * the total — then compares:
 *   loss.<term>(.<level>), loss.total        every term and level, per the case's loss tolerances
 *   proposals.<b>                            as sets (1e-2 px, 1e-4 score), as the inference runner
 *   sampling.<b>.pos / .neg                  RoI sampling as sets: priors within 1e-2 px, and per
 *                                            positive its label, assigned gt and is-gt flag
 *   roi.rois, roi.cls_score, roi.bbox_pred   the box head on the STORED rois (the head in isolation,
 *                                            tight); our rois matched to the stored ones as a set and
 *                                            the training path's head rows of matched rois (looser:
 *                                            our rois differ from the stored ones by float32 noise)
 *   grad.<param>                             per grad_atol_per_param / grad_rtol, PyTorch layouts
 *   frozen parameters                        ours train exactly the parameters the reference trains
 * The sampling is deterministic because the case's sampler num exceeds every candidate count
 * (case.json: sampler_determinism), so RandomSampler keeps all candidates without drawing.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseLosses, tfjsToTorch, toFloat32, type LossDict } from '@tsdet/core';
import { compareArrays, missing, type Comparison, type Tolerance } from '../parity/compare.js';
import { ioTensor, nchwToNhwc, type FixtureCase } from '../parity/fixture-case.js';
import { registerCaseRunner, type CaseRunner } from '../parity/run-case.js';
import { registerModels } from '../register.js';
import type { SamplingResult } from '../task-modules/samplers/sampling-result.js';
import { buildDetector, compareInstanceSets, isDetectorCase, metasOf, SET_BOX_TOLERANCE, storedInstances } from './parity-runner.js';
import { hostScoped } from './parts.js';
import type { InstanceResults } from './structures.js';
import type { DetectorLossTrace, TrainingSample, TwoStageDetector } from './two-stage.js';

type RoiOutput = 'roi.cls_score' | 'roi.bbox_pred';

/**
 * The box head's outputs on the stored rois. The case gives no tolerance for them; these are the
 * inference case's (faster_rcnn_r50_fpn_infer: 10x its float64-replay deviation) for the same
 * head and widths.
 */
export const ROI_OUTPUT_TOLERANCE: Record<RoiOutput, Tolerance> = {
  'roi.cls_score': { atol: 2e-4, rtol: 1e-4 },
  'roi.bbox_pred': { atol: 7e-5, rtol: 1e-4 },
};

/**
 * The training path's outputs on OUR rois, row-matched to the stored ones: our proposals differ
 * from mmdet's by float32 noise (about 3e-4 px here), which the head turns into output changes of
 * about 1e-4; a wrong roi order, level or batch index would be off by O(1).
 */
export const MATCHED_ROI_OUTPUT_TOLERANCE: Record<RoiOutput, Tolerance> = {
  'roi.cls_score': { atol: 1e-3, rtol: 1e-4 },
  'roi.bbox_pred': { atol: 5e-4, rtol: 1e-4 },
};

interface TrainRun {
  losses: LossDict;
  logVars: Record<string, tf.Scalar>;
  total: tf.Scalar;
  grads: tf.NamedTensorMap;
  trace: DetectorLossTrace;
}

/** The case's gt of image `b` (labels stored as I64). */
function storedSample(c: FixtureCase, b: number, metainfo: Record<string, unknown>): TrainingSample {
  const bboxes = toFloat32(ioTensor(c, `gt.${b}.bboxes`));
  const labels = Int32Array.from(toFloat32(ioTensor(c, `gt.${b}.labels`)));
  return { metainfo, gt_instances: { bboxes, labels }, ignored_instances: { bboxes: new Float32Array(0), labels: new Int32Array(0) } };
}

/** model.loss -> parse_losses -> d total / d every trainable parameter; every returned tensor kept. */
function runTraining(c: FixtureCase, model: TwoStageDetector): TrainRun {
  const metas = metasOf(c);
  const input = nchwToNhwc(ioTensor(c, 'input'));
  const samples = metas.map((meta, b) => storedSample(c, b, meta as unknown as Record<string, unknown>));
  const trace: DetectorLossTrace = {};
  let losses: LossDict = {};
  let logVars: Record<string, tf.Scalar> = {};
  const variables = model.trainableVariables();
  const { value, grads } = tf.variableGrads(() => {
    losses = model.loss(input, samples, { trace });
    for (const t of Object.values(losses).flat()) tf.keep(t);
    const parsed = parseLosses(losses);
    logVars = parsed.logVars;
    for (const t of Object.values(logVars)) tf.keep(t);
    return parsed.total;
  }, variables);
  input.dispose();
  return { losses, logVars, total: value, grads, trace };
}

function compareLosses(c: FixtureCase, run: TrainRun): Comparison[] {
  const tolerance = { atol: Number(c.json.tolerance['loss_atol']), rtol: Number(c.json.tolerance['loss_rtol']) };
  const keys = [...c.io.keys()].filter((k) => k.startsWith('loss.'));
  return keys.map((key) => {
    const name = key.slice('loss.'.length);
    const ours = ourLossTerm(run, name);
    if (!ours) return missing(key, 'our loss dict has no such term', tolerance);
    return compareArrays(key, ours.dataSync(), toFloat32(ioTensor(c, key)), tolerance);
  });
}

/** `total`, a parsed term (`loss_rpn_cls`: the sum over levels), or one level (`loss_rpn_cls.3`). */
function ourLossTerm(run: TrainRun, name: string): tf.Tensor | undefined {
  if (name === 'total') return run.total;
  const level = /^(.+)\.(\d+)$/.exec(name);
  if (!level) return run.logVars[name];
  const term = run.losses[level[1]!];
  return Array.isArray(term) ? term[Number(level[2])] : undefined;
}

/** A SamplingResult's positives or negatives as an instance list whose labels encode what must agree. */
function sampledInstances(s: SamplingResult, which: 'pos' | 'neg'): InstanceResults {
  if (which === 'neg') return { bboxes: s.negPriors, scores: new Float32Array(s.negInds.length), labels: new Int32Array(s.negInds.length) };
  const labels = Int32Array.from(s.posGtLabels, (label, k) => sampleCode(label, s.posAssignedGtInds[k]!, s.posIsGt[k]!));
  return { bboxes: s.posPriors, scores: new Float32Array(labels.length), labels };
}

/** (label, assigned gt, is_gt) as one integer, so a set match requires all three to agree. */
function sampleCode(label: number, gtIndex: number, isGt: number): number {
  return (label * 4096 + gtIndex) * 2 + isGt;
}

function storedSampling(c: FixtureCase, b: number, which: 'pos' | 'neg'): InstanceResults {
  const bboxes = toFloat32(ioTensor(c, `sampling.${b}.${which}_priors`));
  const count = bboxes.length / 4;
  if (which === 'neg') return { bboxes, scores: new Float32Array(count), labels: new Int32Array(count) };
  const labels = toFloat32(ioTensor(c, `sampling.${b}.pos_gt_labels`));
  const gtInds = toFloat32(ioTensor(c, `sampling.${b}.pos_assigned_gt_inds`));
  const isGt = toFloat32(ioTensor(c, `sampling.${b}.pos_is_gt`));
  return { bboxes, scores: new Float32Array(count), labels: Int32Array.from(labels, (l, k) => sampleCode(l, gtInds[k]!, isGt[k]!)) };
}

function compareSampling(c: FixtureCase, sampling: readonly SamplingResult[]): Comparison[] {
  return sampling.flatMap((s, b) =>
    (['pos', 'neg'] as const).map((which) => {
      const [boxes] = compareInstanceSets(`sampling.${b}.${which}`, sampledInstances(s, which), storedSampling(c, b, which), which === 'pos');
      return { ...boxes, name: `sampling.${b}.${which}_priors (as a set${which === 'pos' ? '; label, assigned gt, is_gt equal' : ''})` };
    }),
  );
}

/** For each stored roi, the index of a distinct roi of ours with the same image within SET_BOX_TOLERANCE px, or -1. */
export function matchRois(ours: Float32Array, stored: Float32Array): Int32Array {
  const taken = new Uint8Array(ours.length / 5);
  return Int32Array.from({ length: stored.length / 5 }, (_, i) => {
    let [best, bestDev] = [-1, Infinity];
    for (let j = 0; j < taken.length; j++) {
      if (taken[j] || ours[5 * j] !== stored[5 * i]) continue;
      let dev = 0;
      for (let k = 1; k < 5 && dev <= SET_BOX_TOLERANCE; k++) dev = Math.max(dev, Math.abs(ours[5 * j + k]! - stored[5 * i + k]!));
      if (dev <= SET_BOX_TOLERANCE && dev < bestDev) [best, bestDev] = [j, dev];
    }
    if (best >= 0) taken[best] = 1;
    return best;
  });
}

/** The box head (train mode) on the stored rois, from our features. */
function compareHeadOnStoredRois(c: FixtureCase, model: TwoStageDetector): Comparison[] {
  const stored = ioTensor(c, 'roi.rois');
  const feats = model.extractFeat(nchwToNhwc(ioTensor(c, 'input')));
  const { clsScore, bboxPred } = model.roiHead!.bboxForward(feats, tf.tensor2d(toFloat32(stored), stored.shape as [number, number]));
  return (['roi.cls_score', 'roi.bbox_pred'] as const).map((key) => {
    const ours = key === 'roi.cls_score' ? clsScore : bboxPred;
    if (!ours) return missing(key, 'the box head has no such branch', ROI_OUTPUT_TOLERANCE[key]);
    return compareArrays(`${key} (given stored rois)`, ours.dataSync(), toFloat32(ioTensor(c, key)), ROI_OUTPUT_TOLERANCE[key]);
  });
}

/** Our rois as a set against the stored ones, then the head's rows of matched rois. */
function compareRoiOutputs(c: FixtureCase, trace: DetectorLossTrace): Comparison[] {
  const roi = trace.roi;
  const storedRois = toFloat32(ioTensor(c, 'roi.rois'));
  if (!roi?.rois || !roi.clsScore || !roi.bboxPred) return [missing('roi.rois', 'the RoI head recorded no rois or outputs')];
  const match = matchRois(roi.rois, storedRois);
  const unmatched = match.filter((j) => j < 0).length;
  const count = roi.rois.length / 5;
  const problem = count !== storedRois.length / 5 ? `${count} rois, expected ${storedRois.length / 5}` : unmatched ? `${unmatched} stored rois have no match within ${SET_BOX_TOLERANCE} px` : undefined;
  const matchedRois = problem ? new Float32Array(0) : rowsOf(roi.rois, match, 5);
  const roisEntry = problem ? missing('roi.rois (as a set)', problem) : compareArrays('roi.rois (as a set)', matchedRois, storedRois, { atol: SET_BOX_TOLERANCE, rtol: 0 });
  if (problem) return [roisEntry];
  const compareRows = (key: RoiOutput, values: Float32Array) => {
    const stored = ioTensor(c, key);
    return compareArrays(`${key} (rows of our matched rois)`, rowsOf(values, match, stored.shape[1]!), toFloat32(stored), MATCHED_ROI_OUTPUT_TOLERANCE[key]);
  };
  return [roisEntry, compareRows('roi.cls_score', roi.clsScore), compareRows('roi.bbox_pred', roi.bboxPred)];
}

/** Rows `match[i]` of a [n, width] array, in the stored order. */
function rowsOf(values: Float32Array, match: Int32Array, width: number): Float32Array {
  const out = new Float32Array(match.length * width);
  match.forEach((j, i) => out.set(values.subarray(j * width, (j + 1) * width), i * width));
  return out;
}

function compareGrads(c: FixtureCase, model: TwoStageDetector, grads: tf.NamedTensorMap): Comparison[] {
  const { tolerance } = c.json;
  const params = new Map(model.namedParameters());
  return [...c.io.keys()]
    .filter((k) => k.startsWith('grad.'))
    .map((key) => {
      const name = key.slice('grad.'.length);
      const tol = { atol: tolerance.grad_atol_per_param?.[name] ?? tolerance.grad_atol ?? 0, rtol: tolerance.grad_rtol ?? 0 };
      const param = params.get(name);
      if (!param) return missing(key, 'the model has no such parameter', tol);
      const grad = param.requiresGrad ? grads[param.variable.name] : undefined;
      if (!grad) return missing(key, param.requiresGrad ? 'no gradient reached this parameter' : 'ours is frozen, the reference trains it', tol);
      const torch = tfjsToTorch(param.layout, { shape: grad.shape, data: grad.dataSync() as Float32Array });
      return compareArrays(key, torch.data, toFloat32(ioTensor(c, key)), tol);
    });
}

/** Ours freezes exactly the case's frozen_params. */
function compareFrozen(c: FixtureCase, model: TwoStageDetector): Comparison {
  const ours = model.namedParameters().filter(([, p]) => !p.requiresGrad).map(([name]) => name).sort();
  const theirs = [...(c.json.frozen_params ?? [])].sort();
  const extra = ours.filter((n) => !theirs.includes(n));
  const absent = theirs.filter((n) => !ours.includes(n));
  const problem = extra.length || absent.length ? `frozen here only: [${extra.join(', ')}]; frozen in the reference only: [${absent.join(', ')}]` : undefined;
  return { name: `frozen parameters (${theirs.length})`, ok: !problem, maxAbs: 0, maxRel: 0, tolerance: { atol: 0, rtol: 0 }, ...(problem ? { problem } : {}) };
}

function compareTrainCase(c: FixtureCase, model: TwoStageDetector): Comparison[] {
  const run = runTraining(c, model);
  try {
    const proposals = run.trace.proposals ?? [];
    return [
      ...compareLosses(c, run),
      ...proposals.flatMap((p, b) => compareInstanceSets(`proposals.${b}`, p, storedInstances(c, `proposals.${b}`), false)),
      ...compareSampling(c, run.trace.roi?.sampling ?? []),
      ...compareRoiOutputs(c, run.trace),
      ...compareHeadOnStoredRois(c, model),
      ...compareGrads(c, model, run.grads),
      compareFrozen(c, model),
    ];
  } finally {
    tf.dispose([...Object.values(run.losses).flat(), ...Object.values(run.logVars), run.total, ...Object.values(run.grads)]);
  }
}

export const detectorTrainCaseRunner: CaseRunner = {
  kind: 'detector-train',
  matches: (c) => isDetectorCase(c) && c.json.mode === 'train' && c.io.has('loss.total'),
  run: (c) => {
    registerModels();
    const model = buildDetector(c);
    try {
      return hostScoped(() => compareTrainCase(c, model));
    } finally {
      model.dispose();
    }
  },
};

registerCaseRunner(detectorTrainCaseRunner);
