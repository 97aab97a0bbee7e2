/** The .pth writer read back by core's independent reader (pickleparser + fflate unzip). */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCheckpoint, loadPth } from '@tsdet/core';
import { OrderedDict, serializeTorchFile, TensorValue, writeTorchFile } from '@tsdet/engine';

describe('torch .pth writer', () => {
  it('round-trips scalars, strings, lists, dicts and tensors of several dtypes through loadPth', () => {
    const value = {
      meta: { epoch: 3, lr: 0.02, big: 2 ** 40, negative: -7, state: 4294967295, name: 'é run', ok: true, none: null, list: [1, 2.5, 'x'] },
      state_dict: new OrderedDict(
        new Map([
          ['conv.weight', new TensorValue({ dtype: 'float32', shape: [2, 1, 1, 2], data: Float32Array.from([1, -2, 3.5, 4]) })],
          ['bn.num_batches_tracked', new TensorValue({ dtype: 'int64', shape: [], data: BigInt64Array.from([5n]) })],
          ['mask', new TensorValue({ dtype: 'uint8', shape: [3], data: Uint8Array.from([0, 1, 255]) })],
        ]),
      ),
    };
    const loaded = loadPth(serializeTorchFile(value)) as { meta: Record<string, unknown>; state_dict: Record<string, { dtype: string; shape: number[]; data: ArrayLike<unknown> }> };
    expect({ ...loaded.meta, big: Number(loaded.meta['big']), state: Number(loaded.meta['state']) }).to.deep.equal(value.meta);
    expect(Object.keys(loaded.state_dict)).to.deep.equal(['conv.weight', 'bn.num_batches_tracked', 'mask']);
    expect(loaded.state_dict['conv.weight']).to.deep.include({ dtype: 'float32', shape: [2, 1, 1, 2] });
    expect(Array.from(loaded.state_dict['conv.weight']!.data)).to.deep.equal([1, -2, 3.5, 4]);
    expect(Array.from(loaded.state_dict['bn.num_batches_tracked']!.data)).to.deep.equal([5n]);
    expect(Array.from(loaded.state_dict['mask']!.data)).to.deep.equal([0, 1, 255]);
  });

  it('is what loadCheckpoint reads as an mmdet checkpoint (state_dict = weights, the rest = meta), written atomically', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdet-pth-'));
    const file = path.join(dir, 'epoch_1.pth');
    writeTorchFile(file, { meta: { epoch: 1 }, state_dict: new OrderedDict(new Map([['w', new TensorValue({ dtype: 'float32', shape: [1], data: Float32Array.from([2]) })]])) });
    const checkpoint = loadCheckpoint(file);
    expect([...checkpoint.stateDict.keys()]).to.deep.equal(['w']);
    expect(checkpoint.meta['meta']).to.deep.equal({ epoch: 1 });
    expect(fs.readdirSync(dir)).to.deep.equal(['epoch_1.pth']);
  });

  it('refuses values it cannot pickle, naming where they are', () => {
    expect(() => serializeTorchFile({ a: { b: new Date() as unknown as null } })).to.throw(/a\.b/);
  });
});
