export * from './coco-annotations.js';
export * from './coco-dataset.js';
export * from './data-issues.js';
export * from './det-dataset.js';
