/**
 * MODELS descriptors of ConvFCBBoxHead and its fixed-layout variants (mmdet's
 * Shared2FCBBoxHead, Shared4Conv1FCBBoxHead). The child components (coder, losses) are built
 * through the registry and checked for what the head needs.
 */
import { defineComponent, type BuildContext } from '@tsdet/core';
import { expectBuilt, isBBoxCoder } from '../../detectors/parts.js';
import { isClassificationLoss, isRegressionLoss, type ClassificationLoss, type RegressionLoss } from '../../losses/index.js';
import { ConvFCBBoxHead } from './convfc-bbox-head.js';
import { convFCBBoxHeadSchema, type ConvFCBBoxHeadConfig } from './convfc-bbox-head.schema.js';

type BranchKey = 'num_shared_convs' | 'num_shared_fcs' | 'num_cls_convs' | 'num_cls_fcs' | 'num_reg_convs' | 'num_reg_fcs';

function buildConvFCBBoxHead(cfg: ConvFCBBoxHeadConfig, ctx: BuildContext): ConvFCBBoxHead {
  const at = (key: string) => `${ctx.path}.${key}`;
  return new ConvFCBBoxHead({
    inChannels: cfg.in_channels,
    numClasses: cfg.num_classes,
    roiFeatSize: cfg.roi_feat_size,
    withAvgPool: cfg.with_avg_pool,
    withCls: cfg.with_cls,
    withReg: cfg.with_reg,
    regClassAgnostic: cfg.reg_class_agnostic,
    regDecodedBbox: cfg.reg_decoded_bbox,
    convOutChannels: cfg.conv_out_channels,
    fcOutChannels: cfg.fc_out_channels,
    normCfg: cfg.norm_cfg,
    numSharedConvs: cfg.num_shared_convs,
    numSharedFcs: cfg.num_shared_fcs,
    numClsConvs: cfg.num_cls_convs,
    numClsFcs: cfg.num_cls_fcs,
    numRegConvs: cfg.num_reg_convs,
    numRegFcs: cfg.num_reg_fcs,
    bboxCoder: expectBuilt(ctx.build('TASK_UTILS', cfg.bbox_coder, 'bbox_coder'), isBBoxCoder, at('bbox_coder'), 'a box coder (encode, decode, encodeSize)'),
    lossCls: expectBuilt<ClassificationLoss>(ctx.build('MODELS', cfg.loss_cls, 'loss_cls'), isClassificationLoss, at('loss_cls'), 'a classification loss'),
    lossBbox: expectBuilt<RegressionLoss>(ctx.build('MODELS', cfg.loss_bbox, 'loss_bbox'), isRegressionLoss, at('loss_bbox'), 'a regression loss'),
    path: ctx.path,
  });
}

/** A head whose branch counts are fixed by its type; setting them in a config is an error. */
function fixedLayout(type: string, counts: Record<BranchKey, number>, description: string) {
  const fixed = Object.fromEntries(Object.keys(counts).map((k) => [k, true]));
  return defineComponent<ConvFCBBoxHeadConfig, ConvFCBBoxHead>({
    type,
    description,
    schema: convFCBBoxHeadSchema(fixed),
    build: (cfg, ctx) => buildConvFCBBoxHead({ ...cfg, ...counts }, ctx),
  });
}

export const convFCBBoxHeadDescriptor = defineComponent<ConvFCBBoxHeadConfig, ConvFCBBoxHead>({
  type: 'ConvFCBBoxHead',
  description: 'RoI box head with shared and per-branch convs / fcs (mmdet ConvFCBBoxHead)',
  schema: convFCBBoxHeadSchema(),
  build: buildConvFCBBoxHead,
});

export const shared2FCBBoxHeadDescriptor = fixedLayout(
  'Shared2FCBBoxHead',
  { num_shared_convs: 0, num_shared_fcs: 2, num_cls_convs: 0, num_cls_fcs: 0, num_reg_convs: 0, num_reg_fcs: 0 },
  'two shared fcs, then fc_cls and fc_reg (Faster R-CNN box head)',
);

export const shared4Conv1FCBBoxHeadDescriptor = fixedLayout(
  'Shared4Conv1FCBBoxHead',
  { num_shared_convs: 4, num_shared_fcs: 1, num_cls_convs: 0, num_cls_fcs: 0, num_reg_convs: 0, num_reg_fcs: 0 },
  'four shared 3x3 convs and one shared fc, then fc_cls and fc_reg',
);
