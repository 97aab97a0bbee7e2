/**
 * Fixture cases (../shared/fixtures) through the ONNX path: the case's module is built and
 * loaded as tsdet's own parity runner does, exported to ONNX, run on onnxruntime-node, and its
 * outputs compared with the stored PyTorch tensors at the case's tolerances.
 *
 *   module cases (backbones, necks)   output.i; train-mode cases run their forward in train mode
 *                                     (batch-statistics BN) and compare the outputs only: ORT has
 *                                     no gradients, so grad.* and buffer_after.* stay with tfjs
 *   faster_rcnn_r50_fpn_infer         feat.backbone/neck, rpn.cls_score/bbox_pred, proposals and
 *                                     det as sets, and the box head on the stored rois
 *   faster_rcnn_r50_fpn_train_losses  the train-time proposals (train_cfg.rpn_proposal) as a set;
 *                                     losses, sampling and gradients are training, outside ONNX
 *   roi_align_nms                     the graph pieces the detector export uses: SingleRoIExtractor
 *                                     (level mapping + ONNX RoiAlign), NonMaxSuppression as mmcv's
 *                                     nms / batched_nms (kept indices equal), multiclass_nms
 */
import { loadStateDict, MODELS, toFloat32, type ComponentConfig, type Module, type RawTensor } from '@tsdet/core';
import {
  buildCaseModule,
  compareArrays,
  compareInstanceSets,
  inputKeys,
  ioTensor,
  missing,
  outputKeys,
  readFixtureCase,
  TwoStageDetector,
  type CaseReport,
  type Comparison,
  type FixtureCase,
  type InstanceResults,
  type Tolerance,
} from '@tsdet/models';
import { int } from '../graph/attributes.js';
import { GraphBuilder, serializeModel } from '../graph/graph-builder.js';
import { batchedNms, multiclassNms, rows } from '../export/box-ops.js';
import { exportDetector, exportRoiBoxHead } from '../export/export-detector.js';
import { exportModule } from '../export/export-module.js';
import { createOrtSession, ort, type OrtSessionOptions } from '../runtime/ort-session.js';

type Outputs = Record<string, ort.Tensor>;

function feed(t: RawTensor): ort.Tensor {
  return new ort.Tensor('float32', toFloat32(t), t.shape);
}

/** ORT session settings, plus whether models are exported with symbolic input sizes. */
export interface OnnxCaseOptions extends OrtSessionOptions {
  /** Export with dynamic input sizes (anchors computed in the graph at run time); default false. */
  dynamic?: boolean;
}

