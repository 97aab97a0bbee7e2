/**
 * The StandardRoIHead config (mmdet's constructor arguments; the box branch only) and its
 * MODELS descriptor. Mask and shared heads are not ported: their keys accept null only, so a
 * Mask R-CNN config fails at validation with the key named. train_cfg / test_cfg are the
 * detector's `train_cfg.rcnn` / `test_cfg.rcnn`.
 */
import { componentRef, defineComponent, type BuildContext, type ComponentConfig, type ConfigSchema } from '@tsdet/core';
import { expectBuilt } from '../../detectors/parts.js';
import { nullable, rcnnTestConfigSchema, rcnnTrainConfigSchema, type RcnnTestConfig, type RcnnTrainConfig } from '../../detectors/train-test-cfg.schema.js';
import { isPriorAssigner, type PriorAssigner } from '../../task-modules/assigners/assigner.js';
import { SingleRoIExtractor } from '../../task-modules/roi-extractor/single-roi-extractor.js';
import { isPriorSampler, type PriorSampler } from '../../task-modules/samplers/sampler.js';
import { ConvFCBBoxHead } from '../bbox-heads/convfc-bbox-head.js';
import { StandardRoIHead } from './standard-roi-head.js';

export interface StandardRoIHeadConfig {
  bbox_roi_extractor: ComponentConfig;
  bbox_head: ComponentConfig;
  mask_roi_extractor: null;
  mask_head: null;
  shared_head: null;
  train_cfg: RcnnTrainConfig | null;
  test_cfg: RcnnTestConfig | null;
  init_cfg: null;
}

const notPorted = (what: string) => ({ type: 'null', default: null, description: `${what} is not ported` });

export const standardRoIHeadSchema: ConfigSchema = {
  properties: {
    bbox_roi_extractor: componentRef('MODELS', 'RoI features per roi (SingleRoIExtractor)'),
    bbox_head: componentRef('MODELS', 'the box head (Shared2FCBBoxHead, ...)'),
    mask_roi_extractor: notPorted('the mask branch'),
    mask_head: notPorted('the mask branch'),
    shared_head: notPorted('a shared head (ResLayer on RoI features)'),
    train_cfg: nullable(rcnnTrainConfigSchema),
    test_cfg: nullable(rcnnTestConfigSchema),
    init_cfg: { type: 'null', default: null },
  },
  required: ['bbox_roi_extractor', 'bbox_head'],
};

export const standardRoIHeadDescriptor = defineComponent<StandardRoIHeadConfig, StandardRoIHead>({
  type: 'StandardRoIHead',
  description: 'RoI head: RoIAlign features, box head, class-specific decode and multiclass NMS (mmdet StandardRoIHead)',
  schema: standardRoIHeadSchema,
  build: (cfg, ctx) => {
    const extractor = expectBuilt(ctx.build('MODELS', cfg.bbox_roi_extractor, 'bbox_roi_extractor'), (v): v is SingleRoIExtractor => v instanceof SingleRoIExtractor, `${ctx.path}.bbox_roi_extractor`, 'a SingleRoIExtractor');
    const head = expectBuilt(ctx.build('MODELS', cfg.bbox_head, 'bbox_head'), (v): v is ConvFCBBoxHead => v instanceof ConvFCBBoxHead, `${ctx.path}.bbox_head`, 'a box head (ConvFCBBoxHead family)');
    checkExtractorFeedsHead(extractor, head, ctx.path);
    return new StandardRoIHead({ bboxRoiExtractor: extractor, bboxHead: head, trainCfg: cfg.train_cfg, ...trainingParts(cfg.train_cfg, ctx), testCfg: cfg.test_cfg, path: ctx.path });
  },
});

/** The extractor's output [R, h, w, out_channels] must be what the box head reads. */
function checkExtractorFeedsHead(extractor: SingleRoIExtractor, head: ConvFCBBoxHead, path: string): void {
  const problems: string[] = [];
  if (extractor.outChannels !== head.inChannels) {
    problems.push(`${path}.bbox_head.in_channels is ${head.inChannels}, but ${path}.bbox_roi_extractor.out_channels is ${extractor.outChannels}`);
  }
  const [h, w] = extractor.outputSize;
  if (h !== head.roiFeatSize[0] || w !== head.roiFeatSize[1]) {
    problems.push(`${path}.bbox_head.roi_feat_size is ${head.roiFeatSize.join('x')}, but ${path}.bbox_roi_extractor.roi_layer.output_size gives ${h}x${w}`);
  }
  if (problems.length) throw new Error(problems.join('; '));
}

/** The assigner and sampler of train_cfg.rcnn (TASK_UTILS components). */
function trainingParts(trainCfg: RcnnTrainConfig | null, ctx: BuildContext): { assigner?: PriorAssigner; sampler?: PriorSampler } {
  if (!trainCfg) return {};
  const at = (key: string) => `${ctx.path}.train_cfg.${key}`;
  return {
    assigner: expectBuilt(ctx.build('TASK_UTILS', trainCfg.assigner, 'train_cfg.assigner'), isPriorAssigner, at('assigner'), 'an assigner (with assign)'),
    sampler: expectBuilt(ctx.build('TASK_UTILS', trainCfg.sampler, 'train_cfg.sampler'), isPriorSampler, at('sampler'), 'a sampler (with sample)'),
  };
}
