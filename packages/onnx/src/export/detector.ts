/**
 * Exporters of the detection parts and the whole two-stage detector, test mode as mmdet's
 * TwoStageDetector.predict runs it, all inside the graph:
 *
 *   RPNHead           per level: 3x3 conv + ReLU, objectness, deltas (NCHW, A and 4A channels)
 *   proposals         per level the top nms_pre objectness scores (TopK), their anchors (computed
 *                     in the graph from the level's size; ORT folds them to constants for a fixed
 *                     input), decode clipped to img_shape, the strict min_bbox_size filter,
 *                     batched NMS by level, the first max_per_img
 *   SingleRoIExtractor  mmdet's level mapping (finest_scale), RoiAlign per level (half_pixel for
 *                     aligned=True), results scattered back into the rois' order
 *   ConvFCBBoxHead    shared/cls/reg convs and fcs, fc_cls, fc_reg (the NCHW flatten is torch's)
 *   detections        softmax, class-specific decode clipped to img_shape, division by
 *                     scale_factor, score_thr, per-class batched NMS, the first max_per_img
 *
 * Level mapping computes floor(log2(scale / finest_scale + 1e-6)) as the count of powers of two
 * not above the argument, which equals it exactly (no float log whose rounding could move a roi
 * lying within an ulp of a level boundary).
 */
import {
  Conv2d,
  ConvFCBBoxHead,
  RPNHead,
  SingleRoIExtractor,
  StandardRoIHead,
  TwoStageDetector,
  type ConvModule,
  type Linear,
  type ProposalConfig,
  type RcnnTestConfig,
} from '@tsdet/models';
import { float, int, ints, str } from '../graph/attributes.js';
import type { GraphBuilder, Value } from '../graph/graph-builder.js';
import { batchedNms, columns, decodeDeltas, deltaCoder, multiclassNms, rows, whereTrue, type Detections } from './box-ops.js';
import { dimOf } from './fpn.js';
import { reshape } from './plugins.js';
import { registerOnnxExporter, type ExportContext } from './registry.js';

// ---------------------------------------------------------------- RPN

/** RPNHead forward over every level: [cls_0 .. cls_{L-1}, reg_0 .. reg_{L-1}] (NCHW). */
registerOnnxExporter(RPNHead, (ctx, head, feats, path) => {
  const outputs = feats.map((x, level) =>
    ctx.graph.withScope(`${path}.level${level}`, () => {
      let h: Value;
      if (head.rpnConv instanceof Conv2d) h = ctx.graph.op1('Relu', [ctx.emit1(head.rpnConv, x, `${path}.rpn_conv`)]);
      else h = ctx.graph.op1('Relu', [(head.rpnConv as unknown as { layers: ConvModule[] }).layers.reduce((v, layer, i) => ctx.emit1(layer, v, `${path}.rpn_conv.${i}`), x)]);
      return [ctx.emit1(head.rpnCls, h, `${path}.rpn_cls`), ctx.emit1(head.rpnReg, h, `${path}.rpn_reg`)] as const;
    }),
  );
  return [...outputs.map(([cls]) => cls), ...outputs.map(([, reg]) => reg)];
});

/** [1, A * c, H, W] -> rows in (y, x, a) order: [H * W * A, c] (mmdet's permute(1, 2, 0).reshape(-1, c)). */
function headRows(g: GraphBuilder, x: Value, width: number): Value {
  return g.op1('Reshape', [g.op1('Transpose', [x], { perm: ints([0, 2, 3, 1]) }), g.i64([-1, width])]);
}

