/**
 * Binds every component of this package into the registries, once. Registration is explicit
 * (no import side effects to forget): tools and tests call `registerModels()`.
 */
import { ContainerModule } from 'inversify';
import { kindToken, loadComponents, type ComponentDescriptor } from '@tsdet/core';
import { resnetDescriptor, resnetV1cDescriptor, resnetV1dDescriptor } from './backbones/resnet/resnet.descriptor.js';
import { registerDetectionConfigSections } from './detectors/config-sections.js';
import { DETECTOR_DESCRIPTORS } from './detectors/index.js';
import { fpnDescriptor } from './necks/fpn/fpn.descriptor.js';
import { PLUGIN_DESCRIPTORS } from './plugins/index.js';
import { ASSIGNER_SAMPLER_DESCRIPTORS, ROI_EXTRACTOR_DESCRIPTORS, TASK_MODULE_DESCRIPTORS } from './task-modules/index.js';

const MODEL_DESCRIPTORS: ComponentDescriptor[] = [resnetDescriptor, resnetV1cDescriptor, resnetV1dDescriptor, fpnDescriptor, ...PLUGIN_DESCRIPTORS, ...ROI_EXTRACTOR_DESCRIPTORS, ...DETECTOR_DESCRIPTORS];
const TASK_UTIL_DESCRIPTORS: ComponentDescriptor[] = [...TASK_MODULE_DESCRIPTORS, ...ASSIGNER_SAMPLER_DESCRIPTORS];

let registered = false;

export const modelsContainerModule = new ContainerModule(({ bind }) => {
  for (const descriptor of MODEL_DESCRIPTORS) bind(kindToken('MODELS')).toConstantValue(descriptor);
  for (const descriptor of TASK_UTIL_DESCRIPTORS) bind(kindToken('TASK_UTILS')).toConstantValue(descriptor);
});

export function registerModels(): void {
  if (registered) return;
  registered = true;
  loadComponents(modelsContainerModule);
  registerDetectionConfigSections();
}
