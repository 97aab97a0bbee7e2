/**
 * Test helper: hand-assembled pickles and torch-style zip archives, for cases torch itself will
 * not write (hostile or corrupt files). Opcodes are the protocol 2 ones torch uses.
 */
import { zipSync } from 'fflate';

export const OP = {
  PROTO2: [0x80, 2],
  MARK: 0x28, // (
  STOP: 0x2e, // .
  NONE: 0x4e, // N
  BININT1: 0x4b, // K <u8>
  BINUNICODE: 0x58, // X <u32 length> <utf-8>
  EMPTY_TUPLE: 0x29, // )
  TUPLE: 0x74, // t
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  EMPTY_LIST: 0x5d, // ]
  APPEND: 0x61, // a
  EMPTY_DICT: 0x7d, // }
  SETITEM: 0x73, // s
  BINPUT: 0x71, // q <u8>
  BINGET: 0x68, // h <u8>
  REDUCE: 0x52, // R
  BUILD: 0x62, // b
  NEWOBJ: 0x81,
  NEWFALSE: 0x89,
  BINPERSID: 0x51, // Q
} as const;

export type PicklePart = number | readonly number[] | Uint8Array;

export function pickle(...parts: PicklePart[]): Uint8Array {
  const bytes: number[] = [];
  for (const part of parts) {
    if (typeof part === 'number') bytes.push(part);
    else bytes.push(...part);
  }
  return Uint8Array.from(bytes);
}

/** GLOBAL opcode: `c<module>\n<name>\n`. */
export function global(module: string, name: string): Uint8Array {
  return new TextEncoder().encode(`c${module}\n${name}\n`);
}

export function str(text: string): Uint8Array {
  const utf8 = new TextEncoder().encode(text);
  const out = new Uint8Array(5 + utf8.length);
  out[0] = OP.BINUNICODE;
  new DataView(out.buffer).setUint32(1, utf8.length, true);
  out.set(utf8, 5);
  return out;
}

export function int(value: number): number[] {
  if (value < 0 || value > 255) throw new RangeError('helper only encodes BININT1');
  return [OP.BININT1, value];
}

export function tuple(...items: PicklePart[]): PicklePart[] {
  return [OP.MARK, ...items, OP.TUPLE];
}

/** The persistent id torch writes for a storage: ('storage', torch.<type>, key, 'cpu', numel). */
export function storageRef(storageType: string, key: string, numel: number): PicklePart[] {
  return [...tuple(str('storage'), global('torch', storageType), str(key), str('cpu'), int(numel)), OP.BINPERSID];
}

/** torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, None). */
export function rebuildTensor(storage: PicklePart[], offset: number, size: number[], stride: number[]): PicklePart[] {
  return [
    global('torch._utils', '_rebuild_tensor_v2'),
    ...tuple(...storage, int(offset), ...tuple(...size.map(int)), ...tuple(...stride.map(int)), OP.NEWFALSE, OP.NONE),
    OP.REDUCE,
  ];
}

/** A zip laid out like torch.save's: archive/data.pkl plus archive/data/<key> entries. */
export function torchZip(dataPkl: Uint8Array, storages: Record<string, Uint8Array> = {}, extra: Record<string, Uint8Array> = {}): Uint8Array {
  const entries: Record<string, Uint8Array> = { 'archive/data.pkl': dataPkl, ...extra };
  for (const [key, bytes] of Object.entries(storages)) entries[`archive/data/${key}`] = bytes;
  return zipSync(entries, { level: 0 });
}

export function float32Bytes(...values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}
