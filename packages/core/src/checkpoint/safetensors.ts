import { readFileSync } from 'node:fs';

import { writeFileAtomic } from './atomic-write.js';
import { CheckpointError, describeError } from './errors.js';
import {
  bytesPerElement,
  dataAsBytes,
  dataFromBytes,
  dataMatchesDType,
  numel,
  type DType,
  type RawTensor,
} from './raw-tensor.js';

/**
 * safetensors (https://github.com/huggingface/safetensors): u64 little-endian header length N,
 * N bytes of UTF-8 JSON, then the tensor bytes. The JSON maps each tensor name to
 * {dtype, shape, data_offsets: [begin, end]} (offsets relative to byte 8 + N) plus an optional
 * "__metadata__" string map.
 */

export interface Safetensors {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

const FILE_DTYPE: Record<DType, string> = {
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  float64: 'F64',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};
const DTYPE_OF_FILE_DTYPE = new Map(Object.entries(FILE_DTYPE).map(([dtype, code]) => [code, dtype as DType]));

const METADATA_KEY = '__metadata__';
const HEADER_SIZE_BYTES = 8;
// Same limit as the reference implementation: a larger header is corruption, not a checkpoint.
const MAX_HEADER_BYTES = 100_000_000;

interface HeaderEntry {
  key: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Read a safetensors file (path) or buffer. `label` names the source in errors (defaults to the
 * path, or "<buffer>"). Every tensor gets its own copy of its bytes, so the result does not keep
 * the file buffer alive. Any inconsistency throws a {@link CheckpointError}.
 */
export function readSafetensors(source: string | Uint8Array, label?: string): Safetensors {
  const file = label ?? (typeof source === 'string' ? source : '<buffer>');
  const bytes = typeof source === 'string' ? readFile(source, file) : source;
  const { entries, metadata, dataStart } = parseHeader(bytes, file);
  const data = bytes.subarray(dataStart);
  checkDataLayout(entries, data.byteLength, file);
  const tensors = new Map<string, RawTensor>();
  for (const entry of entries) {
    const tensorBytes = data.subarray(entry.begin, entry.end);
    tensors.set(entry.key, { dtype: entry.dtype, shape: entry.shape, data: dataFromBytes(entry.dtype, tensorBytes) });
  }
  return { tensors, metadata };
}

/** Write tensors (in iteration order) and optional string metadata atomically to `path`. */
export function writeSafetensors(
  path: string,
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata, path));
}

/**
 * The bytes of a safetensors file; the header is space-padded to a multiple of 8 bytes. `label`
 * names the destination in errors about invalid tensors.
 */
export function serializeSafetensors(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
  label = '<safetensors>',
): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined && Object.keys(metadata).length > 0) header[METADATA_KEY] = checkedMetadata(metadata, label);
  let offset = 0;
  for (const [key, tensor] of entries) {
    checkWritable(key, tensor, label);
    header[key] = { dtype: FILE_DTYPE[tensor.dtype], shape: tensor.shape, data_offsets: [offset, offset + tensor.data.byteLength] };
    offset += tensor.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(HEADER_SIZE_BYTES + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, HEADER_SIZE_BYTES);
  out.fill(0x20, HEADER_SIZE_BYTES + json.byteLength, HEADER_SIZE_BYTES + headerLength);
  let position = HEADER_SIZE_BYTES + headerLength;
  for (const [, tensor] of entries) {
    out.set(dataAsBytes(tensor.data), position);
    position += tensor.data.byteLength;
  }
  return out;
}

function readFile(path: string, file: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new CheckpointError(file, `cannot read file: ${describeError(error)}`, { cause: error });
  }
}

