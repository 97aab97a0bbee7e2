/** The RandomSampler config (mmdet's constructor arguments) and its TASK_UTILS descriptor. */
import { defineComponent, type ConfigSchema } from '@tsdet/core';
import { PseudoSampler } from './pseudo-sampler.js';
import { RandomSampler } from './random-sampler.js';

export interface RandomSamplerConfig {
  num: number;
  pos_fraction: number;
  neg_pos_ub: number;
  add_gt_as_proposals: boolean;
}

export const randomSamplerSchema: ConfigSchema = {
  properties: {
    num: { type: 'integer', minimum: 0, description: 'samples per image' },
    pos_fraction: { type: 'number', minimum: 0, maximum: 1, description: 'at most int(num * pos_fraction) positives' },
    neg_pos_ub: { type: 'number', default: -1, description: 'negatives at most int(neg_pos_ub * max(1, #pos)); < 0 disables' },
    add_gt_as_proposals: { type: 'boolean', default: true, description: 'prepend the gt boxes to the priors' },
  },
  required: ['num', 'pos_fraction'],
};

export const randomSamplerDescriptor = defineComponent<RandomSamplerConfig, RandomSampler>({
  type: 'RandomSampler',
  description: 'Uniform random positive / negative sampler (mmdet RandomSampler)',
  schema: randomSamplerSchema,
  build: (cfg) => new RandomSampler({ num: cfg.num, posFraction: cfg.pos_fraction, negPosUb: cfg.neg_pos_ub, addGtAsProposals: cfg.add_gt_as_proposals }),
});

export const pseudoSamplerDescriptor = defineComponent<Record<string, never>, PseudoSampler>({
  type: 'PseudoSampler',
  description: 'Keeps every positive and negative; losses average over the positives (mmdet PseudoSampler)',
  schema: { properties: {} },
  build: () => new PseudoSampler(),
});
