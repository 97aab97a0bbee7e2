/**
 * Two-stage detectors and everything they are built from that this folder's siblings add: the
 * RPN head, the RoI and box heads and the losses. DETECTOR_DESCRIPTORS lists every MODELS
 * component among them, for register.ts.
 */
import type { ComponentDescriptor } from '@tsdet/core';
import { DENSE_HEAD_DESCRIPTORS } from '../dense-heads/index.js';
import { LOSS_DESCRIPTORS } from '../losses/index.js';
import { ROI_HEAD_DESCRIPTORS } from '../roi-heads/index.js';
import { fasterRCNNDescriptor, twoStageDetectorDescriptor } from './two-stage.descriptor.js';

export * from '../dense-heads/index.js';
export * from '../losses/index.js';
export * from '../roi-heads/index.js';
export * from './config-sections.js';
export * from './parts.js';
export * from './shape-checks.js';
export * from './structures.js';
export * from './train-test-cfg.schema.js';
export * from './two-stage.js';
export * from './two-stage.descriptor.js';

/** For the MODELS registry: detectors, heads and losses. */
export const DETECTOR_DESCRIPTORS: ComponentDescriptor[] = [twoStageDetectorDescriptor, fasterRCNNDescriptor, ...DENSE_HEAD_DESCRIPTORS, ...ROI_HEAD_DESCRIPTORS, ...LOSS_DESCRIPTORS];
