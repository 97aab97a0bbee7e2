/**
 * Parity runners for the task-module fixture cases (../shared/fixtures/README.md):
 *   anchors_coder  AnchorGenerator grid anchors, base anchors and valid flags; both
 *                  DeltaXYWHBBoxCoders' encode and decode (clipped, unclipped, wh_ratio_clip 0.1)
 *   roi_align_nms  SingleRoIExtractor (level mapping and RoIAlign features), mmcv nms and
 *                  batched_nms at each IoU threshold, mmdet multiclass_nms
 * Every stored tensor is compared; kept indices and labels must be equal, the rest within the
 * case's tolerance. Components are built through the registries from the case's config.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MODELS, TASK_UTILS, toFloat32, type ComponentConfig } from '@tsdet/core';
import { compareArrays, missing, type Comparison, type Tolerance } from '../parity/compare.js';
import { ioTensor, nchwToNhwc, type FixtureCase } from '../parity/fixture-case.js';
import { registerCaseRunner, type CaseRunner } from '../parity/run-case.js';
import type { AnchorGenerator, Size2 } from './anchor-generator/anchor-generator.js';
import type { DeltaXYWHBBoxCoder } from './bbox-coder/delta-xywh-bbox-coder.js';
import { batchedNms, multiclassNms, nms, type NmsResult } from './nms/nms.js';
import type { NmsConfig } from './nms/nms-core.js';
import { mapRoiLevels, type SingleRoIExtractor } from './roi-extractor/single-roi-extractor.js';

/** Kept indices, labels, levels and flags: no tolerance. */
const EXACT: Tolerance = { atol: 0, rtol: 0 };
/** dets are copies of input boxes and scores (fixtures/README.md: within 1e-6). */
const DETS: Tolerance = { atol: 1e-6, rtol: 0 };

