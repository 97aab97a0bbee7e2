import { readFileSync } from 'node:fs';

import { unzipSync, type Unzipped } from 'fflate';
import { Parser } from 'pickleparser';

import { CheckpointError, describeError } from './errors.js';
import { allocateData, bytesPerElement, dataFromBytes, numel, type DType, type RawTensor, type TensorData } from './raw-tensor.js';

/**
 * PyTorch checkpoints (`torch.save`, zip serialization of torch >= 1.6) read without Python.
 *
 * The archive holds `<archive>/data.pkl`, a pickle of the saved object, and one entry
 * `<archive>/data/<key>` per storage. Tensors appear in the pickle as calls to
 * `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` whose storage is a
 * persistent id `('storage', torch.FloatStorage, key, location, numel)`.
 *
 * Unpickling normally means running arbitrary code named by the file. Here only an allowlist of
 * globals does anything (see SAFE_GLOBALS); every other global becomes an inert
 * {@link UnsupportedPickleObject} that records what it was called with and runs nothing.
 */

/** A Python object whose class or factory is not on the allowlist; nothing of it was executed. */
export class UnsupportedPickleObject {
  /** Set by pickle's BUILD opcode (the object's `__setstate__` state), if any. */
  state: unknown = undefined;
  constructor(
    /** Fully qualified Python name, e.g. `numpy.core.multiarray._reconstruct`. */
    readonly global: string,
    readonly args: unknown[],
  ) {}

  // pickleparser's BUILD calls this instead of copying arbitrary keys onto the object.
  __setstate__(state: unknown): void {
    this.state = state;
  }
}

/** A bare reference to a Python class or function (pickled by name, not called). */
export class PickleGlobalRef {
  constructor(readonly global: string) {}
}

const LEGACY_FORMAT_HINT =
  'legacy (pre-1.6, non-zip) PyTorch serialization is not supported; re-save with torch >= 1.6 default zip serialization: ' +
  "torch.save(torch.load(path), new_path)";

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04]; // "PK\x03\x04"

/** Whether `bytes` start like a zip archive (which is what torch >= 1.6 writes). */
export function hasZipMagic(bytes: Uint8Array): boolean {
  return ZIP_MAGIC.every((byte, i) => bytes[i] === byte);
}

/** Whether `bytes` look like a legacy torch.save file: a bare pickle, or the even older tar. */
export function looksLikeLegacyTorchFile(bytes: Uint8Array): boolean {
  const isPickle = bytes[0] === 0x80 && bytes[1] !== undefined && bytes[1] >= 2 && bytes[1] <= 5;
  const isTar = new TextDecoder().decode(bytes.subarray(257, 262)) === 'ustar';
  return isPickle || isTar;
}

/**
 * Load a `.pth` / `.pt` file (path or bytes; `label` names it in errors). Dicts become plain
 * objects (non-string keys are stringified), tuples and lists arrays, tensors {@link RawTensor}s
 * (always contiguous copies), bytes Uint8Arrays.
 */
export function loadPth(source: string | Uint8Array, label?: string): unknown {
  const file = label ?? (typeof source === 'string' ? source : '<buffer>');
  const bytes = typeof source === 'string' ? readFile(source, file) : source;
  if (!hasZipMagic(bytes)) {
    if (looksLikeLegacyTorchFile(bytes)) throw new CheckpointError(file, LEGACY_FORMAT_HINT);
    throw new CheckpointError(file, 'not a PyTorch checkpoint: expected a zip archive (torch >= 1.6 torch.save)');
  }
  const entries = unzip(bytes, file);
  const archive = findArchivePrefix(entries, file);
  checkByteOrder(entries, archive, file);
  const context = new UnpicklingContext(file, entries, archive);
  return context.toPlain(context.unpickle(entries[`${archive}data.pkl`]!));
}

function readFile(path: string, file: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new CheckpointError(file, `cannot read file: ${describeError(error)}`, { cause: error });
  }
}

function unzip(bytes: Uint8Array, file: string): Unzipped {
  try {
    return unzipSync(bytes);
  } catch (error) {
    throw new CheckpointError(file, `corrupt or truncated zip archive: ${describeError(error)}`, { cause: error });
  }
}

