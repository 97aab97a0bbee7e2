/**
 * OPTIMIZERS components and the optim_wrapper section's builder (mmengine's
 * DefaultOptimWrapperConstructor + OptimWrapper).
 */
import { defineComponent, OPTIMIZERS, type ComponentDescriptor, type TrainableModel } from '@tsdet/core';
import { OptimWrapper, type ClipGradConfig } from './optim-wrapper.js';
import { buildParamGroups, type ParamwiseConfig } from './param-groups.js';
import { Adam, type AdamHyperParameters } from './adam.js';
import { SGD, type BaseHyperParameters, type OptimizedParameter, type Optimizer, type ParamGroup, type SgdHyperParameters } from './sgd.js';

export interface OptimizerFactory {
  readonly type: string;
  /** The config's hyper-parameters (every group starts from these). */
  readonly defaults: BaseHyperParameters;
  create(params: readonly OptimizedParameter[], groups: readonly ParamGroup[]): Optimizer;
}

export const sgdDescriptor = defineComponent<SgdHyperParameters, OptimizerFactory>({
  type: 'SGD',
  description: "stochastic gradient descent with PyTorch's update rule (momentum, dampening, nesterov, weight decay added to the gradient)",
  schema: {
    properties: {
      lr: { type: 'number', exclusiveMinimum: 0, description: 'base learning rate (scaled by auto_scale_lr, then by the schedulers)' },
      momentum: { type: 'number', minimum: 0, default: 0 },
      dampening: { type: 'number', minimum: 0, maximum: 1, default: 0 },
      weight_decay: { type: 'number', minimum: 0, default: 0, description: 'L2 penalty, added to the gradient as torch does' },
      nesterov: { type: 'boolean', default: false },
    },
    required: ['lr'],
  },
  build: (cfg) => {
    if (cfg.nesterov && (cfg.momentum <= 0 || cfg.dampening !== 0)) throw new Error('nesterov needs momentum > 0 and dampening 0 (as torch.optim.SGD)');
    return { type: 'SGD', defaults: { ...cfg }, create: (params, groups) => new SGD(params, groups) };
  },
});

interface AdamConfig extends AdamHyperParameters {
  amsgrad: boolean;
}

/** Adam (decay added to the gradient) or AdamW (decoupled decay), torch.optim's defaults. */
function adamDescriptor(type: 'Adam' | 'AdamW'): ComponentDescriptor {
  const decoupled = type === 'AdamW';
  return defineComponent<AdamConfig, OptimizerFactory>({
    type,
    description: decoupled ? "AdamW with PyTorch's update rule (decoupled weight decay)" : "Adam with PyTorch's update rule (weight decay added to the gradient)",
    schema: {
      properties: {
        lr: { type: 'number', exclusiveMinimum: 0, default: 0.001, description: 'base learning rate (scaled by auto_scale_lr, then by the schedulers)' },
        betas: { type: 'array', items: { type: 'number', minimum: 0, exclusiveMaximum: 1 }, minItems: 2, maxItems: 2, default: [0.9, 0.999] },
        eps: { type: 'number', exclusiveMinimum: 0, default: 1e-8 },
        weight_decay: { type: 'number', minimum: 0, default: decoupled ? 0.01 : 0 },
        amsgrad: { type: 'boolean', default: false, description: 'not ported: must stay false' },
      },
    },
    build: (cfg) => {
      if (cfg.amsgrad) throw new Error(`amsgrad is not available in tsdet's ${type}`);
      const defaults = { lr: cfg.lr, betas: cfg.betas, eps: cfg.eps, weight_decay: cfg.weight_decay };
      return { type, defaults, create: (params, groups) => new Adam(params, groups, decoupled) };
    },
  });
}

export const OPTIMIZER_DESCRIPTORS: ComponentDescriptor[] = [sgdDescriptor, adamDescriptor('Adam'), adamDescriptor('AdamW')];

export interface OptimWrapperConfig {
  type?: 'OptimWrapper';
  optimizer: { type: string } & Record<string, unknown>;
  clip_grad?: ClipGradConfig | null;
  accumulative_counts?: number;
  paramwise_cfg?: ParamwiseConfig;
}

/**
 * Builds the optimiser over `model`'s trainable parameters with paramwise groups; `lrScale`
 * multiplies the configured lr first (auto_scale_lr).
 */
export function buildOptimWrapper(model: TrainableModel, cfg: OptimWrapperConfig, lrScale = 1): OptimWrapper {
  const factory = OPTIMIZERS.build<OptimizerFactory>(cfg.optimizer, { path: 'optim_wrapper.optimizer' });
  const base = { ...factory.defaults, lr: factory.defaults.lr * lrScale };
  const { params, groups } = buildParamGroups(model, base, cfg.paramwise_cfg ?? {});
  if (params.length === 0) throw new Error('optim_wrapper: the model has no trainable parameters (every parameter has requiresGrad false)');
  return new OptimWrapper(model, factory.create(params, groups), params, { clipGrad: cfg.clip_grad ?? null, accumulativeCounts: cfg.accumulative_counts ?? 1 });
}
