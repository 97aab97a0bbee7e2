/**
 * Configs and MODELS descriptors of the losses, argument by argument as mmdet's constructors.
 * What is not ported is pinned by the schema (use_mask, class_weight) rather than failing later.
 */
import { defineComponent, type ConfigSchema } from '@tsdet/core';
import { CrossEntropyLoss, type CrossEntropyLossConfig } from './cross-entropy-loss.js';
import { L1Loss, SmoothL1Loss, type L1LossConfig, type SmoothL1LossConfig } from './l1-loss.js';
import { REDUCTIONS } from './reduce.js';

const reductionSchema = { enum: [...REDUCTIONS], default: 'mean' };
const lossWeightSchema = { type: 'number', minimum: 0, default: 1, description: 'multiplies the reduced loss' };

export const crossEntropyLossSchema: ConfigSchema = {
  properties: {
    use_sigmoid: { type: 'boolean', default: false, description: 'sigmoid BCE with logits (one-hot targets) instead of softmax CE' },
    use_mask: { const: false, default: false, description: 'mask cross-entropy is not ported' },
    reduction: reductionSchema,
    class_weight: { type: 'null', default: null, description: 'per-class weights are not ported' },
    ignore_index: { type: ['integer', 'null'], default: null, description: 'label whose rows count zero; null means -100' },
    loss_weight: lossWeightSchema,
    avg_non_ignore: { type: 'boolean', default: false, description: "average over the non-ignored rows (PyTorch's behaviour) instead of all rows" },
  },
};

export const l1LossSchema: ConfigSchema = {
  properties: { reduction: reductionSchema, loss_weight: lossWeightSchema },
};

export const smoothL1LossSchema: ConfigSchema = {
  properties: {
    beta: { type: 'number', exclusiveMinimum: 0, default: 1, description: 'below |diff| = beta the loss is quadratic' },
    reduction: reductionSchema,
    loss_weight: lossWeightSchema,
  },
};

export const crossEntropyLossDescriptor = defineComponent<CrossEntropyLossConfig, CrossEntropyLoss>({
  type: 'CrossEntropyLoss',
  description: 'softmax cross-entropy or sigmoid BCE with logits (mmdet CrossEntropyLoss)',
  schema: crossEntropyLossSchema,
  build: (cfg) => new CrossEntropyLoss(cfg),
});

export const l1LossDescriptor = defineComponent<L1LossConfig, L1Loss>({
  type: 'L1Loss',
  description: 'elementwise |pred - target| (mmdet L1Loss)',
  schema: l1LossSchema,
  build: (cfg) => new L1Loss(cfg),
});

export const smoothL1LossDescriptor = defineComponent<SmoothL1LossConfig, SmoothL1Loss>({
  type: 'SmoothL1Loss',
  description: 'Huber-style smooth L1 with threshold beta (mmdet SmoothL1Loss)',
  schema: smoothL1LossSchema,
  build: (cfg) => new SmoothL1Loss(cfg),
});
