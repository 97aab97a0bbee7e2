/**
 * Detection inference on image files (mmdet's apis/inference + DetInferencer, as tools/infer.ts
 * uses it): test pipeline from the config, a detector with a checkpoint, drawn PNGs and JSONs.
 * The detector is any registered MODELS component with `testStep`, registered by the caller
 * (registerModels() from @tsdet/models): this package does not depend on that one.
 */
export * from './class-names.js';
export * from './detection-record.js';
export * from './detector.js';
export * from './errors.js';
export * from './image-inputs.js';
export * from './inference-pipeline.js';
export * from './inference-session.js';
