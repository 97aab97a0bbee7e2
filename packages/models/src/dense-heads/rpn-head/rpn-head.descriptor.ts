import { defineComponent, type BuildContext } from '@tsdet/core';
import { isClassificationLoss, isRegressionLoss, type ClassificationLoss, type RegressionLoss } from '../../losses/index.js';
import { AnchorGenerator } from '../../task-modules/anchor-generator/anchor-generator.js';
import { expectBuilt, isBBoxCoder } from '../../detectors/parts.js';
import type { RpnTrainConfig } from '../../detectors/train-test-cfg.schema.js';
import { isPriorAssigner, type PriorAssigner } from '../../task-modules/assigners/assigner.js';
import { isPriorSampler, type PriorSampler } from '../../task-modules/samplers/sampler.js';
import { RPNHead } from './rpn-head.js';
import { rpnHeadSchema, type RPNHeadConfig } from './rpn-head.schema.js';

/** mmdet's RPNHead; num_classes must be 1 (a two-stage detector forces it before building). */
export const rpnHeadDescriptor = defineComponent<RPNHeadConfig, RPNHead>({
  type: 'RPNHead',
  description: 'Region proposal head: shared 3x3 conv, objectness and delta 1x1 convs, level-wise NMS (mmdet RPNHead)',
  schema: rpnHeadSchema(),
  build: (cfg, ctx) => {
    if (cfg.num_classes !== 1) throw new Error(`num_classes: an RPN has one class (objectness), got ${cfg.num_classes}`);
    const at = (key: string) => `${ctx.path}.${key}`;
    return new RPNHead({
      inChannels: cfg.in_channels,
      featChannels: cfg.feat_channels,
      numConvs: cfg.num_convs,
      anchorGenerator: expectBuilt(ctx.build('TASK_UTILS', cfg.anchor_generator, 'anchor_generator'), (v): v is AnchorGenerator => v instanceof AnchorGenerator, at('anchor_generator'), 'an AnchorGenerator'),
      bboxCoder: expectBuilt(ctx.build('TASK_UTILS', cfg.bbox_coder, 'bbox_coder'), isBBoxCoder, at('bbox_coder'), 'a box coder (encode, decode, encodeSize)'),
      lossCls: expectBuilt<ClassificationLoss>(ctx.build('MODELS', cfg.loss_cls, 'loss_cls'), isClassificationLoss, at('loss_cls'), 'a classification loss (with use_sigmoid)'),
      lossBbox: expectBuilt<RegressionLoss>(ctx.build('MODELS', cfg.loss_bbox, 'loss_bbox'), isRegressionLoss, at('loss_bbox'), 'a regression loss'),
      regDecodedBbox: cfg.reg_decoded_bbox,
      trainCfg: cfg.train_cfg,
      ...trainingParts(cfg.train_cfg, ctx),
      testCfg: cfg.test_cfg,
      initCfg: cfg.init_cfg,
      path: ctx.path,
    });
  },
});

/**
 * The assigner and sampler of train_cfg.rpn (TASK_UTILS); without a sampler the head uses a
 * PseudoSampler, as mmdet's AnchorHead. Gts as proposals would shift the sampled indices off the
 * anchors (mmdet has the same flaw), so that setting is refused.
 */
function trainingParts(trainCfg: RpnTrainConfig | null, ctx: BuildContext): { assigner?: PriorAssigner; sampler?: PriorSampler } {
  if (!trainCfg) return {};
  const at = (key: string) => `${ctx.path}.train_cfg.${key}`;
  const assigner = expectBuilt(ctx.build('TASK_UTILS', trainCfg.assigner, 'train_cfg.assigner'), isPriorAssigner, at('assigner'), 'an assigner (with assign)');
  if (!trainCfg.sampler) return { assigner };
  const sampler = expectBuilt(ctx.build('TASK_UTILS', trainCfg.sampler, 'train_cfg.sampler'), isPriorSampler, at('sampler'), 'a sampler (with sample)');
  if ((sampler as { addGtAsProposals?: boolean }).addGtAsProposals) throw new Error(`${at('sampler.add_gt_as_proposals')}: must be false for an RPN (gt boxes are not anchors)`);
  return { assigner, sampler };
}
