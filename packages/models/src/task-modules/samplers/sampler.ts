/**
 * What a head needs of a sampler (mmdet's BaseSampler.sample) on flat host arrays: RandomSampler
 * and PseudoSampler fit. `random` is the PRNG to draw from (default: the training stream).
 */
import type { AssignResult } from '../assigners/assign-result.js';
import type { SamplingResult } from './sampling-result.js';

export interface PriorSampler {
  sample(assignResult: AssignResult, priors: ArrayLike<number>, gtBboxes: ArrayLike<number>, gtLabels: ArrayLike<number>, random?: () => number): SamplingResult;
}

export function isPriorSampler(value: unknown): value is PriorSampler {
  return typeof value === 'object' && value !== null && typeof (value as { sample?: unknown }).sample === 'function';
}
