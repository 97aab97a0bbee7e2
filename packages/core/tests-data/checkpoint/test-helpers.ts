/** Test helpers shared by packages/core/src/checkpoint/*.test.ts. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect } from 'chai';

import { CheckpointError } from '../../src/checkpoint/errors.js';
import { toFloat32, type RawTensor } from '../../src/checkpoint/raw-tensor.js';

/** This folder: the .pth files written by make-pth.py and torch's expected.json. */
export const TORCH_DATA = dirname(fileURLToPath(import.meta.url));

/** Run `action`, expect a CheckpointError naming `file` (and `key`, when given) and matching `message`. */
export function expectCheckpointError(
  action: () => unknown,
  file: string,
  message: RegExp,
  expectations: { key?: string | undefined } = {},
): CheckpointError {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a CheckpointError').to.be.instanceOf(CheckpointError);
  const error = caught as CheckpointError;
  expect(error.file).to.equal(file);
  expect(error.message).to.include(file);
  expect(error.message).to.match(message);
  if ('key' in expectations) {
    expect(error.key).to.equal(expectations.key);
    if (expectations.key !== undefined) expect(error.message).to.include(expectations.key);
  }
  return error;
}

type JsonFloat = number | 'inf' | '-inf';

export interface ExpectedTensor {
  dtype: string;
  shape: number[];
  values: JsonFloat[];
  /** float16/bfloat16 only: raw bits; `values` then holds torch's float32 conversion. */
  bits?: number[];
}

/** torch's own record of the tensors of one generated file. */
export function expectedFromTorch(file: string): Record<string, ExpectedTensor> {
  const expected = JSON.parse(readFileSync(join(TORCH_DATA, 'expected.json'), 'utf8')) as {
    files: Record<string, Record<string, ExpectedTensor>>;
  };
  const records = expected.files[file];
  if (records === undefined) throw new Error(`expected.json has no entry for ${file}`);
  return records;
}

const asNumber = (value: JsonFloat): number => (value === 'inf' ? Infinity : value === '-inf' ? -Infinity : value);

/** Compare a loaded tensor with torch's record, element by element and exactly (Object.is: -0 counts). */
export function expectMatchesTorch(tensor: RawTensor | undefined, expected: ExpectedTensor, key: string): void {
  expect(tensor, key).to.not.equal(undefined);
  const { dtype, shape, data } = tensor!;
  expect(dtype, key).to.equal(expected.dtype);
  expect(shape, key).to.deep.equal(expected.shape);
  expect(data.length, key).to.equal(expected.values.length);
  if (expected.bits !== undefined) {
    expect(Array.from(data as Uint16Array), `${key} bits`).to.deep.equal(expected.bits);
    const decoded = toFloat32(tensor!);
    expected.values.forEach((value, i) => expect(Object.is(decoded[i], asNumber(value)), `${key}[${i}] decoded`).to.equal(true));
  } else if (data instanceof BigInt64Array) {
    expect(Array.from(data), key).to.deep.equal(expected.values.map((value) => BigInt(value)));
  } else {
    const actual = Array.from(data as Float64Array);
    expected.values.forEach((value, i) =>
      expect(Object.is(actual[i], asNumber(value)), `${key}[${i}]: ${actual[i]} vs ${value}`).to.equal(true),
    );
  }
}
