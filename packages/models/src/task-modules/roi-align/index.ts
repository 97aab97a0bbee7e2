export * from './roi-align.js';
export { buildSamplingPlan, entriesByPixel, pairOf, type LevelEntries, type LevelGeometry, type SamplingPlan } from './sampling-plan.js';
