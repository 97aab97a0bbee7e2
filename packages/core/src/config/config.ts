/**
 * A loaded config: deep-frozen merged data plus the provenance of every leaf, so that "which file set this?" has
 * an answer (mmengine cannot give one).
 */
import * as path from 'node:path';
import { ConfigError, displayPath } from './errors.js';
import { RESERVED_KEYS } from './overrides.js';
import { formatPath, resolvePath, type ConfigPath } from './paths.js';
import { Provenance } from './provenance.js';
import {
  assertConfigValue,
  cloneObject,
  deepFreeze,
  isConfigObject,
  type ConfigObject,
  type FrozenObject,
  type FrozenValue,
  type PathPart,
} from './values.js';

export interface ConfigLeaf {
  /** Dotted path, list indices as numbers. */
  path: string;
  value: FrozenValue;
  /** Absolute file path, `--cfg-options key=value`, or undefined for values built in code. */
  source: string | undefined;
}

export class Config {
  /** The merged config, deep-frozen: writes throw (ESM code is strict). Copy with `structuredClone` to edit. */
  readonly data: FrozenObject;
  /** Absolute path of the file the config was loaded from, if any. */
  readonly filename: string | undefined;
  readonly #provenance: Provenance;

  /** @internal Use `loadConfig` or `Config.fromObject`. */
  constructor(data: ConfigObject, filename: string | undefined, provenance: Provenance) {
    this.data = deepFreeze(data);
    this.filename = filename;
    this.#provenance = provenance;
    Object.freeze(this);
  }

  /**
   * Wraps a config built in code. Its leaves are credited to `filename` when given (which is also the directory
   * that relative `custom_imports` resolve against). `_base_` is not resolved here: use `loadConfig`.
   */
  static fromObject(object: Record<string, unknown>, filename?: string): Config {
    const file = filename === undefined ? undefined : path.resolve(filename);
    checkBuiltObject(object, file);
    const data = cloneObject(object);
    const provenance = new Provenance();
    if (file !== undefined) provenance.stamp([], data, file);
    return new Config(data, file, provenance);
  }

  /** The value at `path` (`'model.backbone.depth'` or `['model', 'backbone', 'depth']`), or undefined. */
  get(configPath: ConfigPath): FrozenValue | undefined {
    return resolvePath(this.data, configPath)?.value;
  }

  /**
   * The file (absolute path) or override (`--cfg-options a.b=1`) that set the value at `path`. For a dict, the
   * source of its most recently set leaf; for a value inside a list, that of the list unless an override reached
   * into it. Undefined for a path that does not exist or a value built in code without a filename.
   */
  sourceOf(configPath: ConfigPath): string | undefined {
    const resolved = resolvePath(this.data, configPath);
    return resolved === undefined ? undefined : this.#provenance.sourceOf(resolved.parts);
  }

  /**
   * Every leaf (scalar, list or empty dict) in data order with its source. A list that an override reached into is
   * followed by the overridden values inside it, each with the override as its source.
   */
  leaves(): ConfigLeaf[] {
    const leaves: ConfigLeaf[] = [];
    this.collectLeaves(this.data, [], leaves);
    return leaves;
  }

  toJSON(): FrozenObject {
    return this.data;
  }

  /** The merged config as pretty JSON. */
  dump(): string {
    return JSON.stringify(this.data, null, 2);
  }

  /** One `path = value   # source` line per leaf; files are shown relative to the working directory. */
  dumpWithSources(): string {
    const rows = this.leaves().map((leaf) => ({
      assignment: `${leaf.path} = ${inlineJson(leaf.value)}`,
      source: leaf.source === undefined ? '(set in code)' : displayPath(leaf.source),
    }));
    const width = Math.min(MAX_ALIGN, Math.max(0, ...rows.map((row) => row.assignment.length)));
    return rows.map((row) => `${row.assignment.padEnd(width)}   # ${row.source}`).join('\n');
  }

  private collectLeaves(value: FrozenValue, parts: readonly PathPart[], leaves: ConfigLeaf[]): void {
    if (isConfigObject(value) && Object.keys(value).length > 0) {
      for (const [key, item] of Object.entries(value)) this.collectLeaves(item, [...parts, key], leaves);
      return;
    }
    leaves.push(this.leafAt(parts, value));
    for (const entry of this.#provenance.entriesBelow(parts)) {
      leaves.push(this.leafAt(entry.parts, resolvePath(this.data, entry.parts)?.value ?? null));
    }
  }

  private leafAt(parts: readonly PathPart[], value: FrozenValue): ConfigLeaf {
    return { path: formatPath(parts), value, source: this.#provenance.sourceOf(parts) };
  }
}

function checkBuiltObject(object: unknown, file: string | undefined): asserts object is ConfigObject {
  assertConfigValue(object, [], file);
  if (!isConfigObject(object)) throw new ConfigError('Config.fromObject: a config must be a dict, not a list', { file });
  const key = Object.keys(object).find((name) => name === '_base_' || RESERVED_KEYS.includes(name));
  if (key === undefined) return;
  const why = key === '_base_' ? 'is only resolved by loadConfig' : 'is a reserved key';
  throw new ConfigError(`Config.fromObject: "${key}" ${why}`, { configPath: key, file });
}

/** Assignments longer than this are not padded, so one long list does not push every comment off screen. */
const MAX_ALIGN = 64;

/** Single-line JSON with a space after `,` and `:`, for one leaf per line. */
function inlineJson(value: FrozenValue): string {
  if (Array.isArray(value)) return `[${(value as readonly FrozenValue[]).map(inlineJson).join(', ')}]`;
  if (isConfigObject(value)) {
    const entries = Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}: ${inlineJson(item)}`);
    return `{${entries.join(', ')}}`;
  }
  return JSON.stringify(value);
}
