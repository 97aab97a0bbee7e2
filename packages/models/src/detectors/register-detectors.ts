/**
 * Until register.ts lists DETECTOR_DESCRIPTORS and calls registerDetectionConfigSections: loads
 * the package's components, then this issue's, each only if missing. registerModels() runs
 * first, so a later registerModels() is a no-op and never sees ours as duplicates. Not exported
 * from index.ts: this file imports register.ts, which will import index.ts.
 */
import { MODELS } from '@tsdet/core';
import { registerModels } from '../register.js';
import { registerDetectionConfigSections } from './config-sections.js';
import { DETECTOR_DESCRIPTORS } from './index.js';

export function registerDetectors(): void {
  registerModels();
  for (const descriptor of DETECTOR_DESCRIPTORS) if (!MODELS.has(descriptor.type)) MODELS.register(descriptor);
  registerDetectionConfigSections();
}
