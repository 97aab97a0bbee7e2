export * from './pseudo-sampler.js';
export * from './random-sampler.js';
export * from './random-sampler.descriptor.js';
export * from './sampler.js';
export * from './sampling-result.js';
