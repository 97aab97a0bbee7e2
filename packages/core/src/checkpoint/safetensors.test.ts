import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'chai';

import { expectCheckpointError as expectError } from '../../tests-data/checkpoint/test-helpers.js';
import type { RawTensor } from './raw-tensor.js';
import { readSafetensors, serializeSafetensors, writeSafetensors } from './safetensors.js';

/** One tensor of every dtype, including scalars and an empty tensor. */
function sampleTensors(): Map<string, RawTensor> {
  return new Map<string, RawTensor>([
    ['f32', { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1.5, -2, 0, 3e-38, 1e30, -0.25]) }],
    ['f16', { dtype: 'float16', shape: [3], data: Uint16Array.from([0x3c00, 0x7bff, 0x8001]) }],
    ['bf16', { dtype: 'bfloat16', shape: [1, 2], data: Uint16Array.from([0x3f80, 0xc020]) }],
    ['f64.scalar', { dtype: 'float64', shape: [], data: Float64Array.from([Math.PI]) }],
    ['i64', { dtype: 'int64', shape: [2], data: BigInt64Array.from([-(2n ** 62n), 5n]) }],
    ['i64.scalar', { dtype: 'int64', shape: [], data: BigInt64Array.from([7n]) }],
    ['i32', { dtype: 'int32', shape: [2, 1], data: Int32Array.from([-(2 ** 31), 2 ** 31 - 1]) }],
    ['i16', { dtype: 'int16', shape: [3], data: Int16Array.from([-32768, 1, 32767]) }],
    ['i8', { dtype: 'int8', shape: [1], data: Int8Array.from([-128]) }],
    ['u8', { dtype: 'uint8', shape: [2], data: Uint8Array.from([0, 255]) }],
    ['bool', { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) }],
    ['empty', { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) }],
  ]);
}

function headerOf(bytes: Uint8Array): { length: number; text: string; json: Record<string, unknown> } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + length));
  return { length, text, json: JSON.parse(text) as Record<string, unknown> };
}

/** A file with the given header object (JSON-encoded as is) and `dataBytes` zero bytes of data. */
function craft(header: unknown, dataBytes: number, headerText = JSON.stringify(header)): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

/** Every error here must name the file and exactly this key (undefined: a file-level error). */
function expectCheckpointError(action: () => unknown, file: string, key: string | undefined, message: RegExp): void {
  expectError(action, file, message, { key });
}

