import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

import { expect } from 'chai';

import { global, OP, pickle, str, torchZip } from '../../tests-data/checkpoint/craft-pickle.js';
import { expectCheckpointError, expectedFromTorch, expectMatchesTorch, TORCH_DATA } from '../../tests-data/checkpoint/test-helpers.js';
import { loadCheckpoint } from './load-checkpoint.js';
import { UnsupportedPickleObject } from './pth.js';
import type { RawTensor } from './raw-tensor.js';
import { writeSafetensors } from './safetensors.js';

const f32 = (...values: number[]): RawTensor => ({ dtype: 'float32', shape: [values.length], data: Float32Array.from(values) });

describe('checkpoint/loadCheckpoint', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsdet-load-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe('PyTorch files', () => {
    it('mmdet layout: uses state_dict, strips "module.", keeps the rest as meta', () => {
      const file = join(TORCH_DATA, 'mmdet-style.pth');
      const loaded = loadCheckpoint(relative(process.cwd(), file));
      expect(loaded.file).to.equal(file);
      expect([...loaded.stateDict.keys()]).to.deep.equal(['conv.weight', 'conv.bias', 'bn.num_batches_tracked']);
      for (const [key, record] of Object.entries(expectedFromTorch('mmdet-style.pth'))) {
        expectMatchesTorch(loaded.stateDict.get(key.replace(/^module\./, '')), record, key);
      }
      expect(loaded.meta).to.deep.equal({ meta: { epoch: 3, CLASSES: ['cat', 'dog'] } });
    });

    it('a bare state dict: every tensor is a weight', () => {
      const loaded = loadCheckpoint(join(TORCH_DATA, 'sequential.pth'));
      expect(loaded.stateDict.size).to.equal(27);
      expect(loaded.stateDict.get('1.running_var')!.shape).to.deep.equal([4]);
      expect(loaded.meta).to.deep.equal({});
    });

    it('"model" wrapper (holding an nn.Parameter) is accepted; other top-level keys are meta', () => {
      const loaded = loadCheckpoint(join(TORCH_DATA, 'model-key.pth'));
      expect([...loaded.stateDict]).to.deep.equal([['backbone.w', f32(1.5, -2)]]);
      expect(loaded.meta).to.deep.equal({ iteration: 5 });
    });

    it('a flat dict mixing tensors and other values: tensors are weights, the rest is meta', () => {
      const loaded = loadCheckpoint(join(TORCH_DATA, 'flat-with-extras.pth'));
      expect([...loaded.stateDict]).to.deep.equal([['w', { dtype: 'float32', shape: [1, 2], data: Float32Array.from([1, 2]) }]]);
      expect(loaded.meta).to.deep.equal({ note: 'hello', steps: [1, 2] });
    });

    it('unknown classes in meta load as inert placeholders', () => {
      const loaded = loadCheckpoint(join(TORCH_DATA, 'custom-object.pth'));
      expect([...loaded.stateDict.keys()]).to.deep.equal(['w']);
      const meta = loaded.meta['meta'] as Record<string, unknown>;
      expect(meta['foo']).to.be.instanceOf(UnsupportedPickleObject);
      expect((meta['exploit'] as UnsupportedPickleObject).global).to.equal('posix.system');
    });

    it('an unknown class inside the state dict is an error naming the key, the global and the file', () => {
      const file = join(TORCH_DATA, 'foo-in-state-dict.pth');
      expectCheckpointError(() => loadCheckpoint(file), file, /not a tensor: an object of unsupported Python global __main__\.Foo/, {
        key: 'weird',
      });
    });

    it('a state_dict that is not a dict, or a checkpoint that is not a dict', () => {
      const notDict = join(dir, 'not-dict.pth');
      writeFileSync(notDict, torchZip(pickle(OP.PROTO2, OP.EMPTY_DICT, str('state_dict'), str('oops'), OP.SETITEM, OP.STOP)));
      expectCheckpointError(() => loadCheckpoint(notDict), notDict, /must be a dict of tensors, got string oops/, { key: 'state_dict' });
      const list = join(dir, 'list.pth');
      writeFileSync(list, torchZip(pickle(OP.PROTO2, OP.EMPTY_LIST, OP.STOP)));
      expectCheckpointError(() => loadCheckpoint(list), list, /expected a dict at the top level.*a list of 0 items/);
      const reduce = join(dir, 'reduce.pth');
      writeFileSync(reduce, torchZip(pickle(OP.PROTO2, global('os', 'getcwd'), OP.EMPTY_TUPLE, OP.REDUCE, OP.STOP)));
      expectCheckpointError(() => loadCheckpoint(reduce), reduce, /unsupported Python global os\.getcwd/);
    });

    it('legacy, truncated and garbage .pth files are errors naming the file', () => {
      const legacy = join(TORCH_DATA, 'legacy.pth');
      expectCheckpointError(() => loadCheckpoint(legacy), legacy, /re-save with torch >= 1\.6/);
      const truncated = join(dir, 'truncated.pth');
      writeFileSync(truncated, readFileSync(join(TORCH_DATA, 'mmdet-style.pth')).subarray(0, 700));
      expectCheckpointError(() => loadCheckpoint(truncated), truncated, /corrupt or truncated zip/);
      const garbage = join(dir, 'garbage.pth');
      writeFileSync(garbage, 'definitely not a checkpoint');
      expectCheckpointError(() => loadCheckpoint(garbage), garbage, /not a PyTorch checkpoint/);
    });
  });

  describe('safetensors files', () => {
    it('strips "module." and returns the metadata as meta', () => {
      const file = join(dir, 'w.safetensors');
      writeSafetensors(file, { 'module.a': f32(1), b: f32(2, 3) }, { format: 'pt' });
      const loaded = loadCheckpoint(file);
      expect([...loaded.stateDict]).to.deep.equal([
        ['a', f32(1)],
        ['b', f32(2, 3)],
      ]);
      expect(loaded.meta).to.deep.equal({ format: 'pt' });
    });

    it('two keys that collide once "module." is stripped are an error naming the key', () => {
      const file = join(dir, 'dup.safetensors');
      writeSafetensors(file, { a: f32(1), 'module.a': f32(2) });
      expectCheckpointError(() => loadCheckpoint(file), file, /two tensors map to "a"/, { key: 'module.a' });
    });

    it('a corrupt .safetensors file reports the safetensors problem', () => {
      const file = join(dir, 'short.safetensors');
      writeFileSync(file, Uint8Array.from([1, 2, 3]));
      expectCheckpointError(() => loadCheckpoint(file), file, /only 3 bytes/);
    });
  });

  describe('format detection and missing files', () => {
    it('dispatches on content, not on the extension', () => {
      const safetensorsNamedPth = join(dir, 'weights.pth');
      writeSafetensors(safetensorsNamedPth, { w: f32(4) });
      expect(loadCheckpoint(safetensorsNamedPth).stateDict.get('w')).to.deep.equal(f32(4));
      const pthNamedSafetensors = join(dir, 'model.safetensors');
      copyFileSync(join(TORCH_DATA, 'model-key.pth'), pthNamedSafetensors);
      expect([...loadCheckpoint(pthNamedSafetensors).stateDict.keys()]).to.deep.equal(['backbone.w']);
      const noExtension = join(dir, 'checkpoint');
      copyFileSync(join(TORCH_DATA, 'mmdet-style.pth'), noExtension);
      expect(loadCheckpoint(noExtension).stateDict.size).to.equal(3);
    });

    it('a safetensors header length that starts like a pickle (0x80 0x02) is still safetensors', () => {
      const file = join(dir, 'padded');
      // A 582-byte name makes the header 640 bytes = 0x0280: the file starts 80 02, like a pickle.
      writeSafetensors(file, { ['k'.repeat(582)]: f32(1) });
      expect([...readFileSync(file).subarray(0, 2)]).to.deep.equal([0x80, 0x02]);
      expect(loadCheckpoint(file).stateDict.size).to.equal(1);
    });

    it('unrecognized content with an unknown extension', () => {
      const file = join(dir, 'notes.txt');
      writeFileSync(file, 'hello world, not weights');
      expectCheckpointError(() => loadCheckpoint(file), file, /unrecognized checkpoint format/);
    });

    it('a missing file is a CheckpointError naming it', () => {
      const file = join(dir, 'nowhere', 'epoch_12.pth');
      expectCheckpointError(() => loadCheckpoint(file), file, /checkpoint file not found/);
    });
  });
});
