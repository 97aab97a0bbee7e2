export * from './module.js';
export * from './state-dict.js';
export * from './torch-layout.js';
export * from './summary.js';
export * from './pretrained.js';
export * from './losses.js';