/** The folder (with trailing slash) holding data.pkl; torch names it after the file or "archive". */
function findArchivePrefix(entries: Unzipped, file: string): string {
  const pickles = Object.keys(entries).filter((name) => name.endsWith('/data.pkl'));
  if (pickles.length !== 1) {
    throw new CheckpointError(file, `expected one "<archive>/data.pkl" entry in the zip, found ${pickles.length}`);
  }
  return pickles[0]!.slice(0, -'data.pkl'.length);
}

/** Recent torch versions record the byte order; older ones always wrote little-endian. */
function checkByteOrder(entries: Unzipped, archive: string, file: string): void {
  const record = entries[`${archive}byteorder`];
  const order = record === undefined ? 'little' : new TextDecoder().decode(record).trim();
  if (order !== 'little') throw new CheckpointError(file, `unsupported byte order "${order}" (only little-endian)`);
}

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  DoubleStorage: 'float64',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

type PickleCallable = (...args: unknown[]) => unknown;
type NameResolver = NonNullable<ConstructorParameters<typeof Parser>[0]>['nameResolver'];

/** Stand-in for a `torch.*Storage` class: only used as a tag inside storage persistent ids. */
class StorageType {
  constructor(
    readonly global: string,
    readonly dtype: DType,
  ) {}
}

/** One storage of the archive, decoded once and shared by every tensor viewing it. */
class Storage {
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly data: TensorData,
  ) {}
}

/** A tensor built while unpickling; frozen so a hostile BUILD opcode cannot rewrite it. */
class PickledTensor implements RawTensor {
  constructor(
    readonly dtype: DType,
    readonly shape: number[],
    readonly data: TensorData,
  ) {
    Object.freeze(this);
  }
}

/** Per-file unpickling state: the zip entries, decoded storages and name bookkeeping. */
class UnpicklingContext {
  private readonly storages = new Map<string, Storage>();
  /** Python name of every callable handed to the parser, to report bare references by name. */
  private readonly globalNames = new WeakMap<object, string>();
  private readonly safeGlobals: Record<string, PickleCallable>;

  constructor(
    private readonly file: string,
    private readonly entries: Unzipped,
    private readonly archive: string,
  ) {
    this.safeGlobals = this.createSafeGlobals();
  }

  unpickle(pickle: Uint8Array): unknown {
    // The typings want callables; a StorageType tag is only ever used as a value (inside a
    // persistent id). Were a hostile pickle to call one, the parser throws "not a function".
    const nameResolver: NameResolver = {
      resolve: (module, name) => this.resolveGlobal(`${module}.${name}`) as PickleCallable,
    };
    const parser = new Parser({
      nameResolver,
      persistentResolver: { resolve: (pid: unknown) => this.loadStorage(pid) },
      // Maps keep key order and non-string keys, and are immune to "__proto__" keys.
      unpicklingTypeOfDictionary: 'Map',
    });
    try {
      return parser.parse(pickle);
    } catch (error) {
      if (error instanceof CheckpointError) throw error;
      throw new CheckpointError(this.file, `corrupt or unsupported data.pkl: ${describeError(error)}`, { cause: error });
    }
  }

  /**
   * Everything the parser may call. Each entry only builds data; none of them looks anything up
   * by a name taken from the file.
   */
  private createSafeGlobals(): Record<string, PickleCallable> {
    const newDict = (): Map<unknown, unknown> => new Map();
    const toList = (items: unknown = []): unknown[] => (Array.isArray(items) ? [...items] : []);
    const unwrapParameter = (data: unknown): unknown => this.expectTensor(data, 'torch._utils._rebuild_parameter');
    return {
      'collections.OrderedDict': newDict,
      'collections.defaultdict': newDict,
      'torch._utils._rebuild_tensor_v2': (...args) => this.rebuildTensor(args),
      'torch._utils._rebuild_parameter': unwrapParameter,
      'torch._utils._rebuild_parameter_with_state': unwrapParameter,
      'torch.Size': toList,
      // Protocol 2 pickles Python 3 sets and bytes through these (with Python 2 module names).
      'builtins.set': toList,
      'builtins.frozenset': toList,
      '__builtin__.set': toList,
      '__builtin__.frozenset': toList,
      '_codecs.encode': (text, encoding) => this.latin1Bytes(text, encoding),
    };
  }

