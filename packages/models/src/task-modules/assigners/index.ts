/**
 * Prior-to-gt assigners (MaxIoUAssigner) and, for registration together, the sampler
 * descriptors: ASSIGNER_SAMPLER_DESCRIPTORS belong in the TASK_UTILS registry.
 */
import type { ComponentDescriptor } from '@tsdet/core';
import { pseudoSamplerDescriptor, randomSamplerDescriptor } from '../samplers/random-sampler.descriptor.js';
import { maxIoUAssignerDescriptor } from './max-iou-assigner.descriptor.js';

export * from './assign-result.js';
export * from './assigner.js';
export * from './max-iou-assigner.js';
export * from './max-iou-assigner.schema.js';
export * from './max-iou-assigner.descriptor.js';

/** For the TASK_UTILS registry: MaxIoUAssigner, RandomSampler and PseudoSampler. */
export const ASSIGNER_SAMPLER_DESCRIPTORS: ComponentDescriptor[] = [maxIoUAssignerDescriptor, randomSamplerDescriptor, pseudoSamplerDescriptor];
