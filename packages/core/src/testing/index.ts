export * from './leaks.js';
export * from './thrown.js';
