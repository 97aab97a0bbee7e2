export * from './draw-shapes-image.js';
export * from './geometry.js';
export * from './make-shapes-dataset.js';
