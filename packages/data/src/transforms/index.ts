import type { ComponentDescriptor } from '@tsdet/core';
import { composeDescriptor } from './compose.js';
import { loadAnnotationsDescriptor } from './load-annotations.js';
import { loadImageFromFileDescriptor } from './load-image-from-file.js';
import { packDetInputsDescriptor } from './pack-det-inputs.js';
import { randomFlipDescriptor } from './random-flip.js';
import { resizeDescriptor } from './resize.js';

export * from './compose.js';
export * from './load-annotations.js';
export * from './load-image-from-file.js';
export * from './pack-det-inputs.js';
export * from './random-flip.js';
export * from './resize.js';
export * from './types.js';

/** Every transform of this package, for the TRANSFORMS registry. */
export const TRANSFORM_DESCRIPTORS: ComponentDescriptor[] = [
  composeDescriptor,
  loadImageFromFileDescriptor,
  loadAnnotationsDescriptor,
  resizeDescriptor,
  randomFlipDescriptor,
  packDetInputsDescriptor,
];