  private resolveGlobal(global: string): PickleCallable | StorageType {
    const storageDType = global.startsWith('torch.') ? STORAGE_DTYPES[global.slice('torch.'.length)] : undefined;
    if (storageDType !== undefined) return new StorageType(global, storageDType);
    const callable = Object.hasOwn(this.safeGlobals, global) ? this.safeGlobals[global]! : inertGlobal(global);
    this.globalNames.set(callable, global);
    return callable;
  }

  /** persistent_load for ('storage', StorageType, key, location, numel). */
  private loadStorage(pid: unknown): Storage {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
      throw new CheckpointError(this.file, `unsupported persistent id ${safeStringify(pid)}`);
    }
    const [, storageType, key, , declaredNumel] = pid as unknown[];
    if (typeof key !== 'string' || !isNonNegativeInteger(declaredNumel)) {
      throw new CheckpointError(this.file, `malformed storage persistent id ${safeStringify(pid)}`);
    }
    if (!(storageType instanceof StorageType)) {
      const name = this.describeGlobal(storageType);
      const supported = Object.keys(STORAGE_DTYPES).join(', ');
      throw new CheckpointError(this.file, `storage ${key} has ${name}; supported storages: ${supported}`, { key: `storage ${key}` });
    }
    const cached = this.storages.get(key);
    if (cached !== undefined) return cached;
    const storage = new Storage(key, storageType.dtype, this.readStorageBytes(key, storageType.dtype, declaredNumel));
    this.storages.set(key, storage);
    return storage;
  }

  private readStorageBytes(key: string, dtype: DType, declaredNumel: number): TensorData {
    const entryName = `${this.archive}data/${key}`;
    const bytes = this.entries[entryName];
    const neededBytes = declaredNumel * bytesPerElement(dtype);
    if (bytes === undefined) throw new CheckpointError(this.file, `missing zip entry ${entryName}`, { key: `storage ${key}` });
    if (bytes.byteLength < neededBytes) {
      throw new CheckpointError(this.file, `zip entry ${entryName} has ${bytes.byteLength} bytes, storage needs ${neededBytes}`, {
        key: `storage ${key}`,
      });
    }
    // Tensors copy out of their storage, so the storage itself may view the unzipped entry.
    return dataFromBytes(dtype, bytes.subarray(0, neededBytes), { copy: false });
  }

  /** torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) */
  private rebuildTensor(args: unknown[]): PickledTensor {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof Storage)) {
      throw new CheckpointError(this.file, `_rebuild_tensor_v2 got ${this.describeGlobal(storage)} instead of a storage`);
    }
    const fail = (message: string): never => {
      throw new CheckpointError(this.file, message, { key: `storage ${storage.key}` });
    };
    if (!isNonNegativeInteger(offset)) return fail(`invalid storage offset ${safeStringify(offset)}`);
    if (!isIntegerList(size) || !isIntegerList(stride) || size.length !== stride.length) {
      return fail(`invalid size ${safeStringify(size)} / stride ${safeStringify(stride)}`);
    }
    if (!viewFitsStorage(offset, size, stride, storage.data.length)) {
      return fail(`view (offset ${offset}, size [${size}], stride [${stride}]) exceeds storage of ${storage.data.length} elements`);
    }
    return new PickledTensor(storage.dtype, [...size], copyStrided(storage.data, offset, size, stride, storage.dtype));
  }

  private expectTensor(value: unknown, context: string): PickledTensor {
    if (value instanceof PickledTensor) return value;
    throw new CheckpointError(this.file, `${context} expected a tensor, got ${this.describeGlobal(value)}`);
  }

  private latin1Bytes(text: unknown, encoding: unknown): Uint8Array {
    if (typeof text !== 'string' || encoding !== 'latin1') {
      throw new CheckpointError(this.file, `_codecs.encode is only supported for latin1 text, got ${safeStringify(encoding)}`);
    }
    return Uint8Array.from(text, (char) => char.charCodeAt(0));
  }

  private describeGlobal(value: unknown): string {
    if (value instanceof UnsupportedPickleObject) return `an object of unsupported global ${value.global}`;
    const name = typeof value === 'object' || typeof value === 'function' ? this.globalNames.get(value as object) : undefined;
    if (name !== undefined) return `unsupported global ${name}`;
    return safeStringify(value);
  }

  /**
   * Convert parser output to the public shape. Memoized by identity so shared references stay
   * shared and cyclic structures (possible in pickles) do not recurse forever.
   */
  toPlain(value: unknown, seen = new Map<object, unknown>()): unknown {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return value;
    const known = seen.get(value);
    if (known !== undefined) return known;
    if (value instanceof PickledTensor) return remember(seen, value, { dtype: value.dtype, shape: [...value.shape], data: value.data });
    if (value instanceof Storage) return remember(seen, value, { dtype: value.dtype, shape: [value.data.length], data: value.data });
    if (value instanceof Uint8Array || value instanceof PickleGlobalRef) return value;
    if (typeof value === 'function' || value instanceof StorageType) {
      const name = value instanceof StorageType ? value.global : (this.globalNames.get(value) ?? '<unknown>');
      return remember(seen, value, new PickleGlobalRef(name));
    }
    if (Array.isArray(value)) {
      const list = remember(seen, value, new Array<unknown>(value.length));
      value.forEach((item, i) => (list[i] = this.toPlain(item, seen)));
      return list;
    }
    if (value instanceof Map) {
      const record = remember(seen, value, {} as Record<string, unknown>);
      for (const [key, item] of value) defineEntry(record, String(key), this.toPlain(item, seen));
      return record;
    }
    if (value instanceof UnsupportedPickleObject) {
      const copy = remember(seen, value, new UnsupportedPickleObject(value.global, []));
      copy.args.push(...(this.toPlain(value.args, seen) as unknown[]));
      copy.state = this.toPlain(value.state, seen);
      return copy;
    }
    throw new CheckpointError(this.file, `internal error: unexpected unpickled value ${safeStringify(value)}`);
  }
}

