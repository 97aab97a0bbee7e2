export * from './compare.js';
export * from './fixture-case.js';
export * from './module-case.js';
export * from './run-case.js';
export * from './runners.js';
