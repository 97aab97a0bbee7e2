/**
 * The attention and regularisation plugins ResNet blocks can host (mmdet-reference §2), and
 * their registry descriptors.
 */
import type { ComponentDescriptor } from '@tsdet/core';
import { contextBlockDescriptor } from './context-block.js';
import { dropBlockDescriptor } from './drop-block.js';
import { generalizedAttentionDescriptor } from './generalized-attention.js';
import { nonLocal2dDescriptor } from './non-local.js';

export * from './context-block.js';
export * from './drop-block.js';
export * from './generalized-attention.js';
export * from './non-local.js';

/** Every plugin's descriptor, for the MODELS registry. */
export const PLUGIN_DESCRIPTORS: ComponentDescriptor[] = [contextBlockDescriptor, generalizedAttentionDescriptor, nonLocal2dDescriptor, dropBlockDescriptor];