/** Level `level`'s anchors over the map `feat`, rows (y * W + x) * A + a, as mmdet's grid_priors. */
function levelAnchors(g: GraphBuilder, head: RPNHead, feat: Value, level: number): Value {
  const generator = head.anchorGenerator;
  const base = generator.baseAnchors[level]!;
  const [strideW, strideH] = generator.strides[level]!;
  const shifts = (axis: number, stride: number) => g.op1('Mul', [g.op1('Cast', [g.op1('Range', [g.i64(0), g.op1('Squeeze', [dimOf(g, feat, axis)]), g.i64(1)])], { to: int(1) }), g.f32(stride)]);
  const shiftX = reshape(g, shifts(3, strideW), [1, -1, 1, 1]);
  const shiftY = reshape(g, shifts(2, strideH), [-1, 1, 1, 1]);
  // base + shift_x on x1, x2 and + shift_y on y1, y2: adding exact zeros elsewhere keeps mmdet's float32 sums.
  const withX = g.op1('Add', [g.f32(base, [1, 1, base.length / 4, 4]), g.op1('Mul', [shiftX, g.f32([1, 0, 1, 0], [1, 1, 1, 4])])]);
  return g.op1('Reshape', [g.op1('Add', [withX, g.op1('Mul', [shiftY, g.f32([0, 1, 0, 1], [1, 1, 1, 4])])]), g.i64([-1, 4])]);
}

/** Objectness per anchor: sigmoid, or the first column of a 2-way softmax. */
function objectness(g: GraphBuilder, head: RPNHead, cls: Value): Value {
  if (head.clsOutChannels === 1) return g.op1('Reshape', [g.op1('Sigmoid', [headRows(g, cls, 1)]), g.i64([-1])]);
  return g.op1('Reshape', [columns(g, g.op1('Softmax', [headRows(g, cls, 2)], { axis: int(1) }), 0, 1), g.i64([-1])]);
}

export interface Proposals {
  /** [R, 4] boxes in the padded input's pixels. */
  boxes: Value;
  /** [R] objectness of each box. */
  scores: Value;
}

/** mmdet's RPNHead._predict_by_feat_single for one image, from the per-level head outputs. */
export function proposalsFromHead(ctx: ExportContext, head: RPNHead, feats: readonly Value[], clsScores: readonly Value[], bboxPreds: readonly Value[], imgShape: Value, cfg: ProposalConfig, path: string): Proposals {
  const g = ctx.graph;
  return g.withScope(`${path}.proposals`, () => {
    const levels = clsScores.map((cls, level) => {
      const scores = objectness(g, head, cls);
      const deltas = headRows(g, bboxPreds[level]!, 4);
      const anchors = levelAnchors(g, head, feats[level]!, level);
      if (cfg.nms_pre <= 0) return { scores, deltas, anchors, count: g.op1('Shape', [scores]) };
      const k = g.op1('Min', [g.op1('Shape', [scores]), g.i64([cfg.nms_pre])]);
      const [topScores, topIndices] = g.op('TopK', [scores, k], { largest: int(1), sorted: int(1) }, 2);
      return { scores: topScores!, deltas: rows(g, deltas, topIndices!), anchors: rows(g, anchors, topIndices!), count: k };
    });
    const cat = (values: Value[], axis = 0) => g.op1('Concat', values, { axis: int(axis) });
    const levelIds = levels.map(({ count }, level) => g.op1('Expand', [g.f32([level]), count]));
    let scores = cat(levels.map((l) => l.scores));
    let ids = cat(levelIds);
    let boxes = decodeDeltas(g, deltaCoder(head.bboxCoder, `${path}.bbox_coder`), cat(levels.map((l) => l.anchors)), cat(levels.map((l) => l.deltas)), imgShape);
    if (cfg.min_bbox_size >= 0) {
      const size = g.op1('Sub', [columns(g, boxes, 2, 4), columns(g, boxes, 0, 2)]);
      const large = g.op1('Greater', [size, g.f32(cfg.min_bbox_size)]);
      const valid = whereTrue(g, g.op1('Reshape', [g.op1('And', [columns(g, large, 0, 1), columns(g, large, 1, 2)]), g.i64([-1])]));
      [boxes, scores, ids] = [rows(g, boxes, valid), rows(g, scores, valid), rows(g, ids, valid)];
    }
    const keep = g.op1('Slice', [batchedNms(g, boxes, scores, ids, cfg.nms, { numGroups: clsScores.length }), g.i64([0]), g.i64([cfg.max_per_img])]);
    return { boxes: rows(g, boxes, keep), scores: rows(g, scores, keep) };
  });
}

