/**
 * Shared helpers of the task-module tests: registering this folder's descriptors, building a
 * component from a config exactly as the registry does, seeded random data, and float
 * comparisons with a message naming the worst element.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigValidationError, MODELS, TASK_UTILS, type ComponentConfig } from '@tsdet/core';
import { registerModels } from '../register.js';


export function buildTaskUtil<T>(cfg: ComponentConfig): T {
  registerModels();
  return TASK_UTILS.build<T>(cfg, { path: 'test' });
}

export function buildModel<T>(cfg: ComponentConfig): T {
  registerModels();
  return MODELS.build<T>(cfg, { path: 'test' });
}

/** Building `cfg` fails schema validation with a message matching `pattern`. */
export function expectSchemaError(build: () => unknown, pattern: RegExp): void {
  expect(build).to.throw(ConfigValidationError).with.property('message').that.matches(pattern);
}

/**
 * Runs fn in a tfjs scope and disposes every tensor it created: tf.tidy for results that are
 * not tensors (tidy would walk a returned typed array element by element).
 */
export function scoped<T>(fn: () => T): T {
  tf.engine().startScope();
  try {
    return fn();
  } finally {
    tf.engine().endScope();
  }
}


/** |actual - expected| <= atol + rtol * |expected| everywhere; the failure names the worst element. */
export function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0): void {
  expect(actual.length, 'length').to.equal(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i]! - expected[i]!) - (atol + rtol * Math.abs(expected[i]!));
    if (!(excess <= worstExcess)) [worst, worstExcess] = [i, Number.isNaN(excess) ? Infinity : excess];
  }
  if (worst >= 0) expect.fail(`element ${worst}: got ${actual[worst]}, expected ${expected[worst]} (atol ${atol}, rtol ${rtol})`);
}

describe('task-module test helpers', () => {
  it('expectAllClose fails on a real difference and passes within tolerance', () => {
    expectAllClose([1, 2, 3], [1, 2.00001, 3], 1e-4);
    expect(() => expectAllClose([1, 2, 3.1], [1, 2, 3], 1e-3)).to.throw(/element 2/);
  });
});

