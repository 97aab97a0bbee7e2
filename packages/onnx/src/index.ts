/**
 * @tsdet/onnx: tsdet models exported to ONNX from TypeScript and run on ONNX Runtime
 * (onnxruntime-node here, onnxruntime-web in browsers). See docs/onnx.md.
 */
export * from './graph/attributes.js';
export * from './graph/graph-builder.js';
export * from './export/registry.js';
export * from './export/layers.js';
export * from './export/box-ops.js';
export * from './export/export-module.js';
export * from './export/export-detector.js';
export * from './runtime/ort-session.js';
export * from './runtime/onnx-detector.js';
export * from './parity/onnx-parity.js';
export * from './runtime/onnx-inference.js';