// ---------------------------------------------------------------- RoI head

/**
 * mmdet's map_roi_levels: floor(log2(sqrt(w * h) / finest_scale + 1e-6)) clamped to the levels,
 * as the number of thresholds 2, 4, ... 2^(L-1) the argument reaches.
 */
function roiLevels(g: GraphBuilder, boxes: Value, numLevels: number, finestScale: number): Value {
  const size = g.op1('Sub', [columns(g, boxes, 2, 4), columns(g, boxes, 0, 2)]);
  const area = g.op1('Mul', [columns(g, size, 0, 1), columns(g, size, 1, 2)]);
  const ratio = g.op1('Reshape', [g.op1('Add', [g.op1('Div', [g.op1('Sqrt', [area]), g.f32(finestScale)]), g.f32(1e-6)]), g.i64([-1])]);
  const thresholds = g.f32(Array.from({ length: numLevels - 1 }, (_, k) => 2 ** (k + 1)), [1, numLevels - 1]);
  const reached = g.op1('Cast', [g.op1('GreaterOrEqual', [g.op1('Unsqueeze', [ratio, g.i64([1])]), thresholds])], { to: int(7) });
  return g.op1('ReduceSum', [reached, g.i64([1])], { keepdims: int(0) });
}

/**
 * SingleRoIExtractor: inputs [level_0 .. level_{n-1}, rois [R, 5]] -> RoI features [R, C, h, w].
 * Each level pools only its own rois (NonZero + Gather), the pooled rows are scattered back.
 */
registerOnnxExporter(SingleRoIExtractor, (ctx, extractor, inputs) => {
  const g = ctx.graph;
  const feats = inputs.slice(0, -1);
  const rois = inputs[inputs.length - 1]!;
  const boxes = columns(g, rois, 1, 5);
  const batch = g.op1('Cast', [g.op1('Reshape', [columns(g, rois, 0, 1), g.i64([-1])])], { to: int(7) });
  const [outH, outW] = extractor.outputSize;
  const { samplingRatio, aligned } = extractor.roiLayer;
  const roiAlign = (feat: Value, b: Value, idx: Value, level: number) =>
    g.op1('RoiAlign', [feat, b, idx], {
      mode: str('avg'),
      output_height: int(outH),
      output_width: int(outW),
      sampling_ratio: int(samplingRatio),
      spatial_scale: float(1 / extractor.featmapStrides[level]!),
      // mmcv aligned=True shifts by -0.5 pixel (ONNX half_pixel); aligned=False is output_half_pixel.
      coordinate_transformation_mode: str(aligned ? 'half_pixel' : 'output_half_pixel'),
    });
  if (feats.length === 1) return [roiAlign(feats[0]!, boxes, batch, 0)];
  const levels = roiLevels(g, boxes, feats.length, extractor.finestScale);
  const pooled: Value[] = [];
  const picked: Value[] = [];
  feats.forEach((feat, level) => {
    const idx = whereTrue(g, g.op1('Equal', [levels, g.i64(level)]));
    pooled.push(roiAlign(feat, rows(g, boxes, idx), rows(g, batch, idx), level));
    picked.push(idx);
  });
  const all = g.op1('Concat', pooled, { axis: int(0) });
  const shape = g.op1('Concat', [g.op1('Shape', [batch]), g.op1('Slice', [g.op1('Shape', [all]), g.i64([1]), g.i64([4])])], { axis: int(0) });
  const zeros = g.op1('ConstantOfShape', [shape]);
  return [g.op1('ScatterND', [zeros, g.op1('Unsqueeze', [g.op1('Concat', picked, { axis: int(0) }), g.i64([1])]), all])];
});

