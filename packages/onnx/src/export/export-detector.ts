/**
 * Exports a two-stage detector (FasterRCNN) as one ONNX model with its pre- and
 * post-processing. Inputs and outputs (one image per run):
 *
 *   image         float32 [1, 3, H, W]  pixels as the test pipeline leaves them (channel order as
 *                                       loaded, 0-255) when preprocessing is inside; otherwise the
 *                                       normalised tensor. H x W is the export's fixed size, or any
 *                                       size with --dynamic (padded inside to pad_size_divisor).
 *   img_shape     float32 [2]           (h, w) of the image within `image`: boxes are clipped to it,
 *                                       and with preprocessing inside, the pixels outside it become
 *                                       pad_value after normalisation, as mmdet pads
 *   scale_factor  float32 [2]           (w_scale, h_scale) of the resize; boxes are divided by it
 *   -> bboxes [K, 4] (x1, y1, x2, y2 in original pixels), scores [K], labels [K] int64.
 *
 * With `debugOutputs` the model also returns the intermediates a fixture records
 * (feat.backbone.i, feat.neck.i, rpn.cls_score.l, rpn.bbox_pred.l, proposals.bboxes/.scores).
 */
import { TwoStageDetector } from '@tsdet/models';
import { int } from '../graph/attributes.js';
import { GraphBuilder, serializeModel, type Dim, type Value } from '../graph/graph-builder.js';
import { bboxForward, detectorTaps } from './detector.js';
import type { ExportedModel } from './export-module.js';
import { dimOf } from './fpn.js';
import { ExportContext, OnnxExportError } from './registry.js';
import './exporters.js';

/** mmdet's DetDataPreprocessor settings, applied inside the graph when given. */
export interface PreprocessSpec {
  mean: number[] | null;
  std: number[] | null;
  bgr_to_rgb: boolean;
  rgb_to_bgr: boolean;
  pad_value: number;
  pad_size_divisor: number;
}

/** What a runtime needs to know to feed an exported detector (the `.json` beside the model). */
export interface DetectorModelInfo {
  format: 'tsdet-onnx-detector';
  version: 1;
  /** Fixed [H, W] of `image`, or null when dynamic. */
  input_size: [number, number] | null;
  /** Normalisation and channel swap inside the graph (image is raw pixels), or null. */
  preprocess: PreprocessSpec | null;
  pad_size_divisor: number;
  pad_value: number;
  num_classes: number;
  /** Set by tools/export-onnx.ts: class names and the test pipeline's resize, for viewers. */
  class_names?: string[];
  /** Where the class names came from (checkpoint meta, config, defaults). */
  class_names_source?: string;
  resize?: { scale: [number, number]; keep_ratio: boolean } | null;
}

export interface DetectorExportOptions {
  /** Fixed [H, W] of the padded input (a multiple of pad_size_divisor); required unless dynamic. */
  inputSize?: readonly [number, number];
  dynamic?: boolean;
  /** Normalise and swap channels inside the graph (needs the settings); null: the input is preprocessed. */
  preprocess?: PreprocessSpec | null;
  debugOutputs?: boolean;
}

export interface ExportedDetector extends ExportedModel {
  info: DetectorModelInfo;
}

/** The data preprocessor's settings of a built detector (DetDataPreprocessor's cfg), if it has one. */
export function preprocessSpecOf(detector: TwoStageDetector): PreprocessSpec | null {
  const cfg = (detector.dataPreprocessor as { cfg?: Partial<PreprocessSpec> } | null)?.cfg;
  if (!cfg) return null;
  return {
    mean: cfg.mean ?? null,
    std: cfg.std ?? null,
    bgr_to_rgb: cfg.bgr_to_rgb ?? false,
    rgb_to_bgr: cfg.rgb_to_bgr ?? false,
    pad_value: cfg.pad_value ?? 0,
    pad_size_divisor: cfg.pad_size_divisor ?? 1,
  };
}

/** (x[:, swapped] - mean) / std, float32 steps in torch's order. */
function normalise(g: GraphBuilder, x: Value, spec: PreprocessSpec): Value {
  let y = spec.bgr_to_rgb || spec.rgb_to_bgr ? g.op1('Gather', [x, g.i64([2, 1, 0])], { axis: int(1) }) : x;
  const perChannel = (values: number[]) => g.f32(values.length === 1 ? values : values, [1, values.length, 1, 1]);
  if (spec.mean && spec.std) y = g.op1('Div', [g.op1('Sub', [y, perChannel(spec.mean)]), perChannel(spec.std)]);
  return y;
}

/** Pixels outside img_shape become pad_value (mmdet pads after normalising). */
function maskOutsideImage(g: GraphBuilder, x: Value, imgShape: Value, padValue: number): Value {
  const positions = (axis: number) => g.op1('Cast', [g.op1('Range', [g.i64(0), g.op1('Squeeze', [dimOf(g, x, axis)]), g.i64(1)])], { to: int(1) });
  const limit = (k: number) => g.op1('Gather', [imgShape, g.i64(k)], { axis: int(0) });
  const rowsInside = g.op1('Unsqueeze', [g.op1('Less', [positions(2), limit(0)]), g.i64([1])]);
  const colsInside = g.op1('Unsqueeze', [g.op1('Less', [positions(3), limit(1)]), g.i64([0])]);
  return g.op1('Where', [g.op1('And', [rowsInside, colsInside]), x, g.f32(padValue)]);
}

