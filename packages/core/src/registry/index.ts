export * from './closest.js';
export * from './config-sections.js';
export * from './descriptor.js';
export * from './issues.js';
export * from './kinds.js';
export * from './registry.js';
export { componentList, componentRef, validateComponent, validateTree, type ComponentRefOptions } from './validator.js';
export * from './prepare-config.js';
export * from './schema-builders.js';
