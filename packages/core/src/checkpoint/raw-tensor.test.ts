import { expect } from 'chai';

import { allocateData, dataFromBytes, numel, toFloat32, toInt32, type RawTensor } from './raw-tensor.js';

describe('checkpoint/raw-tensor', () => {
  it('numel treats [] as a scalar and any zero extent as empty', () => {
    expect(numel([])).to.equal(1);
    expect(numel([2, 3, 4])).to.equal(24);
    expect(numel([5, 0, 2])).to.equal(0);
  });

  it('toFloat32 decodes float16 bits: normals, subnormals, signed zero, infinities, NaN', () => {
    const bits = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x3555];
    const values = toFloat32({ dtype: 'float16', shape: [bits.length], data: Uint16Array.from(bits) });
    expect(Array.from(values.subarray(0, 5))).to.deep.equal([1, -2, 65504, 2 ** -24, 1023 * 2 ** -24]);
    expect(Object.is(values[5], 0)).to.equal(true);
    expect(Object.is(values[6], -0)).to.equal(true);
    expect(values[7]).to.equal(Infinity);
    expect(values[8]).to.equal(-Infinity);
    expect(Number.isNaN(values[9])).to.equal(true);
    expect(values[10]).to.equal(Math.fround(0.333251953125));
  });

  it('toFloat32 decodes bfloat16 as the upper half of a float32', () => {
    const values = toFloat32({ dtype: 'bfloat16', shape: [4], data: Uint16Array.from([0x3f80, 0xc020, 0x7f80, 0x0001]) });
    expect(Array.from(values.subarray(0, 3))).to.deep.equal([1, -2.5, Infinity]);
    expect(values[3]).to.equal(new Float32Array(new Uint32Array([0x00010000]).buffer)[0]);
  });

  it('toFloat32 converts integer, bool and float64 data and returns float32 data as is', () => {
    expect(Array.from(toFloat32({ dtype: 'int64', shape: [2], data: BigInt64Array.from([-3n, 1n << 40n]) }))).to.deep.equal([
      -3,
      2 ** 40,
    ]);
    expect(Array.from(toFloat32({ dtype: 'bool', shape: [2], data: Uint8Array.from([1, 0]) }))).to.deep.equal([1, 0]);
    expect(Array.from(toFloat32({ dtype: 'float64', shape: [1], data: Float64Array.from([0.1]) }))).to.deep.equal([Math.fround(0.1)]);
    const float32: RawTensor = { dtype: 'float32', shape: [1], data: Float32Array.from([2]) };
    expect(toFloat32(float32)).to.equal(float32.data);
  });

  it('toInt32 converts integer data, refuses floats and int64 values that would wrap', () => {
    expect(Array.from(toInt32({ dtype: 'int64', shape: [2], data: BigInt64Array.from([-5n, 2147483647n]) }))).to.deep.equal([
      -5,
      2147483647,
    ]);
    expect(Array.from(toInt32({ dtype: 'uint8', shape: [1], data: Uint8Array.from([255]) }))).to.deep.equal([255]);
    expect(() => toInt32({ dtype: 'int64', shape: [1], data: BigInt64Array.from([2147483648n]) })).to.throw(RangeError, /index 0/);
    expect(() => toInt32({ dtype: 'float32', shape: [1], data: new Float32Array(1) })).to.throw(TypeError, /float32/);
  });

  it('dataFromBytes copies bytes from a misaligned view', () => {
    const backing = new Uint8Array(9);
    const misaligned = backing.subarray(1, 9);
    misaligned.set(new Uint8Array(Float32Array.from([1.5, -2]).buffer));
    const data = dataFromBytes('float32', misaligned);
    expect(Array.from(data as Float32Array)).to.deep.equal([1.5, -2]);
    expect(data.buffer).to.not.equal(backing.buffer);
    expect(allocateData('int64', 2)).to.be.instanceOf(BigInt64Array);
  });

  it('dataFromBytes copies out of a pooled Node Buffer (whose slice() does not copy)', () => {
    const pooled = Buffer.from(new Uint8Array(Float32Array.from([7, 8, 9]).buffer));
    const data = dataFromBytes('float32', pooled.subarray(4));
    expect(Array.from(data as Float32Array)).to.deep.equal([8, 9]);
    expect(data.byteOffset).to.equal(0);
    expect(data.buffer.byteLength).to.equal(8);
  });

  it('dataFromBytes with copy: false views aligned bytes and still copies misaligned ones', () => {
    const bytes = new Uint8Array(Float32Array.from([1, 2, 3]).buffer);
    expect(dataFromBytes('float32', bytes.subarray(4), { copy: false }).buffer).to.equal(bytes.buffer);
    const odd = new Uint8Array(9).subarray(1);
    expect(dataFromBytes('float32', odd, { copy: false }).buffer).to.not.equal(odd.buffer);
  });
});
