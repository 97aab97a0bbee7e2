/**
 * What a head needs of an assigner (mmdet's BaseAssigner.assign): priors against gts, with
 * optional ignore boxes, on flat host arrays. MaxIoUAssigner fits; a third-party assigner
 * registered in TASK_UTILS only has to have the same face.
 */
import type { AssignResult } from './assign-result.js';

export interface PriorAssigner {
  /** priors / gtBboxes / gtBboxesIgnore flat [N * 4] (x1, y1, x2, y2); one label per gt. */
  assign(priors: ArrayLike<number>, gtBboxes: ArrayLike<number>, gtLabels: ArrayLike<number>, gtBboxesIgnore?: ArrayLike<number>): AssignResult;
}

export function isPriorAssigner(value: unknown): value is PriorAssigner {
  return typeof value === 'object' && value !== null && typeof (value as { assign?: unknown }).assign === 'function';
}
