export * from './coco-types.js';
export * from './coco-eval.js';
export * from './coco-metric.js';