/** [R, C, h, w] -> [R, C * h * w] (torch's order, NCHW already) or the spatial mean. */
function flattenRoi(g: GraphBuilder, x: Value, avgPool: boolean): Value {
  if (avgPool) return g.op1('ReduceMean', [x], { axes: ints([2, 3]), keepdims: int(0) });
  return g.op1('Flatten', [x], { axis: int(1) });
}

/** One branch (cls or reg): its convs, the flatten when its input is still a map, its fcs with ReLU. */
function runBranch(ctx: ExportContext, head: ConvFCBBoxHead, x: Value, convs: readonly ConvModule[], fcs: readonly Linear[], name: string, path: string, isMap: boolean): Value {
  let h = convs.reduce((v, conv, i) => ctx.emit1(conv, v, `${path}.${name}_convs.${i}`), x);
  if (isMap) h = flattenRoi(ctx.graph, h, head.withAvgPool);
  return fcs.reduce((v, fc, i) => ctx.graph.op1('Relu', [ctx.emit1(fc, v, `${path}.${name}_fcs.${i}`)]), h);
}

/** ConvFCBBoxHead: RoI features [R, C, h, w] -> [cls_score [R, C + 1], bbox_pred [R, 4C]] (those present). */
registerOnnxExporter(ConvFCBBoxHead, (ctx, head, [x], path) => {
  let shared = head.sharedConvs.reduce((v, conv, i) => ctx.emit1(conv, v, `${path}.shared_convs.${i}`), x!);
  const sharedIsMap = head.sharedFcs.length === 0;
  if (!sharedIsMap) {
    shared = head.sharedFcs.reduce((v, fc, i) => ctx.graph.op1('Relu', [ctx.emit1(fc, v, `${path}.shared_fcs.${i}`)]), flattenRoi(ctx.graph, shared, head.withAvgPool));
  }
  const clsFeat = runBranch(ctx, head, shared, head.clsConvs, head.clsFcs, 'cls', path, sharedIsMap);
  const regFeat = runBranch(ctx, head, shared, head.regConvs, head.regFcs, 'reg', path, sharedIsMap);
  const outputs: Value[] = [];
  if (head.fcCls) outputs.push(ctx.emit1(head.fcCls, clsFeat, `${path}.fc_cls`));
  if (head.fcReg) outputs.push(ctx.emit1(head.fcReg, regFeat, `${path}.fc_reg`));
  return outputs;
});

/** The box head's outputs for rois [R, 5]: class logits and deltas (mmdet's _bbox_forward). */
export function bboxForward(ctx: ExportContext, roiHead: StandardRoIHead, feats: readonly Value[], rois: Value, path: string): { clsScore: Value; bboxPred: Value } {
  const head = roiHead.bboxHead;
  if (!head.withCls || !head.withReg) ctx.fail(`${path}.bbox_head`, 'the ONNX export needs both the cls and the reg branch');
  const levels = feats.slice(0, roiHead.bboxRoiExtractor.numInputs);
  const features = ctx.emit(roiHead.bboxRoiExtractor, [...levels, rois], `${path}.bbox_roi_extractor`)[0]!;
  const [clsScore, bboxPred] = ctx.emit(head, [features], `${path}.bbox_head`);
  return { clsScore: clsScore!, bboxPred: bboxPred! };
}

