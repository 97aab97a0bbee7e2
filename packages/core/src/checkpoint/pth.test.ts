import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'chai';
import { unzipSync, zipSync } from 'fflate';

import {
  float32Bytes,
  global,
  int,
  OP,
  pickle,
  rebuildTensor,
  storageRef,
  str,
  torchZip,
  tuple,
} from '../../tests-data/checkpoint/craft-pickle.js';
import { expectCheckpointError, expectedFromTorch, expectMatchesTorch, TORCH_DATA } from '../../tests-data/checkpoint/test-helpers.js';
import { loadPth, PickleGlobalRef, UnsupportedPickleObject } from './pth.js';
import type { RawTensor } from './raw-tensor.js';

describe('checkpoint/pth', () => {
  describe('files written by torch (tests-data/checkpoint/make-pth.py)', () => {
    it('reads every tensor of a Sequential state dict exactly as torch sees it', () => {
      const loaded = loadPth(join(TORCH_DATA, 'sequential.pth')) as Record<string, RawTensor>;
      const expected = expectedFromTorch('sequential.pth');
      expect(Object.keys(loaded)).to.deep.equal(Object.keys(expected));
      expect(Object.keys(expected).length).to.equal(27); // 9 module entries + 18 extras
      // The tricky layouts must be part of what is compared.
      expect(Object.keys(loaded)).to.include.members([
        '1.num_batches_tracked',
        'extra.half',
        'extra.bf16',
        'extra.transposed',
        'extra.view_offset',
        'extra.row_view',
        'extra.permuted',
        'extra.expanded',
        'extra.scalar',
        'extra.empty',
        'extra.bool',
      ]);
      for (const [key, record] of Object.entries(expected)) expectMatchesTorch(loaded[key], record, key);
      expect(loaded['1.num_batches_tracked']).to.deep.equal({ dtype: 'int64', shape: [], data: BigInt64Array.from([7n]) });
      expect(Array.from(loaded['extra.view_offset']!.data as Float32Array)).to.deep.equal([8, 9, 10, 14, 15, 16]);
    });

    it('gives tensors that shared a storage in torch independent copies', () => {
      const loaded = loadPth(join(TORCH_DATA, 'sequential.pth')) as Record<string, RawTensor>;
      const base = loaded['extra.base']!.data as Float32Array;
      const row = loaded['extra.row_view']!.data as Float32Array;
      expect(row.buffer).to.not.equal(base.buffer);
      row[0] = -1;
      expect(base[12]).to.equal(12);
    });

    it('keeps the structure of an mmdet checkpoint: nested dicts, tuples, ints, prefixed keys', () => {
      const loaded = loadPth(join(TORCH_DATA, 'mmdet-style.pth')) as { meta: unknown; state_dict: Record<string, RawTensor> };
      expect(loaded.meta).to.deep.equal({ epoch: 3, CLASSES: ['cat', 'dog'] });
      expect(Object.keys(loaded.state_dict)).to.deep.equal(['module.conv.weight', 'module.conv.bias', 'module.bn.num_batches_tracked']);
    });

    it('turns unknown classes into inert placeholders and never runs what a pickle asks for', () => {
      const loaded = loadPth(join(TORCH_DATA, 'custom-object.pth')) as { meta: Record<string, unknown> };
      const foo = loaded.meta['foo'] as UnsupportedPickleObject;
      expect(foo).to.be.instanceOf(UnsupportedPickleObject);
      expect(foo.global).to.equal('__main__.Foo');
      expect(foo.state).to.deep.equal({ x: 1, label: 'foo' });
      const exploit = loaded.meta['exploit'] as UnsupportedPickleObject;
      expect(exploit).to.be.instanceOf(UnsupportedPickleObject);
      expect(exploit.global).to.equal('posix.system');
      expect(exploit.args).to.deep.equal(['echo pwned > /tmp/tsdet-pickle-pwned']);
      expect(loaded.meta['seed']).to.equal(42);
    });

    it('rejects the legacy (non-zip) format with a hint to re-save', () => {
      const file = join(TORCH_DATA, 'legacy.pth');
      expectCheckpointError(() => loadPth(file), file, /legacy.*re-save with torch >= 1\.6 default zip serialization/);
    });

    it('names the unsupported storage class (complex64) and the file', () => {
      const file = join(TORCH_DATA, 'complex.pth');
      expectCheckpointError(() => loadPth(file), file, /unsupported global torch\.ComplexFloatStorage/);
    });
  });

  describe('hand-made pickles', () => {
    const load = (dataPkl: Uint8Array, storages?: Record<string, Uint8Array>) => loadPth(torchZip(dataPkl, storages), 'crafted.pth');

    it('an unknown global called with REDUCE is recorded, not executed', () => {
      const code = 'globalThis.tsdetPwned = true';
      const result = load(pickle(OP.PROTO2, global('builtins', 'eval'), str(code), OP.TUPLE1, OP.REDUCE, OP.STOP));
      expect(result).to.be.instanceOf(UnsupportedPickleObject);
      expect(result).to.deep.include({ global: 'builtins.eval', args: [code] });
      expect((globalThis as Record<string, unknown>)['tsdetPwned']).to.equal(undefined);
    });

    it('an unknown class built with NEWOBJ + BUILD keeps its state; a bare global becomes a reference', () => {
      const built = load(
        pickle(OP.PROTO2, global('__main__', 'Foo'), OP.EMPTY_TUPLE, OP.NEWOBJ, OP.EMPTY_DICT, str('x'), int(1), OP.SETITEM, OP.BUILD, OP.STOP),
      ) as UnsupportedPickleObject;
      expect(built).to.be.instanceOf(UnsupportedPickleObject);
      expect(built.state).to.deep.equal({ x: 1 });
      expect(load(pickle(OP.PROTO2, global('builtins', 'print'), OP.STOP))).to.deep.equal(new PickleGlobalRef('builtins.print'));
    });

    it('a "__proto__" dict key stays an ordinary key (no prototype pollution)', () => {
      const result = load(
        pickle(OP.PROTO2, OP.EMPTY_DICT, str('__proto__'), OP.EMPTY_DICT, str('polluted'), str('yes'), OP.SETITEM, OP.SETITEM, OP.STOP),
      ) as Record<string, unknown>;
      expect(Object.getPrototypeOf(result)).to.equal(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(result, '__proto__')?.value).to.deep.equal({ polluted: 'yes' });
      expect(({} as Record<string, unknown>)['polluted']).to.equal(undefined);
    });

    it('cyclic structures convert without recursing forever', () => {
      const list = load(pickle(OP.PROTO2, OP.EMPTY_LIST, OP.BINPUT, 0, OP.BINGET, 0, OP.APPEND, OP.STOP)) as unknown[];
      expect(list[0]).to.equal(list);
    });

    it('allowlisted helpers: protocol-2 bytes (_codecs.encode), sets, torch.Size, a bare storage', () => {
      expect(load(pickle(OP.PROTO2, global('_codecs', 'encode'), str('\u00ff\u0001'), str('latin1'), OP.TUPLE2, OP.REDUCE, OP.STOP))).to.deep.equal(
        Uint8Array.from([255, 1]),
      );
      expect(load(pickle(OP.PROTO2, global('__builtin__', 'set'), OP.EMPTY_LIST, int(4), OP.APPEND, OP.TUPLE1, OP.REDUCE, OP.STOP))).to.deep.equal([4]);
      expect(load(pickle(OP.PROTO2, global('torch', 'Size'), ...tuple(int(2), int(3)), OP.TUPLE1, OP.REDUCE, OP.STOP))).to.deep.equal([2, 3]);
      const storage = load(pickle(OP.PROTO2, ...storageRef('FloatStorage', '0', 2), OP.STOP), { '0': float32Bytes(1, 2) });
      expect(storage).to.deep.equal({ dtype: 'float32', shape: [2], data: Float32Array.from([1, 2]) });
    });

    it('a tensor view must fit its storage', () => {
      const tensor = (size: number) =>
        pickle(OP.PROTO2, ...rebuildTensor(storageRef('FloatStorage', '0', 2), 0, [size], [1]), OP.STOP);
      expect(load(tensor(2), { '0': float32Bytes(1, 2) })).to.deep.equal({ dtype: 'float32', shape: [2], data: Float32Array.from([1, 2]) });
      expectCheckpointError(() => load(tensor(3), { '0': float32Bytes(1, 2) }), 'crafted.pth', /exceeds storage of 2 elements/, {
        key: 'storage 0',
      });
    });

    it('a storage entry that is missing or shorter than declared', () => {
      const tensor = pickle(OP.PROTO2, ...rebuildTensor(storageRef('FloatStorage', '0', 2), 0, [2], [1]), OP.STOP);
      expectCheckpointError(() => load(tensor, {}), 'crafted.pth', /missing zip entry archive\/data\/0/);
      expectCheckpointError(() => load(tensor, { '0': float32Bytes(1) }), 'crafted.pth', /has 4 bytes, storage needs 8/);
    });

    it('a zip without exactly one data.pkl, or recorded as big-endian', () => {
      const noPickle = zipSync({ 'archive/other': new Uint8Array(1) });
      expectCheckpointError(() => loadPth(noPickle, 'x.pth'), 'x.pth', /found 0/);
      const bigEndian = torchZip(pickle(OP.PROTO2, OP.NONE, OP.STOP), {}, { 'archive/byteorder': new TextEncoder().encode('big') });
      expectCheckpointError(() => loadPth(bigEndian, 'x.pth'), 'x.pth', /byte order "big"/);
    });
  });

  describe('damaged files', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'tsdet-pth-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('a truncated .pth names the file', () => {
      const bytes = readFileSync(join(TORCH_DATA, 'sequential.pth'));
      for (const keep of [bytes.length - 10, Math.floor(bytes.length / 2), 10]) {
        const file = join(dir, `truncated-${keep}.pth`);
        writeFileSync(file, bytes.subarray(0, keep));
        expectCheckpointError(() => loadPth(file), file, /corrupt or truncated zip/);
      }
    });

    it('a zip whose data.pkl is cut short', () => {
      const entries = unzipSync(readFileSync(join(TORCH_DATA, 'sequential.pth')));
      entries['sequential/data.pkl'] = entries['sequential/data.pkl']!.subarray(0, 100);
      expectCheckpointError(() => loadPth(zipSync(entries, { level: 0 }), 'cut.pth'), 'cut.pth', /corrupt or unsupported data\.pkl/);
    });

    it('a non-zip garbage file', () => {
      const file = join(dir, 'garbage.pth');
      writeFileSync(file, 'this is not a checkpoint at all');
      expectCheckpointError(() => loadPth(file), file, /not a PyTorch checkpoint: expected a zip archive/);
    });

    it('a missing file', () => {
      const file = join(dir, 'absent.pth');
      expectCheckpointError(() => loadPth(file), file, /ENOENT/);
    });
  });
});
