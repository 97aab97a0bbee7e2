/** RoI heads: the standard (box-only) RoI head and the ConvFC box heads. */
import type { ComponentDescriptor } from '@tsdet/core';
import { convFCBBoxHeadDescriptor, shared2FCBBoxHeadDescriptor, shared4Conv1FCBBoxHeadDescriptor } from './bbox-heads/convfc-bbox-head.descriptor.js';
import { standardRoIHeadDescriptor } from './standard-roi-head/standard-roi-head.descriptor.js';

export * from './bbox-heads/bbox-targets.js';
export * from './bbox-heads/convfc-bbox-head.js';
export * from './bbox-heads/convfc-bbox-head.descriptor.js';
export * from './bbox-heads/convfc-bbox-head.schema.js';
export * from './standard-roi-head/standard-roi-head.js';
export * from './standard-roi-head/standard-roi-head.descriptor.js';

/** For the MODELS registry. */
export const ROI_HEAD_DESCRIPTORS: ComponentDescriptor[] = [standardRoIHeadDescriptor, convFCBBoxHeadDescriptor, shared2FCBBoxHeadDescriptor, shared4Conv1FCBBoxHeadDescriptor];
