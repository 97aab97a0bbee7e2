/**
 * A small pickle (protocol 2) writer for the values a training checkpoint holds: None, bools,
 * numbers, strings, lists, string-keyed dicts, OrderedDicts and tensors stored as torch does
 * (`torch._utils._rebuild_tensor_v2` over a persistent storage id). Only globals that
 * `torch.load(weights_only=True)` allows are emitted, so PyTorch can read the result safely.
 */
import type { RawTensor } from '@tsdet/core';

/** A dict written as `collections.OrderedDict` (torch's state dicts are OrderedDicts). */
export class OrderedDict {
  constructor(readonly entries: ReadonlyMap<string, PickleValue>) {}
}

/** A tensor value; `storageKey` is filled in by the writer. */
export class TensorValue {
  constructor(readonly tensor: RawTensor) {}
}

export type PickleValue = null | boolean | number | string | readonly PickleValue[] | OrderedDict | TensorValue | { readonly [key: string]: PickleValue };

const STORAGE_OF_DTYPE: Record<RawTensor['dtype'], string> = {
  float32: 'FloatStorage',
  float16: 'HalfStorage',
  bfloat16: 'BFloat16Storage',
  float64: 'DoubleStorage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  int16: 'ShortStorage',
  int8: 'CharStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

const OP = {
  PROTO: 0x80,
  STOP: 0x2e,
  NONE: 0x4e,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  BININT: 0x4a,
  LONG1: 0x8a,
  BINFLOAT: 0x47,
  BINUNICODE: 0x58,
  EMPTY_DICT: 0x7d,
  EMPTY_LIST: 0x5d,
  EMPTY_TUPLE: 0x29,
  MARK: 0x28,
  SETITEMS: 0x75,
  APPENDS: 0x65,
  TUPLE: 0x74,
  GLOBAL: 0x63,
  REDUCE: 0x52,
  BINPERSID: 0x51,
} as const;

/** Growing byte buffer. */
class ByteSink {
  #buffer = new Uint8Array(1 << 16);
  #length = 0;

  push(...bytes: number[]): void {
    this.#reserve(bytes.length);
    for (const b of bytes) this.#buffer[this.#length++] = b;
  }

  pushBytes(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  bytes(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }

  #reserve(extra: number): void {
    if (this.#length + extra <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(this.#buffer.length * 2, this.#length + extra));
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
  }
}

export interface PickledObject {
  /** data.pkl */
  pickle: Uint8Array;
  /** The storages, by key ('0', '1', ...), in the order the tensors appear. */
  storages: RawTensor[];
}

/** Pickles `value`; tensors become storages listed in the result. */
export function pickleValue(value: PickleValue): PickledObject {
  const sink = new ByteSink();
  const storages: RawTensor[] = [];
  sink.push(OP.PROTO, 2);
  writeValue(sink, value, storages, '');
  sink.push(OP.STOP);
  return { pickle: sink.bytes(), storages };
}

function writeValue(sink: ByteSink, value: PickleValue, storages: RawTensor[], path: string): void {
  if (value === null) return sink.push(OP.NONE);
  if (typeof value === 'boolean') return sink.push(value ? OP.NEWTRUE : OP.NEWFALSE);
  if (typeof value === 'number') return writeNumber(sink, value);
  if (typeof value === 'string') return writeString(sink, value);
  if (value instanceof TensorValue) return writeTensor(sink, value.tensor, storages);
  if (value instanceof OrderedDict) {
    writeGlobal(sink, 'collections', 'OrderedDict');
    sink.push(OP.EMPTY_TUPLE, OP.REDUCE);
    return writeItems(sink, [...value.entries], storages, path);
  }
  if (Array.isArray(value)) {
    sink.push(OP.EMPTY_LIST, OP.MARK);
    (value as readonly PickleValue[]).forEach((item, i) => writeValue(sink, item, storages, `${path}[${i}]`));
    return sink.push(OP.APPENDS);
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    sink.push(OP.EMPTY_DICT);
    return writeItems(sink, Object.entries(value as Record<string, PickleValue>), storages, path);
  }
  throw new TypeError(`pickle: cannot write ${path || 'the value'} (${Object.prototype.toString.call(value)})`);
}

function writeItems(sink: ByteSink, entries: [string, PickleValue][], storages: RawTensor[], path: string): void {
  sink.push(OP.MARK);
  for (const [key, item] of entries) {
    if (item === undefined) throw new TypeError(`pickle: ${path ? `${path}.` : ''}${key} is undefined`);
    writeString(sink, key);
    writeValue(sink, item, storages, path ? `${path}.${key}` : key);
  }
  sink.push(OP.SETITEMS);
}

function writeNumber(sink: ByteSink, value: number): void {
  if (Number.isInteger(value) && value >= -0x80000000 && value <= 0x7fffffff && !Object.is(value, -0)) {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setInt32(0, value, true);
    sink.push(OP.BININT);
    return sink.pushBytes(bytes);
  }
  if (Number.isSafeInteger(value)) return writeLong(sink, BigInt(value));
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setFloat64(0, value, false); // BINFLOAT is big-endian
  sink.push(OP.BINFLOAT);
  sink.pushBytes(bytes);
}

/** LONG1: little-endian two's complement in the fewest bytes that keep the sign. */
function writeLong(sink: ByteSink, value: bigint): void {
  const bytes: number[] = [];
  let rest = value;
  for (;;) {
    const byte = Number(rest & 0xffn);
    bytes.push(byte);
    rest >>= 8n;
    const signBitSet = (byte & 0x80) !== 0;
    if ((rest === 0n && !signBitSet) || (rest === -1n && signBitSet)) break;
  }
  sink.push(OP.LONG1, bytes.length, ...bytes);
}

function writeString(sink: ByteSink, value: string): void {
  const utf8 = new TextEncoder().encode(value);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, utf8.length, true);
  sink.push(OP.BINUNICODE);
  sink.pushBytes(length);
  sink.pushBytes(utf8);
}

function writeGlobal(sink: ByteSink, module: string, name: string): void {
  sink.push(OP.GLOBAL);
  sink.pushBytes(new TextEncoder().encode(`${module}\n${name}\n`));
}

function writeTuple(sink: ByteSink, items: readonly number[]): void {
  sink.push(OP.MARK);
  for (const item of items) writeNumber(sink, item);
  sink.push(OP.TUPLE);
}

/** torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()), contiguous. */
function writeTensor(sink: ByteSink, tensor: RawTensor, storages: RawTensor[]): void {
  const key = String(storages.length);
  storages.push(tensor);
  const numel = tensor.shape.reduce((a, b) => a * b, 1);
  writeGlobal(sink, 'torch._utils', '_rebuild_tensor_v2');
  sink.push(OP.MARK);
  // persistent id ('storage', torch.XStorage, key, 'cpu', numel)
  sink.push(OP.MARK);
  writeString(sink, 'storage');
  writeGlobal(sink, 'torch', STORAGE_OF_DTYPE[tensor.dtype]);
  writeString(sink, key);
  writeString(sink, 'cpu');
  writeNumber(sink, numel);
  sink.push(OP.TUPLE, OP.BINPERSID);
  writeNumber(sink, 0);
  writeTuple(sink, tensor.shape);
  writeTuple(sink, contiguousStrides(tensor.shape));
  sink.push(OP.NEWFALSE);
  writeGlobal(sink, 'collections', 'OrderedDict');
  sink.push(OP.EMPTY_TUPLE, OP.REDUCE);
  sink.push(OP.TUPLE, OP.REDUCE);
}

function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let step = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = step;
    step *= shape[i]!;
  }
  return strides;
}
