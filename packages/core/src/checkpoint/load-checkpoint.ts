import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';

import { CheckpointError, describeError } from './errors.js';
import { hasZipMagic, loadPth, looksLikeLegacyTorchFile, UnsupportedPickleObject } from './pth.js';
import { dataMatchesDType, DTYPES, numel, type DType, type RawTensor } from './raw-tensor.js';
import { readSafetensors } from './safetensors.js';

export interface LoadedCheckpoint {
  /** Model weights by parameter/buffer name, with any leading `module.` removed. */
  stateDict: Map<string, RawTensor>;
  /** Everything else at the top level (mmengine: `meta`, `optimizer`, ...; safetensors: the `__metadata__` strings). */
  meta: Record<string, unknown>;
  /** Absolute path of the file that was read. */
  file: string;
}

/**
 * Load model weights from a safetensors or PyTorch (zip) checkpoint, following mmengine's rules.
 *
 * The format is decided by content (zip magic "PK" for torch, a JSON header for safetensors);
 * the extension only chooses which reader explains the failure when the content matches
 * neither. For torch files the weights are, in order of preference:
 * - `checkpoint.state_dict` (mmengine/mmdet checkpoints);
 * - `checkpoint.model` when it is a dict (detectron2/DETR/torchvision-reference style);
 *   these are the only two wrapper keys recognised (not `params`, `net`, `weights`, ...);
 * - otherwise the top-level dict itself (a bare `torch.save(model.state_dict())`): its tensor
 *   values are the weights and its other values go to `meta`.
 * Inside an explicit `state_dict` / `model`, every value must be a tensor.
 */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  const file = resolve(path);
  const bytes = readCheckpointFile(file);
  switch (detectFormat(bytes, file)) {
    case 'torch':
      return fromTorchObject(loadPth(bytes, file), file);
    case 'safetensors': {
      const { tensors, metadata } = readSafetensors(bytes, file);
      return { stateDict: stripModulePrefix(tensors, file), meta: { ...metadata }, file };
    }
  }
  throw new CheckpointError(file, 'unrecognized checkpoint format: expected safetensors or a PyTorch zip (.pth) file');
}

const TORCH_EXTENSIONS = new Set(['.pth', '.pt', '.pkl', '.ckpt', '.bin', '.tar']);
const JSON_OPEN_BRACE = 0x7b;

/**
 * Content first, most specific signature first: a safetensors header length can start with the
 * same bytes as a pickle (0x80 0x02 is a length of 640), so the legacy-pickle sniff comes after
 * the safetensors one. The extension only decides for content that matches nothing, so that the
 * reader the user expected reports the problem.
 */
function detectFormat(bytes: Uint8Array, file: string): 'torch' | 'safetensors' | undefined {
  if (hasZipMagic(bytes)) return 'torch';
  // safetensors: an 8-byte header length, then the JSON header's "{".
  if (bytes[8] === JSON_OPEN_BRACE) return 'safetensors';
  if (looksLikeLegacyTorchFile(bytes)) return 'torch';
  const extension = extname(file).toLowerCase();
  if (extension === '.safetensors') return 'safetensors';
  if (TORCH_EXTENSIONS.has(extension)) return 'torch';
  return undefined;
}

function readCheckpointFile(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'checkpoint file not found' : `cannot read checkpoint file: ${describeError(error)}`;
    throw new CheckpointError(file, reason, { cause: error });
  }
}

const STATE_DICT_KEYS = ['state_dict', 'model'] as const;

function fromTorchObject(top: unknown, file: string): LoadedCheckpoint {
  if (!isPlainRecord(top)) {
    throw new CheckpointError(file, `expected a dict at the top level of the checkpoint, got ${describeValue(top)}`);
  }
  // `state_dict` always wins (and must then be a dict); `model` only counts when it is a dict,
  // since it may just as well be metadata such as a model name.
  const wrapperKey = STATE_DICT_KEYS.find((key) => (key === 'state_dict' ? key in top : isPlainRecord(top[key])));
  if (wrapperKey === undefined) return splitFlatCheckpoint(top, file);
  const wrapped = top[wrapperKey];
  if (!isPlainRecord(wrapped)) {
    throw new CheckpointError(file, `"${wrapperKey}" must be a dict of tensors, got ${describeValue(wrapped)}`, { key: wrapperKey });
  }
  const tensors = new Map<string, RawTensor>();
  for (const [key, value] of Object.entries(wrapped)) {
    if (!isRawTensor(value)) {
      throw new CheckpointError(file, `${wrapperKey} entry is not a tensor: ${describeValue(value)}`, { key });
    }
    tensors.set(key, value);
  }
  const meta = Object.fromEntries(Object.entries(top).filter(([key]) => key !== wrapperKey));
  return { stateDict: stripModulePrefix(tensors, file), meta, file };
}

/** A bare state dict: tensors are weights, anything else is metadata. */
function splitFlatCheckpoint(top: Record<string, unknown>, file: string): LoadedCheckpoint {
  const tensors = new Map<string, RawTensor>();
  const meta: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(top)) {
    if (isRawTensor(value)) tensors.set(key, value);
    else Object.defineProperty(meta, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return { stateDict: stripModulePrefix(tensors, file), meta, file };
}

/** (Distributed)DataParallel wrappers save every key with a `module.` prefix; mmengine drops it. */
function stripModulePrefix(tensors: Map<string, RawTensor>, file: string): Map<string, RawTensor> {
  const stripped = new Map<string, RawTensor>();
  for (const [key, tensor] of tensors) {
    const name = key.startsWith('module.') ? key.slice('module.'.length) : key;
    if (stripped.has(name)) {
      throw new CheckpointError(file, `two tensors map to "${name}" once the "module." prefix is removed`, { key });
    }
    stripped.set(name, tensor);
  }
  return stripped;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype && !isRawTensor(value)
  );
}

/** Tensors come out of the readers as exactly {dtype, shape, data} with consistent sizes. */
function isRawTensor(value: unknown): value is RawTensor {
  if (typeof value !== 'object' || value === null) return false;
  const { dtype, shape, data } = value as Partial<RawTensor>;
  return (
    DTYPES.includes(dtype as DType) &&
    Array.isArray(shape) &&
    ArrayBuffer.isView(data) &&
    dataMatchesDType(data, dtype as DType) &&
    data.length === numel(shape)
  );
}

function describeValue(value: unknown): string {
  if (value instanceof UnsupportedPickleObject) return `an object of unsupported Python global ${value.global}`;
  if (value === null || value === undefined) return 'None';
  if (Array.isArray(value)) return `a list of ${value.length} items`;
  if (isPlainRecord(value)) return 'a dict';
  if (typeof value === 'object') return `a ${value.constructor.name}`;
  return `${typeof value} ${String(value)}`;
}
