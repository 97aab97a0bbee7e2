/**
 * The one way tools turn a config file into something buildable: load and merge it, import its
 * `custom_imports` (so third-party components are registered), then validate the whole tree
 * against the registered schemas, reporting every problem with its path and the file that set it.
 */
import { Config } from '../config/config.js';
import { importCustomModules } from '../config/custom-imports.js';
import { displayPath } from '../config/errors.js';
import { loadConfig } from '../config/loader.js';
import { validateConfig } from './config-sections.js';

export interface PreparedConfig {
  /** The merged, read-only config with per-leaf provenance. */
  config: Config;
  /** A validated copy with schema defaults filled in: what builders receive. */
  resolved: Record<string, unknown>;
}

export async function prepareConfig(file: string, options: { cfgOptions?: readonly string[] } = {}): Promise<PreparedConfig> {
  const config = loadConfig(file, { cfgOptions: options.cfgOptions });
  return prepareLoadedConfig(config);
}

export async function prepareLoadedConfig(config: Config): Promise<PreparedConfig> {
  await importCustomModules(config);
  const resolved = validateConfig(config.data, {
    sourceOf: (path) => {
      const source = config.sourceOf(path);
      return source && !source.startsWith('--') ? displayPath(source) : source;
    },
    context: config.filename ? displayPath(config.filename) : 'config',
  });
  return { config, resolved };
}
