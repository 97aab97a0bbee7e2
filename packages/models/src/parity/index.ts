export * from './compare.js';
export * from './fixture-case.js';
export * from './module-case.js';
export * from './run-case.js';
export * from './runners.js';
// The detector runner's set comparison, for other runtimes' parity runners (@tsdet/onnx).
export { compareInstanceSets, matchInstanceSets, SET_BOX_TOLERANCE, SET_SCORE_TOLERANCE } from '../detectors/parity-runner.js';
