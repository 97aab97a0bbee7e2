/**
 * Task modules of two-stage detectors: anchors, the delta box coder, mmcv-exact NMS, trainable
 * RoIAlign and the single-level RoI extractor, with their registry descriptors.
 */
import type { ComponentDescriptor } from '@tsdet/core';
import { anchorGeneratorDescriptor } from './anchor-generator/anchor-generator.descriptor.js';
import { deltaXYWHBBoxCoderDescriptor } from './bbox-coder/delta-xywh-bbox-coder.descriptor.js';
import { singleRoIExtractorDescriptor } from './roi-extractor/single-roi-extractor.descriptor.js';

export * from './anchor-generator/anchor-generator.js';
export * from './assigners/index.js';
export * from './bbox-overlaps/index.js';
export * from './samplers/index.js';
export * from './anchor-generator/anchor-generator.descriptor.js';
export * from './bbox-coder/delta-xywh-bbox-coder.js';
export * from './bbox-coder/delta-xywh-bbox-coder.descriptor.js';
export * from './nms/index.js';
export * from './roi-align/index.js';
export * from './roi-extractor/single-roi-extractor.js';
export * from './roi-extractor/single-roi-extractor.descriptor.js';

/** For the TASK_UTILS registry. */
export const TASK_MODULE_DESCRIPTORS: ComponentDescriptor[] = [anchorGeneratorDescriptor, deltaXYWHBBoxCoderDescriptor];

/** For the MODELS registry. */
export const ROI_EXTRACTOR_DESCRIPTORS: ComponentDescriptor[] = [singleRoIExtractorDescriptor];
