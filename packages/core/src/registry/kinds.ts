import type { ServiceIdentifier } from 'inversify';
import type { ComponentDescriptor } from './descriptor.js';

/** The registries, as mmengine's roots that detection needs (mmdet §5.1). */
export const REGISTRY_KINDS = ['MODELS', 'TASK_UTILS', 'DATASETS', 'TRANSFORMS', 'HOOKS', 'OPTIMIZERS', 'PARAM_SCHEDULERS', 'METRICS'] as const;
export type RegistryKind = (typeof REGISTRY_KINDS)[number];

/** Container token under which every descriptor of a kind is bound (unnamed, so getAll sees them). */
export function kindToken(kind: RegistryKind): ServiceIdentifier<ComponentDescriptor> {
  return Symbol.for(`tsdet.registry.${kind}`);
}