describe('checkpoint/safetensors', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsdet-safetensors-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe('round trip', () => {
    it('writes and reads back every dtype, scalars and empty tensors, in order', () => {
      const tensors = sampleTensors();
      const path = join(dir, 'all.safetensors');
      writeSafetensors(path, tensors);
      const read = readSafetensors(path);
      expect([...read.tensors.keys()]).to.deep.equal([...tensors.keys()]);
      for (const [key, tensor] of tensors) expect(read.tensors.get(key), key).to.deep.equal(tensor);
      expect(read.metadata).to.deep.equal({});
    });

    it('accepts a plain record and keeps string metadata', () => {
      const path = join(dir, 'meta.safetensors');
      const record = { w: { dtype: 'float32', shape: [1], data: Float32Array.from([4]) } } satisfies Record<string, RawTensor>;
      writeSafetensors(path, record, { format: 'pt', note: 'héllo "quoted"' });
      const read = readSafetensors(path);
      expect(read.metadata).to.deep.equal({ format: 'pt', note: 'héllo "quoted"' });
      expect(read.tensors.get('w')).to.deep.equal(record.w);
      expect(headerOf(readFileSync(path)).json).to.have.property('__metadata__');
    });

    it('pads the header with spaces to a multiple of 8 and lays tensors out contiguously', () => {
      for (const name of ['a', 'ab', 'abc', 'abcd', 'abcde', 'abcdef', 'abcdefg', 'abcdefgh']) {
        const bytes = serializeSafetensors({ [name]: { dtype: 'uint8', shape: [3], data: Uint8Array.from([1, 2, 3]) } });
        const header = headerOf(bytes);
        expect(header.length % 8, name).to.equal(0);
        expect(header.text).to.equal(header.text.trimEnd() + ' '.repeat(header.length - header.text.trimEnd().length));
        expect(bytes.length).to.equal(8 + header.length + 3);
      }
      const header = headerOf(serializeSafetensors(sampleTensors())).json;
      let end = 0;
      for (const [key, entry] of Object.entries(header)) {
        const [begin, finish] = (entry as { data_offsets: [number, number] }).data_offsets;
        expect(begin, key).to.equal(end);
        end = finish;
      }
      expect((header['bf16'] as { dtype: string }).dtype).to.equal('BF16');
      expect((header['bool'] as { dtype: string }).dtype).to.equal('BOOL');
    });

    it('reads from a view at an odd offset inside a larger buffer and copies the data out', () => {
      const bytes = serializeSafetensors(sampleTensors());
      const host = new Uint8Array(bytes.length + 3);
      host.set(bytes, 3);
      const read = readSafetensors(host.subarray(3), 'in-memory');
      expect(read.tensors.get('f32')).to.deep.equal(sampleTensors().get('f32'));
      expect(read.tensors.get('i64')).to.deep.equal(sampleTensors().get('i64'));
      host.fill(0);
      expect(read.tensors.get('f32')!.data[0]).to.equal(1.5);
    });

    it('refuses to write inconsistent tensors, naming the destination and the key', () => {
      const path = join(dir, 'bad.safetensors');
      expectCheckpointError(
        () => writeSafetensors(path, { w: { dtype: 'float32', shape: [2, 2], data: new Float32Array(3) } }),
        path,
        'w',
        /needs 4 elements/,
      );
      expectCheckpointError(
        () => writeSafetensors(path, { w: { dtype: 'float16', shape: [1], data: new Float32Array(1) } }),
        path,
        'w',
        /Float32Array cannot hold float16/,
      );
      expectCheckpointError(
        () => writeSafetensors(path, { __metadata__: { dtype: 'uint8', shape: [0], data: new Uint8Array(0) } }),
        path,
        '__metadata__',
        /reserved/,
      );
    });
  });

  describe('corrupt input', () => {
    const label = 'corrupt.safetensors';
    const valid = () => serializeSafetensors({ a: { dtype: 'float32', shape: [2], data: Float32Array.from([1, 2]) }, b: { dtype: 'int64', shape: [], data: BigInt64Array.from([3n]) } });

    it('truncated data: names the file (path) and the tensor that runs past the end', () => {
      const path = join(dir, 'truncated.safetensors');
      const bytes = valid();
      writeFileSync(path, bytes.subarray(0, bytes.length - 4));
      expectCheckpointError(() => readSafetensors(path), path, 'b', /past the end.*truncated/);
    });

    it('file shorter than the length field', () => {
      expectCheckpointError(() => readSafetensors(new Uint8Array(5), label), label, undefined, /only 5 bytes/);
    });

    it('header length larger than the file', () => {
      const bytes = valid();
      new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
      expectCheckpointError(() => readSafetensors(bytes, label), label, undefined, /header length \d+ exceeds/);
      new DataView(bytes.buffer).setBigUint64(0, 2n ** 63n, true);
      expectCheckpointError(() => readSafetensors(bytes, label), label, undefined, /header length \d+ exceeds/);
    });

    it('header that is not JSON, not an object, or not UTF-8', () => {
      expectCheckpointError(() => readSafetensors(craft(null, 0, '{"a": '), label), label, undefined, /not valid UTF-8 JSON/);
      expectCheckpointError(() => readSafetensors(craft([1, 2], 0), label), label, undefined, /must be a JSON object/);
      const badUtf8 = craft(null, 0, '{"\u00e9":1}');
      badUtf8[10] = 0xff;
      expectCheckpointError(() => readSafetensors(badUtf8, label), label, undefined, /not valid UTF-8 JSON/);
    });

    it('unknown dtype, bad shape, bad offsets', () => {
      const entry = (fields: object) => ({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4], ...fields } });
      expectCheckpointError(() => readSafetensors(craft(entry({ dtype: 'F8_E4M3' }), 4), label), label, 'w', /unsupported dtype "F8_E4M3"/);
      expectCheckpointError(() => readSafetensors(craft(entry({ shape: [-1] }), 4), label), label, 'w', /invalid shape/);
      expectCheckpointError(() => readSafetensors(craft(entry({ shape: [1.5] }), 4), label), label, 'w', /invalid shape/);
      expectCheckpointError(() => readSafetensors(craft(entry({ data_offsets: [0] }), 4), label), label, 'w', /invalid data_offsets/);
      expectCheckpointError(() => readSafetensors(craft({ w: 5 }, 0), label), label, 'w', /must be an object/);
    });

    it('offsets that do not match the shape, run out of range, overlap or leave gaps', () => {
      const f32 = (begin: number, end: number, shape = [1]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
      expectCheckpointError(() => readSafetensors(craft({ w: f32(0, 8) }, 8), label), label, 'w', /do not hold shape \[1\]/);
      expectCheckpointError(() => readSafetensors(craft({ w: f32(4, 0, [0]) }, 4), label), label, 'w', /do not hold/);
      expectCheckpointError(() => readSafetensors(craft({ w: f32(4, 8) }, 4), label), label, 'w', /past the end/);
      expectCheckpointError(() => readSafetensors(craft({ v: f32(0, 4), w: f32(0, 4) }, 4), label), label, 'w', /overlap/);
      expectCheckpointError(() => readSafetensors(craft({ w: f32(4, 8) }, 8), label), label, 'w', /gap/);
      expectCheckpointError(() => readSafetensors(craft({ w: f32(0, 4) }, 12), label), label, undefined, /8 bytes after the last tensor/);
    });

    it('metadata that is not a string map', () => {
      expectCheckpointError(() => readSafetensors(craft({ __metadata__: { n: 1 } }, 0), label), label, '__metadata__', /strings to strings/);
    });

    it('missing file', () => {
      const path = join(dir, 'absent.safetensors');
      expectCheckpointError(() => readSafetensors(path), path, undefined, /cannot read file.*ENOENT/);
    });
  });
});