/**
 * What an unknown global resolves to: callable with or without `new` (pickle uses both REDUCE
 * and NEWOBJ), and all it does is record its arguments.
 */
function inertGlobal(global: string): PickleCallable {
  return function inert(...args: unknown[]) {
    return new UnsupportedPickleObject(global, args);
  };
}

function remember<T>(seen: Map<object, unknown>, original: object, converted: T): T {
  seen.set(original, converted);
  return converted;
}

// Plain assignment would treat a "__proto__" key as the prototype setter.
function defineEntry(record: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Whether every element the view can address lies inside the storage. */
function viewFitsStorage(offset: number, size: number[], stride: number[], storageLength: number): boolean {
  if (size.some((extent) => extent < 0) || stride.some((step) => step < 0)) return false;
  if (numel(size) === 0) return offset <= storageLength;
  const lastIndex = size.reduce((index, extent, dim) => index + (extent - 1) * stride[dim]!, offset);
  return lastIndex < storageLength;
}

/** Whether the view reads `numel(size)` consecutive elements (dims of extent 1 may have any stride). */
function isContiguous(size: number[], stride: number[]): boolean {
  let expected = 1;
  for (let dim = size.length - 1; dim >= 0; dim--) {
    if (size[dim] !== 1 && stride[dim] !== expected) return false;
    expected *= size[dim]!;
  }
  return true;
}

/** Copy a strided view of `source` into a new row-major array. */
function copyStrided(source: TensorData, offset: number, size: number[], stride: number[], dtype: DType): TensorData {
  const count = numel(size);
  if (isContiguous(size, stride)) return source.slice(offset, offset + count);
  const out = allocateData(dtype, count);
  // Element-wise copy between arrays of the same type; the union type cannot express that.
  const from = source as unknown as ArrayLike<unknown>;
  const to = out as unknown as Record<number, unknown>;
  const rank = size.length;
  const innerExtent = size[rank - 1]!;
  const innerStride = stride[rank - 1]!;
  const outerIndex = new Array<number>(rank).fill(0);
  let rowStart = offset;
  for (let written = 0; written < count; ) {
    for (let i = 0, at = rowStart; i < innerExtent; i++, at += innerStride) to[written++] = from[at];
    // Advance the outer dims like an odometer, moving rowStart by their strides.
    for (let dim = rank - 2; dim >= 0; dim--) {
      rowStart += stride[dim]!;
      if (++outerIndex[dim]! < size[dim]!) break;
      rowStart -= stride[dim]! * size[dim]!;
      outerIndex[dim] = 0;
    }
  }
  return out;
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isIntegerList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every(isNonNegativeInteger);
}

function safeStringify(value: unknown): string {
  if (typeof value === 'function') return '<callable>';
  try {
    const text = JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item));
    return text === undefined ? String(value) : text.length > 200 ? `${text.slice(0, 200)}...` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
