/** Configs: JSON5 files with mmengine semantics (`_base_`, `_delete_`, `--cfg-options`) and per-leaf provenance. */
export { Config, type ConfigLeaf } from './config.js';
export { ConfigError, type ConfigErrorDetails } from './errors.js';
export { loadConfig, type LoadConfigOptions } from './loader.js';
export { mergeConfigs } from './merge.js';
export { parseCfgOptions, type CfgOption } from './cfg-options.js';
export { importCustomModules, type ImportCustomModulesOptions } from './custom-imports.js';
export type { ConfigPath } from './paths.js';
export {
  deepFreeze,
  type ConfigObject,
  type ConfigScalar,
  type ConfigValue,
  type FrozenObject,
  type FrozenValue,
  type PathPart,
} from './values.js';