/** mmdet's bbox head _predict_by_feat_single + multiclass_nms for one image. */
export function detectionsFromHead(ctx: ExportContext, roiHead: StandardRoIHead, boxes: Value, clsScore: Value, bboxPred: Value, imgShape: Value, scaleFactor: Value, cfg: RcnnTestConfig, path: string): Detections {
  const g = ctx.graph;
  const head = roiHead.bboxHead;
  return g.withScope(`${path}.detections`, () => {
    const classes = head.numClasses;
    const scores = g.op1('Softmax', [clsScore], { axis: int(1) });
    const perClass = head.regClassAgnostic ? 1 : classes;
    const roiRows = g.op1('Reshape', [g.op1('Expand', [g.op1('Unsqueeze', [boxes, g.i64([1])]), g.i64([1, perClass, 1])]), g.i64([-1, 4])]);
    const decoded = decodeDeltas(g, deltaCoder(head.bboxCoder, `${path}.bbox_head.bbox_coder`), roiRows, g.op1('Reshape', [bboxPred, g.i64([-1, 4])]), imgShape);
    // rescale: x by 1 / w_scale and y by 1 / h_scale (scale_factor is (w_scale, h_scale)).
    const inverse = g.op1('Div', [g.f32(1), scaleFactor]);
    const rescaled = g.op1('Mul', [decoded, g.op1('Unsqueeze', [g.op1('Concat', [inverse, inverse], { axis: int(0) }), g.i64([0])])]);
    return multiclassNms(g, rescaled, scores, { numClasses: classes, classAgnosticBoxes: head.regClassAgnostic, scoreThr: cfg.score_thr, nms: cfg.nms, maxNum: cfg.max_per_img });
  });
}

// ---------------------------------------------------------------- detector

/** Named intermediates an export may expose for step-by-step parity checks. */
export interface DetectorTaps {
  backbone: Value[];
  neck: Value[];
  rpnCls: Value[];
  rpnReg: Value[];
  proposals: Proposals;
}

const taps = new WeakMap<ExportContext, DetectorTaps>();

/** The intermediates recorded while exporting a detector in `ctx`. */
export function detectorTaps(ctx: ExportContext): DetectorTaps | undefined {
  return taps.get(ctx);
}

/**
 * TwoStageDetector: inputs [image (preprocessed, padded NCHW), img_shape [2] (h, w),
 * scale_factor [2] (w, h)] -> [bboxes [K, 4], scores [K], labels [K] int64] in the original
 * image's pixels, one image per run.
 */
registerOnnxExporter(TwoStageDetector, (ctx, det, [image, imgShape, scaleFactor], path) => {
  const rpnHead = det.rpnHead ?? ctx.fail(`${path}.rpn_head`, 'the ONNX export needs an RPN (pre-computed proposals are not an input of the graph)');
  const roiHead = det.roiHead ?? ctx.fail(`${path}.roi_head`, 'the ONNX export needs a roi_head');
  const rpnCfg = det.testCfg?.rpn ?? rpnHead.testCfg ?? ctx.fail(`${path}.test_cfg.rpn`, 'no proposal settings');
  const rcnnCfg = det.testCfg?.rcnn ?? roiHead.testCfg ?? ctx.fail(`${path}.test_cfg.rcnn`, 'no detection settings');
  const backbone = ctx.emit(det.backbone, [image!], 'backbone');
  const neck = det.neck ? ctx.emit(det.neck, backbone, 'neck') : backbone;
  const head = ctx.emit(rpnHead, neck, 'rpn_head');
  const levels = neck.length;
  const [rpnCls, rpnReg] = [head.slice(0, levels), head.slice(levels)];
  const proposals = proposalsFromHead(ctx, rpnHead, neck, rpnCls, rpnReg, imgShape!, rpnCfg, 'rpn_head');
  const rois = ctx.graph.withScope('roi_head', () => ctx.graph.op1('Concat', [ctx.graph.op1('ConstantOfShape', [ctx.graph.op1('Concat', [dimOf(ctx.graph, proposals.boxes, 0), ctx.graph.i64([1])], { axis: int(0) })]), proposals.boxes], { axis: int(1) }));
  const { clsScore, bboxPred } = bboxForward(ctx, roiHead, neck, rois, 'roi_head');
  const dets = detectionsFromHead(ctx, roiHead, proposals.boxes, clsScore, bboxPred, imgShape!, scaleFactor!, rcnnCfg, 'roi_head');
  taps.set(ctx, { backbone, neck, rpnCls, rpnReg, proposals });
  return [dets.bboxes, dets.scores, dets.labels];
});
