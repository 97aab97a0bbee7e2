export * from './autograd/index.js';
export * from './backend/index.js';
export * from './checkpoint/index.js';
export * from './config/index.js';
export * from './nn/index.js';
export * from './registry/index.js';
export * from './testing/index.js';
export * from './random/seeded-random.js';
