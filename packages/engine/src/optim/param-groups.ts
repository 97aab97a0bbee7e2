/**
 * mmengine's DefaultOptimWrapperConstructor: one parameter group per trainable parameter, with
 * lr and weight decay adjusted by `paramwise_cfg`:
 *
 * - `custom_keys`: the first key (longest first, then alphabetical) contained in the parameter's
 *   name sets `lr = base_lr * lr_mult` and `weight_decay = base_wd * decay_mult`; no other rule
 *   applies to that parameter.
 * - otherwise `bias_lr_mult` scales the lr of biases outside norm layers; `norm_decay_mult` the
 *   decay of every norm-layer parameter; `bias_decay_mult` the decay of other biases;
 *   `flat_decay_mult` the decay of other 1-D parameters.
 *
 * mmengine matches keys against `f'{prefix}.{name}'`, so a top-level parameter is `.weight`;
 * nested ones are their state-dict names (`backbone.conv1.weight`). Frozen parameters
 * (requiresGrad false) are not optimised. DCN and depth-wise-conv rules are not ported (tsdet has
 * neither layer); `dwconv_decay_mult` is rejected by the schema.
 */
import type { Module } from '@tsdet/core';
import { NormLayer } from '@tsdet/models';
import type { BaseHyperParameters, OptimizedParameter, ParamGroup } from './sgd.js';

export interface CustomKeyConfig {
  lr_mult?: number;
  decay_mult?: number;
}

export interface ParamwiseConfig {
  bias_lr_mult?: number;
  bias_decay_mult?: number;
  norm_decay_mult?: number;
  flat_decay_mult?: number;
  bypass_duplicate?: boolean;
  custom_keys?: Record<string, CustomKeyConfig>;
}

export interface ParamGroupPlan {
  params: OptimizedParameter[];
  groups: ParamGroup[];
}

/** mmengine's key order: alphabetical, then (stable) longest first. */
function sortedCustomKeys(customKeys: Record<string, CustomKeyConfig>): string[] {
  return Object.keys(customKeys)
    .sort()
    .sort((a, b) => b.length - a.length);
}

interface ParameterSite {
  /** The name mmengine matches custom keys against. */
  matchName: string;
  /** The name of the parameter inside its module (`weight`, `bias`). */
  localName: string;
  isNorm: boolean;
  rank: number;
}

function groupFor<H extends BaseHyperParameters>(site: ParameterSite, base: H, cfg: ParamwiseConfig, keys: string[]): H {
  const group = { ...base };
  const customKey = keys.find((key) => site.matchName.includes(key));
  if (customKey !== undefined) {
    const { lr_mult = 1, decay_mult = 1 } = cfg.custom_keys![customKey]!;
    group.lr = base.lr * lr_mult;
    group.weight_decay = base.weight_decay * decay_mult;
    return group;
  }
  const isBias = site.localName === 'bias';
  if (isBias && !site.isNorm && cfg.bias_lr_mult !== undefined) group.lr = base.lr * cfg.bias_lr_mult;
  if (site.isNorm && cfg.norm_decay_mult !== undefined) group.weight_decay = base.weight_decay * cfg.norm_decay_mult;
  else if (isBias && cfg.bias_decay_mult !== undefined) group.weight_decay = base.weight_decay * cfg.bias_decay_mult;
  else if (site.rank === 1 && cfg.flat_decay_mult !== undefined) group.weight_decay = base.weight_decay * cfg.flat_decay_mult;
  return group;
}

/** The optimised parameters of `model` and their groups, in state-dict order. */
export function buildParamGroups(model: Module, base: BaseHyperParameters, cfg: ParamwiseConfig = {}): ParamGroupPlan {
  const keys = sortedCustomKeys(cfg.custom_keys ?? {});
  const params: OptimizedParameter[] = [];
  const groups: ParamGroup[] = [];
  const seen = new Set<unknown>();
  for (const [prefix, module] of model.namedModules()) {
    // Direct parameters of this module only: namedParameters() of a leaf lists exactly those.
    const own = module.namedParameters().filter(([name]) => !name.includes('.'));
    for (const [localName, parameter] of own) {
      if (!parameter.requiresGrad) continue;
      // A parameter shared by two modules is optimised once (mmengine: bypass_duplicate).
      if (seen.has(parameter.variable)) continue;
      seen.add(parameter.variable);
      const name = prefix ? `${prefix}.${localName}` : localName;
      const site = { matchName: `${prefix}.${localName}`, localName, isNorm: module instanceof NormLayer, rank: parameter.variable.rank };
      params.push({ name, variable: parameter.variable, layout: parameter.layout });
      groups.push({ ...groupFor(site, base, cfg, keys), params: [name] });
    }
  }
  return { params, groups };
}