/** Bottom/right padding with pad_value to the next multiple of the divisor (dynamic inputs). */
function padToDivisor(g: GraphBuilder, x: Value, divisor: number, padValue: number): Value {
  if (divisor <= 1) return x;
  const extra = (axis: number) => {
    const size = dimOf(g, x, axis);
    const d = g.i64([divisor]);
    return g.op1('Sub', [g.op1('Mul', [g.op1('Div', [g.op1('Add', [size, g.i64([divisor - 1])]), d]), d]), size]);
  };
  const pads = g.op1('Concat', [g.i64([0, 0, 0, 0, 0, 0]), extra(2), extra(3)], { axis: int(0) });
  return g.op1('Pad', [x, pads, g.f32(padValue)]);
}

function checkOptions(options: DetectorExportOptions, divisor: number): void {
  if (options.dynamic) return;
  const size = options.inputSize;
  if (!size) throw new OnnxExportError('ONNX export: a detector needs --input-shape (the fixed padded input size) or --dynamic');
  if (size.some((d) => d % divisor !== 0)) throw new OnnxExportError(`ONNX export: input size ${size.join('x')} must be a multiple of pad_size_divisor ${divisor} (mmdet pads every input to it)`);
}

/** The whole detector as an ONNX model, with its info for runtimes. */
export function exportDetector(detector: TwoStageDetector, options: DetectorExportOptions = {}): ExportedDetector {
  const preprocess = options.preprocess === undefined ? preprocessSpecOf(detector) : options.preprocess;
  const divisor = preprocess?.pad_size_divisor ?? preprocessSpecOf(detector)?.pad_size_divisor ?? 1;
  const padValue = preprocess?.pad_value ?? preprocessSpecOf(detector)?.pad_value ?? 0;
  checkOptions(options, divisor);
  const graph = new GraphBuilder();
  const ctx = new ExportContext(graph, { dynamic: options.dynamic ?? false });
  const dims: Dim[] = options.dynamic ? [1, 3, 'height', 'width'] : [1, 3, ...options.inputSize!];
  const image = graph.input('image', 'float32', dims);
  const imgShape = graph.input('img_shape', 'float32', [2]);
  const scaleFactor = graph.input('scale_factor', 'float32', [2]);
  const prepared = graph.withScope('data_preprocessor', () => {
    // Raw pixels outside img_shape are whatever the caller left there; mmdet's batch has pad_value.
    // A preprocessed input is taken as it is, as mmdet's predict takes its batch.
    const masked = preprocess ? maskOutsideImage(graph, normalise(graph, image, preprocess), imgShape, padValue) : image;
    return options.dynamic ? padToDivisor(graph, masked, divisor, padValue) : masked;
  });
  const [bboxes, scores, labels] = ctx.emit(detector, [prepared, imgShape, scaleFactor], '');
  graph.output(bboxes!, 'bboxes', 'float32', ['num_detections', 4]);
  graph.output(scores!, 'scores', 'float32', ['num_detections']);
  graph.output(labels!, 'labels', 'int64', ['num_detections']);
  const outputNames = ['bboxes', 'scores', 'labels'];
  if (options.debugOutputs) outputNames.push(...declareTaps(graph, ctx));
  const info: DetectorModelInfo = {
    format: 'tsdet-onnx-detector',
    version: 1,
    input_size: options.dynamic ? null : [options.inputSize![0], options.inputSize![1]],
    preprocess,
    pad_size_divisor: divisor,
    pad_value: padValue,
    num_classes: detector.roiHead?.bboxHead.numClasses ?? 0,
  };
  const bytes = serializeModel(graph.toGraph(detector.typeName), { 'tsdet.kind': 'detector', 'tsdet.info': JSON.stringify(info) });
  return { bytes, inputNames: ['image', 'img_shape', 'scale_factor'], outputNames, info };
}

function declareTaps(graph: GraphBuilder, ctx: ExportContext): string[] {
  const taps = detectorTaps(ctx)!;
  const named: [string, Value][] = [
    ...taps.backbone.map((v, i): [string, Value] => [`feat.backbone.${i}`, v]),
    ...taps.neck.map((v, i): [string, Value] => [`feat.neck.${i}`, v]),
    ...taps.rpnCls.map((v, i): [string, Value] => [`rpn.cls_score.${i}`, v]),
    ...taps.rpnReg.map((v, i): [string, Value] => [`rpn.bbox_pred.${i}`, v]),
    ['proposals.bboxes', taps.proposals.boxes],
    ['proposals.scores', taps.proposals.scores],
  ];
  for (const [name, value] of named) graph.output(value, name, 'float32');
  return named.map(([name]) => name);
}

/**
 * The RoI box head alone on given rois (mmdet's _bbox_forward), for checking it in isolation:
 * inputs feat.neck.0 .. (the extractor's levels) and rois [R, 5] -> roi.cls_score, roi.bbox_pred.
 */
export function exportRoiBoxHead(detector: TwoStageDetector, neckChannels: number): ExportedModel {
  const roiHead = detector.roiHead;
  if (!roiHead) throw new OnnxExportError('ONNX export: the detector has no roi_head');
  const graph = new GraphBuilder();
  const ctx = new ExportContext(graph, { dynamic: true });
  const levels = roiHead.bboxRoiExtractor.numInputs;
  const inputNames = Array.from({ length: levels }, (_, i) => `feat.neck.${i}`);
  const feats = inputNames.map((name, i) => graph.input(name, 'float32', [1, neckChannels, `h${i}`, `w${i}`]));
  const rois = graph.input('rois', 'float32', ['num_rois', 5]);
  const { clsScore, bboxPred } = bboxForward(ctx, roiHead, feats, rois, 'roi_head');
  graph.output(clsScore, 'roi.cls_score', 'float32');
  graph.output(bboxPred, 'roi.bbox_pred', 'float32');
  return { bytes: serializeModel(graph.toGraph('roi_box_head')), inputNames: [...inputNames, 'rois'], outputNames: ['roi.cls_score', 'roi.bbox_pred'] };
}
