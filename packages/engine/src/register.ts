/**
 * Binds the engine's components (optimizers, param schedulers, hooks) into the registries and
 * declares the schedule / runtime config sections, once. Tools and tests call `registerEngine()`.
 */
import { ContainerModule } from 'inversify';
import { kindToken, loadComponents, registerConfigSection } from '@tsdet/core';
import { ENGINE_CONFIG_SECTIONS } from './config/sections.js';
import { HOOK_DESCRIPTORS } from './hooks/descriptors.js';
import { OPTIMIZER_DESCRIPTORS } from './optim/descriptors.js';
import { PARAM_SCHEDULER_DESCRIPTORS } from './schedulers/descriptors.js';

let registered = false;

export const engineContainerModule = new ContainerModule(({ bind }) => {
  for (const descriptor of OPTIMIZER_DESCRIPTORS) bind(kindToken('OPTIMIZERS')).toConstantValue(descriptor);
  for (const descriptor of PARAM_SCHEDULER_DESCRIPTORS) bind(kindToken('PARAM_SCHEDULERS')).toConstantValue(descriptor);
  for (const descriptor of HOOK_DESCRIPTORS) bind(kindToken('HOOKS')).toConstantValue(descriptor);
});

export function registerEngine(): void {
  if (registered) return;
  registered = true;
  loadComponents(engineContainerModule);
  for (const [key, schema] of Object.entries(ENGINE_CONFIG_SECTIONS)) registerConfigSection(key, schema);
}
