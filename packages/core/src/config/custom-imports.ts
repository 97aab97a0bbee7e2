/**
 * `custom_imports: {imports: [...], allow_failed_imports?: boolean}`: modules that register components (models,
 * transforms, ...) as a side effect of being imported, named in the config so no code has to import them.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Config } from './config.js';
import { ConfigError, displayPath } from './errors.js';

export interface ImportCustomModulesOptions {
  /** Where warnings about allowed failures go; `console.warn` by default. */
  warn?: (message: string) => void;
}

interface CustomImports {
  imports: string[];
  allowFailedImports: boolean;
}

/**
 * Imports every `custom_imports.imports` entry of `config`, in order, and returns the entries that loaded. An entry
 * starting with `.` or `/` is a file path relative to the config file's directory (the working directory for a
 * config without a file); anything else is a package specifier.
 */
export async function importCustomModules(config: Config, options: ImportCustomModulesOptions = {}): Promise<string[]> {
  const customImports = readCustomImports(config);
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const loaded: string[] = [];
  // A Set: an entry listed twice is imported (and, if failing, warned about) once.
  for (const entry of new Set(customImports.imports)) {
    const failure = await tryImport(entry, config);
    if (failure === undefined) loaded.push(entry);
    else if (customImports.allowFailedImports) warn(`${failure.message} (skipped: allow_failed_imports is true)`);
    else throw failure;
  }
  return loaded;
}

async function tryImport(entry: string, config: Config): Promise<ConfigError | undefined> {
  try {
    await import(specifierOf(entry, config));
    return undefined;
  } catch (error) {
    const where = config.filename === undefined ? 'a config built in code' : displayPath(config.filename);
    const reason = error instanceof Error ? error.message : String(error);
    return new ConfigError(`custom_imports: cannot import "${entry}" (listed in ${where}): ${reason}`, {
      configPath: 'custom_imports.imports',
      cause: error,
      file: config.filename,
    });
  }
}

function specifierOf(entry: string, config: Config): string {
  if (!entry.startsWith('.') && !entry.startsWith('/')) return entry;
  const directory = config.filename === undefined ? process.cwd() : path.dirname(config.filename);
  return pathToFileURL(path.resolve(directory, entry)).href;
}

/** Validates `custom_imports`; a single string is accepted for `imports`, as mmengine does. */
function readCustomImports(config: Config): CustomImports {
  const value = config.get('custom_imports');
  if (value === undefined) return { imports: [], allowFailedImports: false };
  const imports = config.get('custom_imports.imports');
  const allow = config.get('custom_imports.allow_failed_imports') ?? false;
  const list = typeof imports === 'string' ? [imports] : imports;
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) {
    throw shapeError(config, 'custom_imports.imports', 'must be a module specifier or a list of them');
  }
  if (typeof allow !== 'boolean') throw shapeError(config, 'custom_imports.allow_failed_imports', 'must be true or false');
  return { imports: list as string[], allowFailedImports: allow };
}

function shapeError(config: Config, configPath: string, problem: string): ConfigError {
  const source = config.sourceOf(configPath) ?? config.sourceOf('custom_imports');
  const prefix = source === undefined ? '' : `${displayPath(source)}: `;
  return new ConfigError(`${prefix}${configPath} ${problem}`, { configPath, file: config.filename });
}
