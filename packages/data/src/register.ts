/**
 * Binds every component of this package into the registries, once. Registration is explicit
 * (no import side effects to forget): tools and tests call `registerData()`.
 */
import { ContainerModule } from 'inversify';
import { kindToken, loadComponents } from '@tsdet/core';
import { cocoDatasetDescriptor } from './datasets/coco-dataset.js';
import { cocoMetricDescriptor } from './evaluation/index.js';
import { detDataPreprocessorDescriptor } from './preprocessor/det-data-preprocessor.js';
import { TRANSFORM_DESCRIPTORS } from './transforms/index.js';

let registered = false;

export const dataContainerModule = new ContainerModule(({ bind }) => {
  for (const descriptor of TRANSFORM_DESCRIPTORS) bind(kindToken('TRANSFORMS')).toConstantValue(descriptor);
  bind(kindToken('MODELS')).toConstantValue(detDataPreprocessorDescriptor);
  bind(kindToken('METRICS')).toConstantValue(cocoMetricDescriptor);
  bind(kindToken('DATASETS')).toConstantValue(cocoDatasetDescriptor);
});

export function registerData(): void {
  if (registered) return;
  registered = true;
  loadComponents(dataContainerModule);
}
