/**
 * `loadConfig`: reads a JSON5 config file, resolves its `_base_` chain, merges, applies `--cfg-options`, and
 * records for every leaf which file or override set it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import JSON5 from 'json5';
import { parseCfgOptions } from './cfg-options.js';
import { Config } from './config.js';
import { ConfigError, displayPath } from './errors.js';
import { mergeInto, type MergeObserver } from './merge.js';
import { applyCfgOption, RESERVED_KEYS } from './overrides.js';
import { Provenance } from './provenance.js';
import { isConfigObject, setKey, type ConfigObject } from './values.js';
import { substituteBaseReferences, substituteVariables } from './variables.js';

export interface LoadConfigOptions {
  /** `key.path=value` overrides, applied in order after inheritance (as `--cfg-options` on the command line). */
  cfgOptions?: readonly string[];
}

/** A config with its provenance, while it is still being assembled. */
interface Assembled {
  data: ConfigObject;
  provenance: Provenance;
}

interface BaseEntry {
  /** As written in the file. */
  entry: string;
  /** Where it was written: `_base_` or `_base_.1`. */
  configPath: string;
}

const EXTENSIONS = ['.json', '.json5'];

export function loadConfig(file: string, options: LoadConfigOptions = {}): Config {
  const absolute = path.resolve(file);
  if (!fs.existsSync(absolute)) throw new ConfigError(`config file not found: ${file}`, { file: absolute });
  let assembled = loadFile(absolute, []);
  for (const option of parseCfgOptions(options.cfgOptions ?? [])) {
    assembled = { ...assembled, data: applyCfgOption(assembled.data, option, assembled.provenance) };
  }
  return new Config(assembled.data, absolute, assembled.provenance);
}

/** Loads `file` and, recursively, its bases; `chain` holds the files that (transitively) named it as a base. */
function loadFile(file: string, chain: readonly string[]): Assembled {
  const own = readConfigObject(file);
  const entries = baseEntriesOf(own, file);
  const bases = combineBases(
    entries.map((entry) => loadBase(entry, file, [...chain, file])),
    file,
  );
  const { _base_: _ignored, ...rest } = own;
  const withReferences = substituteBaseReferences(rest, bases.data, file);
  return mergeOwn(bases, withReferences, file);
}

function readConfigObject(file: string): ConfigObject {
  if (!EXTENSIONS.includes(path.extname(file))) {
    throw new ConfigError(`${displayPath(file)}: config files must end in ${EXTENSIONS.join(' or ')}`, { file });
  }
  const text = substituteVariables(readText(file), file);
  const parsed = parseJson5(text, file);
  if (!isConfigObject(parsed)) {
    throw new ConfigError(`${displayPath(file)}: a config file must hold one object, not ${typeName(parsed)}`, { file });
  }
  const reserved = Object.keys(parsed).find((key) => RESERVED_KEYS.includes(key));
  if (reserved !== undefined) {
    throw new ConfigError(`${displayPath(file)}: "${reserved}" is a reserved key and cannot be used in a config`, {
      file,
      configPath: reserved,
    });
  }
  return parsed;
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${displayPath(file)}: cannot read: ${(error as Error).message}`, { file, cause: error });
  }
}

function parseJson5(text: string, file: string): unknown {
  try {
    return JSON5.parse(text);
  } catch (error) {
    const { lineNumber, columnNumber, message } = error as SyntaxError & { lineNumber?: number; columnNumber?: number };
    const problem = message.replace(/^JSON5: /, '').replace(/ at \d+:\d+$/, '');
    const where = lineNumber === undefined ? '' : `:${lineNumber}:${columnNumber ?? 0}`;
    throw new ConfigError(`${displayPath(file)}${where}: invalid JSON5: ${problem}`, { file, cause: error });
  }
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  return value === null ? 'null' : `a ${typeof value}`;
}

function baseEntriesOf(own: ConfigObject, file: string): BaseEntry[] {
  const value = own['_base_'];
  if (value === undefined) return [];
  if (typeof value === 'string') return [{ entry: value, configPath: '_base_' }];
  if (Array.isArray(value)) {
    return value.map((entry, index) => {
      if (typeof entry === 'string') return { entry, configPath: `_base_.${index}` };
      throw baseTypeError(file, `_base_.${index}`);
    });
  }
  throw baseTypeError(file, '_base_');
}

function baseTypeError(file: string, configPath: string): ConfigError {
  const message = `${displayPath(file)}: ${configPath} must be a path or a list of paths (strings), relative to this file`;
  return new ConfigError(message, { file, configPath });
}

function loadBase(base: BaseEntry, file: string, chain: readonly string[]): { file: string; assembled: Assembled } {
  const where = `${displayPath(file)}: ${base.configPath} "${base.entry}"`;
  if (base.entry.includes('::')) {
    throw new ConfigError(`${where}: package-scoped bases (pkg::path) are not supported; use a relative path`, {
      file,
      configPath: base.configPath,
    });
  }
  const resolved = path.resolve(path.dirname(file), base.entry);
  if (chain.includes(resolved)) throw cycleError([...chain.slice(chain.indexOf(resolved)), resolved], file);
  if (!fs.existsSync(resolved)) {
    throw new ConfigError(`${where}: base config not found at ${displayPath(resolved)}`, { file, configPath: base.configPath });
  }
  return { file: resolved, assembled: loadFile(resolved, chain) };
}

function cycleError(cycle: readonly string[], file: string): ConfigError {
  return new ConfigError(`_base_ cycle: ${cycle.map(displayPath).join(' → ')}`, { file, configPath: '_base_' });
}

/** Unites the bases of one `_base_` list; as in mmengine, two of them must not define the same top-level key. */
function combineBases(bases: readonly { file: string; assembled: Assembled }[], file: string): Assembled {
  const data: ConfigObject = {};
  const provenance = new Provenance();
  const definedBy = new Map<string, string>();
  for (const base of bases) {
    for (const [key, value] of Object.entries(base.assembled.data)) {
      const earlier = definedBy.get(key);
      if (earlier !== undefined) throw duplicateKeyError(key, earlier, base.file, file);
      definedBy.set(key, base.file);
      setKey(data, key, value);
    }
    provenance.absorb(base.assembled.provenance);
  }
  return { data, provenance };
}

function duplicateKeyError(key: string, first: string, second: string, file: string): ConfigError {
  const message =
    `${displayPath(file)}: duplicate key "${key}" is not allowed among bases: ` +
    `both ${displayPath(first)} and ${displayPath(second)} define it`;
  return new ConfigError(message, { file, configPath: key });
}

/** Merges the file's own keys into its combined bases, crediting every value it sets to `file`. */
function mergeOwn(bases: Assembled, own: ConfigObject, file: string): Assembled {
  const provenance = bases.provenance;
  const observer: MergeObserver = {
    replaced: (parts, value) => provenance.stamp(parts, value, file),
    merging: (parts) => provenance.forgetExact(parts),
    errorContext: (parts) => ({ file, baseSource: provenance.sourceOf(parts) }),
  };
  return { data: mergeInto(bases.data, own, [], observer), provenance };
}