function parseHeader(bytes: Uint8Array, file: string): {
  entries: HeaderEntry[];
  metadata: Record<string, string>;
  dataStart: number;
} {
  if (bytes.byteLength < HEADER_SIZE_BYTES) {
    throw new CheckpointError(file, `not a safetensors file: only ${bytes.byteLength} bytes`);
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE_BYTES).getBigUint64(0, true);
  const available = bytes.byteLength - HEADER_SIZE_BYTES;
  if (headerLength > BigInt(available)) {
    throw new CheckpointError(
      file,
      `safetensors header length ${headerLength} exceeds the ${available} bytes after the length field (truncated or not safetensors)`,
    );
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw new CheckpointError(file, `safetensors header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const dataStart = HEADER_SIZE_BYTES + Number(headerLength);
  const json = parseHeaderJson(bytes.subarray(HEADER_SIZE_BYTES, dataStart), file);
  const entries: HeaderEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(json)) {
    if (key === METADATA_KEY) metadata = parseMetadata(value, file);
    else entries.push(parseEntry(key, value, file));
  }
  return { entries, metadata, dataStart };
}

function parseHeaderJson(headerBytes: Uint8Array, file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    throw new CheckpointError(file, `safetensors header is not valid UTF-8 JSON: ${describeError(error)}`, { cause: error });
  }
  if (!isRecord(json)) throw new CheckpointError(file, 'safetensors header must be a JSON object');
  return json;
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  const valid = isRecord(value) && Object.values(value).every((item) => typeof item === 'string');
  if (!valid) throw new CheckpointError(file, 'safetensors __metadata__ must map strings to strings', { key: METADATA_KEY });
  return { ...(value as Record<string, string>) };
}

function parseEntry(key: string, value: unknown, file: string): HeaderEntry {
  const fail = (message: string): never => {
    throw new CheckpointError(file, message, { key });
  };
  if (!isRecord(value)) return fail('header entry must be an object');
  const dtype = typeof value.dtype === 'string' ? DTYPE_OF_FILE_DTYPE.get(value.dtype) : undefined;
  if (dtype === undefined) return fail(`unsupported dtype ${JSON.stringify(value.dtype)}`);
  const shape = value.shape;
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) return fail(`invalid shape ${JSON.stringify(shape)}`);
  const offsets = value.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    return fail(`invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  const expectedBytes = numel(shape) * bytesPerElement(dtype);
  if (end < begin || end - begin !== expectedBytes) {
    return fail(`data_offsets [${begin}, ${end}] do not hold shape [${shape.join(', ')}] of ${dtype} (${expectedBytes} bytes)`);
  }
  return { key, dtype, shape: [...shape], begin, end };
}

/**
 * Tensors must lie inside the data section without overlapping. Like the reference
 * implementation we also require them to cover it exactly (no holes, no trailing bytes): a gap
 * means the header and the data disagree, which is how corruption usually shows.
 */
function checkDataLayout(entries: HeaderEntry[], dataBytes: number, file: string): void {
  const byBegin = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const entry of byBegin) {
    if (entry.end > dataBytes) {
      throw new CheckpointError(
        file,
        `data_offsets [${entry.begin}, ${entry.end}] run past the end of the ${dataBytes}-byte data section (file truncated?)`,
        { key: entry.key },
      );
    }
    if (entry.begin < covered) {
      throw new CheckpointError(file, `data_offsets [${entry.begin}, ${entry.end}] overlap another tensor`, { key: entry.key });
    }
    if (entry.begin > covered) {
      throw new CheckpointError(file, `data_offsets [${entry.begin}, ${entry.end}] leave a gap after byte ${covered}`, { key: entry.key });
    }
    covered = entry.end;
  }
  if (covered !== dataBytes) {
    throw new CheckpointError(file, `${dataBytes - covered} bytes after the last tensor are not described by the header`);
  }
}

function checkWritable(key: string, tensor: RawTensor, file: string): void {
  const fail = (message: string): never => {
    throw new CheckpointError(file, message, { key });
  };
  if (key === METADATA_KEY) fail(`"${METADATA_KEY}" is reserved and cannot name a tensor`);
  if (!Object.hasOwn(FILE_DTYPE, tensor.dtype)) fail(`unsupported dtype ${JSON.stringify(tensor.dtype)}`);
  if (!tensor.shape.every((size) => isNonNegativeInteger(size))) fail(`invalid shape [${tensor.shape.join(', ')}]`);
  if (!dataMatchesDType(tensor.data, tensor.dtype)) fail(`${tensor.data.constructor.name} cannot hold ${tensor.dtype} data`);
  if (tensor.data.length !== numel(tensor.shape)) {
    fail(`shape [${tensor.shape.join(', ')}] needs ${numel(tensor.shape)} elements, data has ${tensor.data.length}`);
  }
}

function checkedMetadata(metadata: Record<string, string>, file: string): Record<string, string> {
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') {
      throw new CheckpointError(file, 'metadata values must be strings', { key: `${METADATA_KEY}.${key}` });
    }
  }
  return metadata;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
