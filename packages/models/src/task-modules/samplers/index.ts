export * from './random-sampler.js';
export * from './random-sampler.descriptor.js';
export * from './sampling-result.js';
