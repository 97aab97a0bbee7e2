/**
 * A small WebAssembly binary emitter for tsdet's own SIMD kernels.
 *
 * tfjs-backend-wasm's kernels are compiled C++ (XNNPACK) that we cannot extend, and this project
 * has no C-to-wasm toolchain; kernels that tfjs lacks are therefore written here as straight-line
 * wasm generated from TypeScript at start-up. A module imports the memory of tfjs-wasm's threaded
 * build (a shared WebAssembly.Memory), so a kernel reads and writes tensors in place by their heap
 * offsets: no copies in or out. Only the instructions the kernels use are encoded.
 */

export type ValType = 'i32' | 'f32' | 'v128';

/** The part of the WebAssembly JS API used here (the global is not in the project's type libs). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}

/** Compiles and instantiates `bytes` with `memory` as `env.memory`; returns the exports. */
export function instantiate(bytes: Uint8Array, memory: WasmMemory): Record<string, unknown> {
  const api = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
  return new api.Instance(new api.Module(bytes), { env: { memory } }).exports;
}

const VAL_TYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

function unsignedLeb(value: number): number[] {
  const bytes: number[] = [];
  let rest = value >>> 0;
  do {
    let byte = rest & 0x7f;
    rest >>>= 7;
    if (rest !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest !== 0);
  return bytes;
}

function signedLeb(value: number): number[] {
  const bytes: number[] = [];
  let rest = value | 0;
  for (;;) {
    const byte = rest & 0x7f;
    rest >>= 7;
    const done = (rest === 0 && (byte & 0x40) === 0) || (rest === -1 && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}

function utf8Name(name: string): number[] {
  const bytes = [...new TextEncoder().encode(name)];
  return [...unsignedLeb(bytes.length), ...bytes];
}

function vector(items: number[][]): number[] {
  return [...unsignedLeb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...unsignedLeb(body.length), ...body];
}

/** A local variable (or parameter) of the function being built. */
export interface Local {
  readonly index: number;
  readonly type: ValType;
}

/** SIMD opcodes (after the 0xfd prefix). */
const SIMD = { load: 0x00, store: 0x0b, f32x4Splat: 0x13, f32x4Add: 0xe4, f32x4Sub: 0xe5, f32x4Mul: 0xe6, f32x4Pmax: 0xeb } as const;

/**
 * Builds one function body. Methods push instructions onto the wasm operand stack in order, as
 * the stack machine evaluates them; `loop` and `block` nest their bodies in callbacks.
 */
export class FunctionBuilder {
  private readonly code: number[] = [];
  private readonly locals: ValType[] = [];
  readonly params: Local[];

  constructor(paramTypes: readonly ValType[]) {
    this.params = paramTypes.map((type, index) => ({ index, type }));
  }

  local(type: ValType): Local {
    this.locals.push(type);
    return { index: this.params.length + this.locals.length - 1, type };
  }

  get(local: Local): this {
    return this.emit(0x20, ...unsignedLeb(local.index));
  }

  set(local: Local): this {
    return this.emit(0x21, ...unsignedLeb(local.index));
  }

  i32(value: number): this {
    return this.emit(0x41, ...signedLeb(value));
  }

  f32(value: number): this {
    const bytes = new Uint8Array(new Float32Array([value]).buffer);
    return this.emit(0x43, ...bytes);
  }

  add(): this {
    return this.emit(0x6a);
  }

  sub(): this {
    return this.emit(0x6b);
  }

  mul(): this {
    return this.emit(0x6c);
  }

  /** Unsigned a < b: with a signed index this is also the test 0 <= a. */
  ltU(): this {
    return this.emit(0x49);
  }

  ltS(): this {
    return this.emit(0x48);
  }

  and(): this {
    return this.emit(0x71);
  }

  /** (a, b, condition) -> condition ? a : b */
  select(): this {
    return this.emit(0x1b);
  }

  /** local = local + step (i32) */
  increment(local: Local, step: number | Local): this {
    this.get(local);
    if (typeof step === 'number') this.i32(step);
    else this.get(step);
    return this.add().set(local);
  }

  /** (address) -> i32 loaded from address + offset bytes. */
  i32Load(offset = 0): this {
    return this.emit(0x28, 2, ...unsignedLeb(offset));
  }

  /** (address) -> f32 loaded from address + offset bytes. */
  f32Load(offset = 0): this {
    return this.emit(0x2a, 2, ...unsignedLeb(offset));
  }

  /** (address, i32) -> stores at address + offset bytes. */
  i32Store(offset = 0): this {
    return this.emit(0x36, 2, ...unsignedLeb(offset));
  }

  /** (address) -> v128 loaded from address + offset bytes. */
  v128Load(offset = 0): this {
    return this.simd(SIMD.load, 4, ...unsignedLeb(offset));
  }

  /** (address, v128) -> stores at address + offset bytes. */
  v128Store(offset = 0): this {
    return this.simd(SIMD.store, 4, ...unsignedLeb(offset));
  }

  f32x4Splat(): this {
    return this.simd(SIMD.f32x4Splat);
  }

  f32x4Add(): this {
    return this.simd(SIMD.f32x4Add);
  }

  f32x4Sub(): this {
    return this.simd(SIMD.f32x4Sub);
  }

  /** (a, b) -> a + b for sign 1, a - b for sign -1. */
  f32x4AddSigned(sign: 1 | -1): this {
    return sign > 0 ? this.f32x4Add() : this.f32x4Sub();
  }

  f32x4Mul(): this {
    return this.simd(SIMD.f32x4Mul);
  }

  /** Pseudo-maximum (b < a ? a : b, one maxps on x86): with a zero operand, a ReLU. */
  f32x4Pmax(): this {
    return this.simd(SIMD.f32x4Pmax);
  }

  /**
   * `for (counter = start; counter < end; counter += step) body()` with start given as a value
   * already in `counter`; runs zero times when counter >= end (signed compare).
   */
  forLoop(counter: Local, end: Local | number, step: Local | number, body: () => void): this {
    const pushEnd = (): void => void (typeof end === 'number' ? this.i32(end) : this.get(end));
    this.emit(0x02, 0x40); // block
    this.get(counter);
    pushEnd();
    this.emit(0x4e, 0x0d, 0); // i32.ge_s; br_if 0 (to the end of the block: skip the loop)
    this.emit(0x03, 0x40); // loop
    body();
    this.increment(counter, step);
    this.get(counter);
    pushEnd();
    this.ltS();
    this.emit(0x0d, 0); // br_if 0 (back to the loop)
    this.emit(0x0b, 0x0b); // end loop, end block
    return this;
  }

  /** The function's code entry: locals then the instructions. */
  encode(): number[] {
    const groups: number[][] = this.locals.map((type) => [1, VAL_TYPE[type]]);
    const body = [...vector(groups), ...this.code, 0x0b];
    return [...unsignedLeb(body.length), ...body];
  }

  private simd(opcode: number, ...immediates: number[]): this {
    return this.emit(0xfd, ...unsignedLeb(opcode), ...immediates);
  }

  private emit(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
}

export interface ExportedFunction {
  name: string;
  params: readonly ValType[];
  build: (fn: FunctionBuilder) => void;
}

/**
 * A module of void functions importing `env.memory`: shared with a maximum of 4 GiB (what tfjs-wasm's
 * threaded build declares) or, for the single-threaded builds, unshared with no maximum.
 */
export function encodeModule(functions: readonly ExportedFunction[], sharedMemory: boolean): Uint8Array {
  const types = functions.map((f) => [0x60, ...vector(f.params.map((p) => [VAL_TYPE[p]])), 0]);
  const limits = sharedMemory ? [0x03, ...unsignedLeb(1), ...unsignedLeb(65536)] : [0x00, ...unsignedLeb(1)];
  const memoryImport = [...utf8Name('env'), ...utf8Name('memory'), 0x02, ...limits];
  const bodies = functions.map((f) => {
    const builder = new FunctionBuilder(f.params);
    f.build(builder);
    return builder.encode();
  });
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector(types)),
    ...section(2, vector([memoryImport])),
    ...section(3, vector(functions.map((_, i) => unsignedLeb(i)))),
    ...section(7, vector(functions.map((f, i) => [...utf8Name(f.name), 0x00, ...unsignedLeb(i)]))),
    ...section(10, vector(bodies)),
  ];
  return new Uint8Array(bytes);
}
