import { expect } from 'chai';
import { encodeModule, instantiate, type FunctionBuilder } from './wasm-emitter.js';

/** A module over its own small memory: sum(n) stores 0 + 1 + ... + (n - 1) at address 0, then 7 at 4. */
function buildSum(fn: FunctionBuilder): void {
  const [n] = fn.params as [never];
  const i = fn.local('i32');
  const total = fn.local('i32');
  fn.i32(0).set(total).i32(0).set(i);
  fn.forLoop(i, n, 1, () => void fn.get(total).get(i).add().set(total));
  // Code after the loop must run also when the loop ran zero times.
  fn.i32(0).get(total).i32Store();
  fn.i32(4).i32(7).i32Store();
}

describe('kernels/wasm-emitter', () => {
  it('encodes a module that V8 accepts, with loops that run n times (zero included) and code after them', () => {
    const memory = new (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly.Memory({ initial: 1 });
    const { sum } = instantiate(encodeModule([{ name: 'sum', params: ['i32'], build: buildSum }], false), memory) as { sum: (n: number) => void };
    const view = new Int32Array(memory.buffer);
    for (const [n, expected] of [[0, 0], [1, 0], [5, 10], [-3, 0]] as const) {
      view.fill(-1, 0, 2);
      sum(n);
      expect([view[0], view[1]], `n = ${n}`).to.deep.equal([expected, 7]);
    }
  });
});
