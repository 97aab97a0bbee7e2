/**
 * The TwoStageDetector / FasterRCNN config (mmdet's constructor arguments) and MODELS
 * descriptors. Building follows mmdet's wiring (mmdet-reference §4.1): the RPN gets a copy of
 * its config with train_cfg.rpn / test_cfg.rpn and num_classes 1, the RoI head one with
 * train_cfg.rcnn / test_cfg.rcnn; the config itself is never changed. A config that sets a
 * head's train_cfg / test_cfg directly is an error (mmdet would silently overwrite it).
 */
import { ConfigValidationError, componentRef, defineComponent, Module, type BuildContext, type ComponentConfig, type ConfigIssue, type ConfigSchema } from '@tsdet/core';
import { RPNHead } from '../dense-heads/rpn-head/rpn-head.js';
import { StandardRoIHead } from '../roi-heads/standard-roi-head/standard-roi-head.js';
import { expectBuilt } from './parts.js';
import { checkHeadInputs, checkNeckInputs, type LevelSource } from './shape-checks.js';
import { twoStageTestConfigSchema, twoStageTrainConfigSchema, type TwoStageTestConfig, type TwoStageTrainConfig } from './train-test-cfg.schema.js';
import { FasterRCNN, isDataPreprocessor, TwoStageDetector, type Backbone, type Neck, type TwoStageDetectorOptions } from './two-stage.js';

export interface TwoStageDetectorConfig {
  data_preprocessor: ComponentConfig | null;
  backbone: ComponentConfig;
  neck: ComponentConfig | null;
  rpn_head: ComponentConfig | null;
  roi_head: ComponentConfig | null;
  train_cfg: TwoStageTrainConfig | null;
  test_cfg: TwoStageTestConfig | null;
  init_cfg: null;
}

/** Set by the detector when it builds a head, so a config may not set them (the values are for validation only). */
const HEAD_CFGS_FROM_DETECTOR = { train_cfg: null, test_cfg: null };

function optionalComponent(description: string, injected?: Record<string, unknown>): ConfigSchema {
  return { ...componentRef('MODELS', { description, injected }), type: ['object', 'null'], default: null };
}

/** `required` lists the keys a detector type needs (mmdet's positional arguments). */
export function twoStageDetectorSchema(required: readonly string[]): ConfigSchema {
  const withoutDefault = (schema: ConfigSchema, key: string): ConfigSchema => {
    if (!required.includes(key)) return schema;
    const { default: _default, ...rest } = schema;
    return rest;
  };
  return {
    properties: {
      data_preprocessor: optionalComponent('normalise, pad and batch images (DetDataPreprocessor from @tsdet/data); used by testStep'),
      backbone: componentRef('MODELS', 'image batch -> feature levels'),
      neck: withoutDefault(optionalComponent('levels -> levels (FPN)'), 'neck'),
      rpn_head: withoutDefault(optionalComponent('region proposals; train_cfg / test_cfg come from the detector', HEAD_CFGS_FROM_DETECTOR), 'rpn_head'),
      roi_head: withoutDefault(optionalComponent('detections from proposals; train_cfg / test_cfg come from the detector', HEAD_CFGS_FROM_DETECTOR), 'roi_head'),
      train_cfg: withoutDefault(twoStageTrainConfigSchema, 'train_cfg'),
      test_cfg: withoutDefault(twoStageTestConfigSchema, 'test_cfg'),
      init_cfg: { type: 'null', default: null, description: 'whole-detector init is not ported: backbones take init_cfg Pretrained' },
    },
    required: ['backbone', ...required],
  };
}

/** The RPN's config as mmdet's TwoStageDetector builds it: a copy with its cfgs and one class. */
export function rpnHeadConfigFor(cfg: TwoStageDetectorConfig, path: string): ComponentConfig {
  const rpn = cfg.rpn_head!;
  const numClasses = rpn['num_classes'];
  if (numClasses !== undefined && numClasses !== 1) {
    console.warn(`${path}.rpn_head.num_classes: an RPN has one class (objectness), got ${String(numClasses)}; building it with 1, as mmdet does`);
  }
  return { ...rpn, num_classes: 1, train_cfg: cfg.train_cfg?.rpn ?? null, test_cfg: cfg.test_cfg?.rpn ?? null };
}

