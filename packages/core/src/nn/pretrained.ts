/**
 * `init_cfg: {type: 'Pretrained', checkpoint}` with mmdet's rules: `state_dict` unwrapping,
 * `module.` stripping, an optional key prefix, and a non-strict load whose missing/unexpected
 * keys are reported. Model-zoo URIs resolve to a local cache folder; nothing is downloaded.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CheckpointError } from '../checkpoint/errors.js';
import { loadCheckpoint } from '../checkpoint/load-checkpoint.js';
import type { RawTensor } from '../checkpoint/raw-tensor.js';
import type { Module } from './module.js';
import { loadStateDict, type LoadReport } from './state-dict.js';

/** mmengine's legacy torchvision-0.12 file names, so `torchvision://resnet50` names the same file. */
const TORCHVISION_FILES: Record<string, string> = {
  resnet18: 'resnet18-f37072fd.pth',
  resnet34: 'resnet34-b627a593.pth',
  resnet50: 'resnet50-0676ba61.pth',
  resnet101: 'resnet101-63fe2227.pth',
  resnet152: 'resnet152-394f9c45.pth',
};

/** Where model-zoo checkpoints are looked for: $TSDET_CHECKPOINT_DIR, else ~/.cache/tsdet/checkpoints. */
export function checkpointCacheDir(env = process.env): string {
  return env['TSDET_CHECKPOINT_DIR'] ?? path.join(os.homedir(), '.cache', 'tsdet', 'checkpoints');
}

/** Maps `torchvision://NAME`, `open-mmlab://NAME` or a local path to a local file path. */
export function resolveCheckpointPath(uri: string, baseDir = process.cwd()): string {
  const match = /^([a-z-]+):\/\/(.+)$/.exec(uri);
  if (!match) return path.resolve(baseDir, uri);
  const [, scheme, name] = match as unknown as [string, string, string];
  const cache = checkpointCacheDir();
  if (scheme === 'torchvision' || scheme === 'modelzoo') return path.join(cache, 'torchvision', TORCHVISION_FILES[name] ?? `${name}.pth`);
  if (scheme === 'open-mmlab' || scheme === 'openmmlab') return path.join(cache, 'open-mmlab', `${name}.pth`);
  if (scheme === 'http' || scheme === 'https') {
    throw new CheckpointError(uri, `tsdet never downloads; fetch the file yourself and give its local path (or put it under ${cache})`);
  }
  throw new CheckpointError(uri, `unknown checkpoint scheme '${scheme}://' (use a path, torchvision:// or open-mmlab://)`);
}

export interface PretrainedOptions {
  checkpoint: string;
  /** Only keys starting with this prefix are used, with the prefix removed (mmengine's `prefix`). */
  prefix?: string;
  /** Dotted config path named in errors. */
  configPath?: string;
}

/** Loads a checkpoint into `module` non-strictly (as mmdet); returns the report it also prints. */
export function loadPretrained(module: Module, options: PretrainedOptions): LoadReport {
  const file = resolveCheckpointPath(options.checkpoint);
  if (!fs.existsSync(file)) {
    const where = options.configPath ? `${options.configPath}: ` : '';
    throw new CheckpointError(file, `${where}checkpoint '${options.checkpoint}' not found: put the file at ${file} (no download is attempted; TSDET_CHECKPOINT_DIR sets the cache folder)`);
  }
  const { stateDict } = loadCheckpoint(file);
  return loadStateDict(module, selectPrefix(stateDict, options.prefix, file), { strict: false, source: file });
}

function selectPrefix(stateDict: Map<string, RawTensor>, prefix: string | undefined, file: string): Map<string, RawTensor> {
  if (!prefix) return stateDict;
  const p = prefix.endsWith('.') ? prefix : `${prefix}.`;
  const selected = new Map([...stateDict].filter(([k]) => k.startsWith(p)).map(([k, v]) => [k.slice(p.length), v]));
  if (!selected.size) throw new CheckpointError(file, `no key starts with the prefix '${p}'`);
  return selected;
}
