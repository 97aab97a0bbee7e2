import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect } from 'chai';

import { dataAsBytes, toFloat32, type DType } from './raw-tensor.js';
import { readSafetensors } from './safetensors.js';

// packages/core/src/checkpoint -> repository root
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const FIXTURES = process.env['TSDET_FIXTURES'] ?? resolve(REPO_ROOT, '../shared/fixtures');
const FILE_DTYPES: Record<string, DType> = { F32: 'float32', I64: 'int64' };

interface IndependentEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** The header parsed here, without the code under test. */
function parseHeaderIndependently(bytes: Buffer): { dataStart: number; entries: Record<string, IndependentEntry> } {
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const json = JSON.parse(bytes.toString('utf8', 8, 8 + headerLength)) as Record<string, unknown>;
  delete json['__metadata__'];
  return { dataStart: 8 + headerLength, entries: json as Record<string, IndependentEntry> };
}

function fixtureFiles(): string[] {
  if (!existsSync(FIXTURES)) throw new Error(`fixtures folder not found: ${FIXTURES} (set TSDET_FIXTURES)`);
  return readdirSync(FIXTURES, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => ['weights.safetensors', 'io.safetensors'].map((name) => join(FIXTURES, entry.name, name)))
    .filter((file) => existsSync(file));
}

describe('checkpoint/safetensors on the shared golden fixtures', () => {
  it('reads every weights/io file; dtype, shape and bytes match an independent header parse', () => {
    const files = fixtureFiles();
    expect(files.length, `safetensors files under ${FIXTURES}`).to.be.greaterThan(10);
    let tensorCount = 0;
    for (const file of files) {
      const { tensors } = readSafetensors(file);
      const raw = readFileSync(file);
      const { dataStart, entries } = parseHeaderIndependently(raw);
      expect([...tensors.keys()].sort(), file).to.deep.equal(Object.keys(entries).sort());
      for (const [key, entry] of Object.entries(entries)) {
        const tensor = tensors.get(key)!;
        const [begin, end] = entry.data_offsets;
        expect(tensor.dtype, `${file} ${key}`).to.equal(FILE_DTYPES[entry.dtype]);
        expect(tensor.shape, `${file} ${key}`).to.deep.equal(entry.shape);
        expect(tensor.data.byteLength, `${file} ${key}`).to.equal(end - begin);
        const expectedBytes = raw.subarray(dataStart + begin, dataStart + end);
        expect(Buffer.compare(dataAsBytes(tensor.data), expectedBytes), `${file} ${key} bytes`).to.equal(0);
        tensorCount++;
      }
    }
    expect(tensorCount).to.be.greaterThan(1000);
  });

  it('BatchNorm buffers look right: num_batches_tracked is an int64 scalar, running_var is positive', () => {
    let batchesTracked = 0;
    let runningVars = 0;
    for (const file of fixtureFiles().filter((name) => name.endsWith('weights.safetensors'))) {
      for (const [key, tensor] of readSafetensors(file).tensors) {
        if (key.endsWith('num_batches_tracked')) {
          expect(tensor.dtype, `${file} ${key}`).to.equal('int64');
          expect(tensor.shape, `${file} ${key}`).to.deep.equal([]);
          expect(tensor.data.length).to.equal(1);
          batchesTracked++;
        }
        if (key.endsWith('running_var')) {
          const values = toFloat32(tensor);
          expect(values.every((value) => value > 0), `${file} ${key}`).to.equal(true);
          runningVars++;
        }
      }
    }
    expect(batchesTracked).to.be.greaterThan(50);
    expect(runningVars).to.equal(batchesTracked);
  });
});
