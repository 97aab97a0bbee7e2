export * from './build-dataloader.js';
export * from './derive-seed.js';
export * from './prefetch.js';
export * from './samplers.js';