/** Runs fn in a tfjs scope: tensors it creates are disposed when it returns (tf.tidy, for non-tensor results). */
function scoped<T>(fn: () => T): T {
  tf.engine().startScope();
  try {
    return fn();
  } finally {
    tf.engine().endScope();
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function componentOf(c: FixtureCase, key: string): ComponentConfig {
  const cfg = c.json.component[key];
  if (!isRecord(cfg)) throw new Error(`${c.dir}/case.json: component.${key} is missing`);
  return cfg as ComponentConfig;
}

function caseValue<T>(c: FixtureCase, key: string): T {
  const value = c.json[key];
  if (value === undefined) throw new Error(`${c.dir}/case.json: no '${key}'`);
  return value as T;
}

/** Compares `actual` (with its shape) to the stored tensor `key`; a shape mismatch is a failure. */
function compareStored(c: FixtureCase, key: string, actual: ArrayLike<number>, shape: readonly number[], tolerance: Tolerance): Comparison {
  const stored = c.io.get(key);
  if (!stored) return missing(key, `the case has no tensor '${key}'`, tolerance);
  if (stored.shape.join() !== shape.join()) return missing(key, `shape [${shape.join(', ')}], expected [${stored.shape.join(', ')}]`, tolerance);
  return compareArrays(key, actual, toFloat32(stored), tolerance);
}

function compareTensor(c: FixtureCase, key: string, actual: tf.Tensor, tolerance: Tolerance): Comparison {
  return compareStored(c, key, actual.dataSync(), actual.shape, tolerance);
}

function storedTensor(c: FixtureCase, key: string): tf.Tensor {
  const t = ioTensor(c, key);
  return tf.tensor(toFloat32(t), t.shape, 'float32');
}

// ---------------------------------------------------------------------------------------------
// anchors_coder

/** The pad shape is only written in the valid_flags description ("pad_shape=[60, 75]"). */
function padShapeOf(c: FixtureCase): Size2 {
  const tensors = caseValue<Record<string, string>>(c, 'tensors');
  const match = /pad_shape=\[(\d+), *(\d+)\]/.exec(tensors['valid_flags.<l>'] ?? '');
  if (!match) throw new Error(`${c.dir}/case.json: tensors['valid_flags.<l>'] does not state the pad_shape`);
  return [Number(match[1]), Number(match[2])];
}

function compareAnchors(c: FixtureCase): Comparison[] {
  const generator = TASK_UTILS.build<AnchorGenerator>(componentOf(c, 'anchor_generator'), { path: `${c.name}:component.anchor_generator` });
  const sizes = caseValue<Size2[]>(c, 'featmap_sizes');
  const tolerance = { atol: Number(c.json.tolerance['anchors_atol'] ?? c.json.tolerance.atol), rtol: 0 };
  const padShape = padShapeOf(c);
  const results: Comparison[] = [];
  const base = generator.baseAnchors.flatMap((a) => Array.from(a));
  results.push(compareStored(c, 'base_anchors', base, [base.length / 4, 4], tolerance));
  sizes.forEach((size, level) => {
    const count = size[0] * size[1] * generator.numBasePriors[level]!;
    results.push(compareStored(c, `anchors.${level}`, generator.levelPriors(size, level), [count, 4], tolerance));
    results.push(compareStored(c, `valid_flags.${level}`, generator.levelValidFlags(size, padShape, level), [count], EXACT));
  });
  return results;
}

function compareCoder(c: FixtureCase, prefix: string, coder: DeltaXYWHBBoxCoder): Comparison[] {
  const tolerance = { atol: c.json.tolerance.atol, rtol: c.json.tolerance.rtol };
  const maxShape = caseValue<[number, number]>(c, 'image_shape_hw');
  return scoped(() => {
    const [proposals, gts, rois, deltas] = ['encode.proposals', 'encode.gts', 'decode.rois', 'decode.deltas'].map((k) => storedTensor(c, `${prefix}.${k}`) as tf.Tensor2D);
    return [
      compareTensor(c, `${prefix}.encode.deltas`, coder.encode(proposals!, gts!), tolerance),
      compareTensor(c, `${prefix}.decode.boxes_clipped`, coder.decode(rois!, deltas!, { maxShape }), tolerance),
      compareTensor(c, `${prefix}.decode.boxes_unclipped`, coder.decode(rois!, deltas!), tolerance),
      compareTensor(c, `${prefix}.decode.boxes_clipped_ratio0.1`, coder.decode(rois!, deltas!, { maxShape, whRatioClip: 0.1 }), tolerance),
    ];
  });
}

/** Every `<prefix>_bbox_coder` of the component, checked against the `<prefix>.*` tensors. */
function compareCoders(c: FixtureCase): Comparison[] {
  const keys = Object.keys(c.json.component).filter((k) => k.endsWith('_bbox_coder'));
  if (keys.length === 0) return [missing('bbox_coder', 'the case configures no *_bbox_coder')];
  return keys.flatMap((key) => {
    const coder = TASK_UTILS.build<DeltaXYWHBBoxCoder>(componentOf(c, key), { path: `${c.name}:component.${key}` });
    return compareCoder(c, key.slice(0, -'_bbox_coder'.length), coder);
  });
}

export const anchorsCoderCaseRunner: CaseRunner = {
  kind: 'anchors_coder',
  matches: (c) => isRecord(c.json.component['anchor_generator']) && c.io.has('anchors.0'),
  run: (c) => [...compareAnchors(c), ...compareCoders(c)],
};

// ---------------------------------------------------------------------------------------------
// roi_align_nms

function compareRoiExtractor(c: FixtureCase): Comparison[] {
  const extractor = MODELS.build<SingleRoIExtractor>(componentOf(c, 'bbox_roi_extractor'), { path: `${c.name}:component.bbox_roi_extractor` });
  const tolerance = { atol: c.json.tolerance.atol, rtol: c.json.tolerance.rtol };
  const feats = extractor.featmapStrides.map((_, level) => nchwToNhwc(ioTensor(c, `feats.${level}`)));
  try {
    return scoped(() => {
      const rois = storedTensor(c, 'rois') as tf.Tensor2D;
      const levels = mapRoiLevels(rois.dataSync() as Float32Array, feats.length, extractor.finestScale);
      const roiFeats = tf.transpose(extractor.forward(feats, rois), [0, 3, 1, 2]);
      return [compareStored(c, 'roi_levels', levels, [levels.length], EXACT), compareTensor(c, 'roi_feats', roiFeats, tolerance)];
    });
  } finally {
    tf.dispose(feats);
  }
}

function compareNmsResult(c: FixtureCase, prefix: string, result: NmsResult): Comparison[] {
  const comparisons = [compareTensor(c, `${prefix}.keep`, result.keep, EXACT), compareTensor(c, `${prefix}.dets`, result.dets, DETS)];
  tf.dispose([result.dets, result.keep]);
  return comparisons;
}

function compareNms(c: FixtureCase): Comparison[] {
  const thresholds = componentOf(c, 'nms')['iou_thresholds'] as number[];
  return scoped(() => {
    const boxes = storedTensor(c, 'nms.boxes') as tf.Tensor2D;
    const scores = storedTensor(c, 'nms.scores') as tf.Tensor1D;
    const labels = storedTensor(c, 'nms.labels') as tf.Tensor1D;
    return thresholds.flatMap((t) => [
      ...compareNmsResult(c, `nms.iou${t}`, nms(boxes, scores, t)),
      ...compareNmsResult(c, `batched_nms.iou${t}`, batchedNms(boxes, scores, labels, { type: 'nms', iou_threshold: t })),
    ]);
  });
}

function compareMulticlassNms(c: FixtureCase): Comparison[] {
  const cfg = componentOf(c, 'multiclass_nms') as unknown as { score_thr: number; nms: NmsConfig; max_num: number };
  return scoped(() => {
    const result = multiclassNms(storedTensor(c, 'multiclass_nms.bboxes') as tf.Tensor2D, storedTensor(c, 'multiclass_nms.scores') as tf.Tensor2D, cfg.score_thr, cfg.nms, cfg.max_num);
    return [compareTensor(c, 'multiclass_nms.dets', result.dets, DETS), compareTensor(c, 'multiclass_nms.labels', result.labels, EXACT)];
  });
}

export const roiAlignNmsCaseRunner: CaseRunner = {
  kind: 'roi_align_nms',
  matches: (c) => isRecord(c.json.component['bbox_roi_extractor']) && c.io.has('roi_feats'),
  run: (c) => [...compareRoiExtractor(c), ...compareNms(c), ...compareMulticlassNms(c)],
};

registerCaseRunner(anchorsCoderCaseRunner);
registerCaseRunner(roiAlignNmsCaseRunner);