async function runModel(bytes: Uint8Array, feeds: Record<string, ort.Tensor>, options: OrtSessionOptions): Promise<Outputs> {
  const session = await createOrtSession(bytes, options);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function compareTensor(name: string, ours: ort.Tensor | undefined, stored: RawTensor | undefined, tolerance: Tolerance): Comparison {
  if (!stored) return missing(name, `the case has no tensor '${name}'`, tolerance);
  if (!ours) return missing(name, 'the ONNX model has no such output', tolerance);
  if (ours.dims.join() !== stored.shape.join()) return missing(name, `shape [${ours.dims.join(', ')}], expected [${stored.shape.join(', ')}]`, tolerance);
  return compareArrays(name, ours.data as Float32Array, toFloat32(stored), tolerance);
}

async function runModuleCase(c: FixtureCase, options: OnnxCaseOptions): Promise<Comparison[]> {
  const model = buildCaseModule(c);
  try {
    const keys = inputKeys(c);
    const exported = exportModule(model, { inputShapes: keys.map((k) => ioTensor(c, k).shape), inputNames: keys, dynamic: options.dynamic, path: c.json.component['type'] as string });
    const outputs = await runModel(exported.bytes, Object.fromEntries(keys.map((k) => [k, feed(ioTensor(c, k))])), options);
    const { tolerance } = c.json;
    return outputKeys(c).map((key, i) => compareTensor(key, outputs[key], c.io.get(key), { atol: tolerance.per_output_atol?.[i] ?? tolerance.atol, rtol: tolerance.rtol }));
  } finally {
    model.dispose();
  }
}

/** The case's detector, weights loaded strictly, eval mode; `rpnCfg` replaces test_cfg.rpn when given. */
function buildDetector(c: FixtureCase, rpnCfg?: unknown): TwoStageDetector {
  const { data_preprocessor: _notApplied, ...component } = c.json.component;
  const testCfg = component['test_cfg'] as Record<string, unknown> | undefined;
  const config = rpnCfg ? { ...component, test_cfg: { ...testCfg, rpn: rpnCfg } } : component;
  const model = MODELS.build<unknown>(config as ComponentConfig, { path: `${c.name}/case.json:component` });
  if (!(model instanceof TwoStageDetector)) throw new Error(`${c.dir}: component built a ${String(model)}, not a two-stage detector`);
  loadStateDict(model, c.weights!, { strict: true, source: `${c.dir}/weights.safetensors` });
  return model.eval();
}

function toleranceOf(c: FixtureCase, group: string): Tolerance {
  const atol = c.json.tolerance.atol as unknown;
  if (typeof atol === 'number') return { atol, rtol: c.json.tolerance.rtol };
  const entry = Object.entries(atol as Record<string, number>).find(([key]) => key.split(' (')[0] === group);
  if (!entry) throw new Error(`${c.dir}/case.json: tolerance.atol has no entry for '${group}'`);
  return { atol: entry[1], rtol: c.json.tolerance.rtol };
}

function storedInstances(c: FixtureCase, prefix: string, withLabels: boolean): InstanceResults {
  const scores = toFloat32(ioTensor(c, `${prefix}.scores`));
  const labels = withLabels ? Int32Array.from(toFloat32(ioTensor(c, `${prefix}.labels`))) : new Int32Array(scores.length);
  return { bboxes: toFloat32(ioTensor(c, `${prefix}.bboxes`)), scores, labels };
}

function oursInstances(outputs: Outputs, boxes: string, scores: string, labels?: string): InstanceResults {
  const s = outputs[scores]!.data as Float32Array;
  return { bboxes: outputs[boxes]!.data as Float32Array, scores: s, labels: labels ? Int32Array.from(outputs[labels]!.data as BigInt64Array, Number) : new Int32Array(s.length) };
}

/** The whole detector with its intermediates, one image of the case. */
async function runDetector(c: FixtureCase, detector: TwoStageDetector, options: OnnxCaseOptions): Promise<Outputs> {
  const input = ioTensor(c, 'input');
  const metas = c.json['data_samples_metainfo'] as { img_shape: [number, number]; scale_factor?: [number, number] }[] | undefined;
  if (!metas || metas.length !== 1) throw new Error(`${c.dir}/case.json: the ONNX runner takes one image (data_samples_metainfo of length 1)`);
  const exported = exportDetector(detector, { inputSize: [input.shape[2]!, input.shape[3]!], dynamic: options.dynamic, preprocess: null, debugOutputs: true });
  const [h, w] = metas[0]!.img_shape;
  const scale = metas[0]!.scale_factor ?? [1, 1];
  return runModel(exported.bytes, { image: feed(input), img_shape: new ort.Tensor('float32', Float32Array.of(h, w), [2]), scale_factor: new ort.Tensor('float32', Float32Array.of(scale[0], scale[1]), [2]) }, options);
}

async function runDetectorInferCase(c: FixtureCase, options: OnnxCaseOptions): Promise<Comparison[]> {
  const detector = buildDetector(c);
  try {
    const out = await runDetector(c, detector, options);
    const levels = (prefix: string) => [...c.io.keys()].filter((k) => new RegExp(`^${prefix.replace('.', '\\.')}\\.\\d+$`).test(k));
    const results: Comparison[] = [];
    for (const group of ['feat.backbone', 'feat.neck', 'rpn.cls_score', 'rpn.bbox_pred']) {
      for (const key of levels(group)) results.push(compareTensor(key, out[key], c.io.get(key), toleranceOf(c, group)));
    }
    results.push(...compareInstanceSets('proposals.0', oursInstances(out, 'proposals.bboxes', 'proposals.scores'), storedInstances(c, 'proposals.0', false), false));
    results.push(...(await compareRoiHead(c, detector, options)));
    results.push(...compareInstanceSets('det.0', oursInstances(out, 'bboxes', 'scores', 'labels'), storedInstances(c, 'det.0', true), true));
    return results;
  } finally {
    detector.dispose();
  }
}

/** The box head alone on the stored rois and neck features. */
async function compareRoiHead(c: FixtureCase, detector: TwoStageDetector, options: OnnxCaseOptions): Promise<Comparison[]> {
  const channels = ioTensor(c, 'feat.neck.0').shape[1]!;
  const exported = exportRoiBoxHead(detector, channels);
  const feeds = Object.fromEntries(exported.inputNames.map((name) => [name, feed(ioTensor(c, name === 'rois' ? 'roi.rois' : name))]));
  const out = await runModel(exported.bytes, feeds, options);
  return ['roi.cls_score', 'roi.bbox_pred'].map((key) => compareTensor(key, out[key], c.io.get(key), toleranceOf(c, key)));
}

/** Train-time proposals: the RPN with train_cfg.rpn_proposal, compared as a set. */
async function runDetectorTrainCase(c: FixtureCase, options: OnnxCaseOptions): Promise<Comparison[]> {
  const trainCfg = c.json.component['train_cfg'] as Record<string, unknown> | undefined;
  if (!trainCfg?.['rpn_proposal']) throw new Error(`${c.dir}/case.json: no train_cfg.rpn_proposal`);
  const detector = buildDetector(c, trainCfg['rpn_proposal']);
  try {
    const out = await runDetector(c, detector, options);
    return compareInstanceSets('proposals.0', oursInstances(out, 'proposals.bboxes', 'proposals.scores'), storedInstances(c, 'proposals.0', false), false);
  } finally {
    detector.dispose();
  }
}

// ---------------------------------------------------------------- roi_align_nms

const EXACT: Tolerance = { atol: 0, rtol: 0 };

async function compareRoiAlign(c: FixtureCase, options: OnnxCaseOptions): Promise<Comparison[]> {
  const extractor = MODELS.build<Module>(c.json.component['bbox_roi_extractor'] as ComponentConfig, { path: `${c.name}:component.bbox_roi_extractor` });
  const names = [...c.io.keys()].filter((k) => /^feats\.\d+$/.test(k)).sort();
  const exported = exportModule(extractor, { inputShapes: [...names, 'rois'].map((k) => ioTensor(c, k).shape), inputNames: [...names, 'rois'], dynamic: true, path: 'bbox_roi_extractor' });
  const out = await runModel(exported.bytes, Object.fromEntries([...names, 'rois'].map((k) => [k, feed(ioTensor(c, k))])), options);
  return [compareTensor('roi_feats', out['output.0'], c.io.get('roi_feats'), { atol: c.json.tolerance.atol, rtol: c.json.tolerance.rtol })];
}

/** mmcv.ops.nms (one group) or batched_nms (labels as groups): keep equal, dets within 1e-6. */
async function compareNms(c: FixtureCase, kind: 'nms' | 'batched_nms', iou: number, options: OnnxCaseOptions): Promise<Comparison[]> {
  const g = new GraphBuilder();
  const boxes = g.input('boxes', 'float32', ['n', 4]);
  const scores = g.input('scores', 'float32', ['n']);
  const labels = g.input('labels', 'float32', ['n']);
  const keep = batchedNms(g, boxes, scores, labels, { type: 'nms', iou_threshold: iou, class_agnostic: kind === 'nms' }, { numGroups: 3 });
  g.output(keep, 'keep', 'int64');
  g.output(rows(g, boxes, keep), 'kept_boxes', 'float32');
  g.output(rows(g, scores, keep), 'kept_scores', 'float32');
  const labelValues = Float32Array.from(ioTensor(c, 'nms.labels').data as BigInt64Array, Number);
  const out = await runModel(serializeModel(g.toGraph(kind)), { boxes: feed(ioTensor(c, 'nms.boxes')), scores: feed(ioTensor(c, 'nms.scores')), labels: new ort.Tensor('float32', labelValues, [labelValues.length]) }, options);
  const prefix = `${kind}.iou${iou}`;
  const keepOurs = Float64Array.from(out['keep']!.data as BigInt64Array, Number);
  const count = keepOurs.length;
  const dets = new Float32Array(count * 5);
  for (let k = 0; k < count; k++) {
    dets.set((out['kept_boxes']!.data as Float32Array).subarray(4 * k, 4 * k + 4), 5 * k);
    dets[5 * k + 4] = (out['kept_scores']!.data as Float32Array)[k]!;
  }
  return [compareArrays(`${prefix}.keep`, keepOurs, toFloat32(ioTensor(c, `${prefix}.keep`)), EXACT), compareArrays(`${prefix}.dets`, dets, toFloat32(ioTensor(c, `${prefix}.dets`)), { atol: 1e-6, rtol: 0 })];
}

async function compareMulticlassNms(c: FixtureCase, options: OnnxCaseOptions): Promise<Comparison[]> {
  const cfg = c.json.component['multiclass_nms'] as { score_thr: number; nms: { iou_threshold: number }; max_num: number };
  const g = new GraphBuilder();
  const boxes = g.input('bboxes', 'float32', ['n', 'c4']);
  const scores = g.input('scores', 'float32', ['n', 'c1']);
  const numClasses = ioTensor(c, 'multiclass_nms.scores').shape[1]! - 1;
  const dets = multiclassNms(g, boxes, scores, { numClasses, classAgnosticBoxes: false, scoreThr: cfg.score_thr, nms: { type: 'nms', iou_threshold: cfg.nms.iou_threshold }, maxNum: cfg.max_num });
  g.output(g.op1('Concat', [dets.bboxes, g.op1('Unsqueeze', [dets.scores, g.i64([1])])], { axis: int(1) }), 'dets', 'float32');
  g.output(dets.labels, 'labels', 'int64');
  const out = await runModel(serializeModel(g.toGraph('multiclass_nms')), { bboxes: feed(ioTensor(c, 'multiclass_nms.bboxes')), scores: feed(ioTensor(c, 'multiclass_nms.scores')) }, options);
  return [
    compareTensor('multiclass_nms.dets', out['dets'], c.io.get('multiclass_nms.dets'), { atol: 1e-6, rtol: 0 }),
    compareArrays('multiclass_nms.labels', Float64Array.from(out['labels']!.data as BigInt64Array, Number), toFloat32(ioTensor(c, 'multiclass_nms.labels')), EXACT),
  ];
}

async function runRoiAlignNmsCase(c: FixtureCase, options: OnnxCaseOptions): Promise<Comparison[]> {
  const results = await compareRoiAlign(c, options);
  for (const kind of ['nms', 'batched_nms'] as const) {
    for (const iou of [0.7, 0.5]) if (c.io.has(`${kind}.iou${iou}.keep`)) results.push(...(await compareNms(c, kind, iou, options)));
  }
  results.push(...(await compareMulticlassNms(c, options)));
  return results;
}

function isRoiAlignNmsCase(c: FixtureCase): boolean {
  return typeof c.json.component['bbox_roi_extractor'] === 'object' && c.io.has('roi_feats');
}

function isDetectorCase(c: FixtureCase): boolean {
  return ['FasterRCNN', 'TwoStageDetector'].includes(String(c.json.component['type']));
}

function isModuleCase(c: FixtureCase): boolean {
  return typeof c.json.component['type'] === 'string' && c.weights !== undefined && (c.io.has('input') || c.io.has('input.0')) && c.io.has('output.0');
}

/** What the ONNX path checks of a case, shown beside its verdict. */
export function onnxScopeOf(c: FixtureCase): string {
  if (isRoiAlignNmsCase(c)) return 'RoiAlign, NonMaxSuppression as nms/batched_nms, multiclass_nms';
  if (isDetectorCase(c)) return c.json.mode === 'train' ? 'train-time proposals (losses and gradients are training)' : 'features, RPN outputs, proposals, box head, detections';
  return c.json.mode === 'train' ? 'train-mode forward outputs (gradients and BN buffers are training)' : 'outputs';
}

/** Runs one case folder through export + ONNX Runtime. */
export async function runCaseOnnx(dir: string, options: OnnxCaseOptions = {}): Promise<CaseReport & { scope: string }> {
  const c = readFixtureCase(dir);
  let comparisons: Comparison[];
  if (isDetectorCase(c) && c.weights) comparisons = c.json.mode === 'train' ? await runDetectorTrainCase(c, options) : await runDetectorInferCase(c, options);
  else if (isModuleCase(c)) comparisons = await runModuleCase(c, options);
  else if (isRoiAlignNmsCase(c)) comparisons = await runRoiAlignNmsCase(c, options);
  else throw new Error(`${dir}: the ONNX path runs backbone, neck, detector and RoIAlign/NMS cases; this one has none of their tensors (anchors and coders are checked inside the detector case)`);
  return { name: c.name, dir, description: c.json.description, comparisons, ok: comparisons.length > 0 && comparisons.every((r) => r.ok), scope: onnxScopeOf(c) };
}