/** mmdet reads test_cfg.rpn / test_cfg.rcnn when it builds the heads: each is required with its head. */
function checkTestConfigs(cfg: TwoStageDetectorConfig, path: string): void {
  const issues: ConfigIssue[] = [];
  if (cfg.rpn_head && !cfg.test_cfg?.rpn) issues.push({ path: `${path}.test_cfg.rpn`, message: `is required with ${path}.rpn_head (the proposal settings: nms_pre, max_per_img, nms, min_bbox_size)` });
  if (cfg.roi_head && !cfg.test_cfg?.rcnn) issues.push({ path: `${path}.test_cfg.rcnn`, message: `is required with ${path}.roi_head (the detection settings: score_thr, nms, max_per_img)` });
  if (issues.length) throw new ConfigValidationError(issues, path);
}

function isModuleWithForward<T extends Module>(value: unknown): value is T {
  return value instanceof Module && typeof (value as { forward?: unknown }).forward === 'function';
}

/** Builds the parts in mmdet's order, checking each against what it reads before the next. */
function buildParts(cfg: TwoStageDetectorConfig, ctx: BuildContext): TwoStageDetectorOptions {
  const path = ctx.path;
  checkTestConfigs(cfg, path);
  const dataPreprocessor = cfg.data_preprocessor ? expectBuilt(ctx.build('MODELS', cfg.data_preprocessor, 'data_preprocessor'), isDataPreprocessor, `${path}.data_preprocessor`, 'a data preprocessor (with forward)') : null;
  const backbone = expectBuilt(ctx.build('MODELS', cfg.backbone, 'backbone'), isModuleWithForward<Backbone>, `${path}.backbone`, 'a backbone module');
  const backboneLevels: LevelSource | undefined = backbone.outputShapes ? { shapes: backbone.outputShapes(), path: `${path}.backbone` } : undefined;
  if (cfg.neck && backboneLevels) checkNeckInputs(cfg.neck['in_channels'], backboneLevels, `${path}.neck`, path);
  const neck = cfg.neck ? expectBuilt(ctx.build('MODELS', cfg.neck, 'neck'), isModuleWithForward<Neck>, `${path}.neck`, 'a neck module') : undefined;
  const levels = neck ? neckLevels(neck, backboneLevels, `${path}.neck`) : backboneLevels;
  const rpnHead = cfg.rpn_head ? expectBuilt(ctx.build('MODELS', rpnHeadConfigFor(cfg, path), 'rpn_head'), (v): v is RPNHead => v instanceof RPNHead, `${path}.rpn_head`, 'an RPNHead') : undefined;
  const roiConfig = cfg.roi_head ? { ...cfg.roi_head, train_cfg: cfg.train_cfg?.rcnn ?? null, test_cfg: cfg.test_cfg?.rcnn ?? null } : null;
  const roiHead = roiConfig ? expectBuilt(ctx.build('MODELS', roiConfig, 'roi_head'), (v): v is StandardRoIHead => v instanceof StandardRoIHead, `${path}.roi_head`, 'a StandardRoIHead') : undefined;
  if (levels) checkHeadInputs({ rpn: rpnHead, roi: roiHead }, levels, path, path);
  return { backbone, neck, rpnHead, roiHead, dataPreprocessor, trainCfg: cfg.train_cfg, testCfg: cfg.test_cfg, path };
}

function neckLevels(neck: Neck, inputs: LevelSource | undefined, path: string): LevelSource | undefined {
  return neck.outputShapes && inputs ? { shapes: neck.outputShapes(inputs.shapes), path } : undefined;
}

export const twoStageDetectorDescriptor = defineComponent<TwoStageDetectorConfig, TwoStageDetector>({
  type: 'TwoStageDetector',
  description: 'backbone, optional neck, RPN and RoI head (mmdet TwoStageDetector)',
  schema: twoStageDetectorSchema([]),
  build: (cfg, ctx) => new TwoStageDetector(buildParts(cfg, ctx)),
});

export const fasterRCNNDescriptor = defineComponent<TwoStageDetectorConfig, FasterRCNN>({
  type: 'FasterRCNN',
  description: 'Faster R-CNN: a two-stage detector with RPN proposals and an RoI box head (mmdet FasterRCNN)',
  schema: twoStageDetectorSchema(['rpn_head', 'roi_head', 'train_cfg', 'test_cfg']),
  build: (cfg, ctx) => new FasterRCNN(buildParts(cfg, ctx)),
});
