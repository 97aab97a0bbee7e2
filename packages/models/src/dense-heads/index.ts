/** Dense (per-anchor) heads: the RPN. */
import type { ComponentDescriptor } from '@tsdet/core';
import { rpnHeadDescriptor } from './rpn-head/rpn-head.descriptor.js';

export * from './rpn-head/anchor-targets.js';
export * from './rpn-head/proposals.js';
export * from './rpn-head/rpn-head.js';
export * from './rpn-head/rpn-head.descriptor.js';
export * from './rpn-head/rpn-head.schema.js';

/** For the MODELS registry. */
export const DENSE_HEAD_DESCRIPTORS: ComponentDescriptor[] = [rpnHeadDescriptor];
