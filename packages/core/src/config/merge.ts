/**
 * mmengine's merge of a child config into its base:
 * - dicts merge recursively, key by key;
 * - any non-dict child value (scalar or list) replaces the base value wholesale;
 * - a child dict over a base non-dict is an error, unless the child dict says `_delete_: true`;
 * - `_delete_: true` makes the child dict replace the base dict instead of merging into it.
 *
 * Divergence from mmengine: the `_delete_` key never survives into the result. mmengine only consumes it when the
 * base has the key, so a `_delete_` over a missing key (or inside a list) leaks into a constructor as an unexpected
 * keyword argument (open-mmlab/mmsegmentation#961); here every copy drops it. We also demand a boolean.
 */
import { ConfigError, displayPath } from './errors.js';
import { formatPath } from './paths.js';
import {
  cloneObject,
  cloneValue,
  DELETE_KEY,
  describeValue,
  isConfigObject,
  setKey,
  type ConfigObject,
  type ConfigValue,
  type FrozenObject,
  type FrozenValue,
  type PathPart,
} from './values.js';

/** Lets the loader record provenance and name files in errors, without the merge knowing about files. */
export interface MergeObserver {
  /** `value` was put at `path` wholesale, replacing whatever the base had there. */
  replaced(path: readonly PathPart[], value: FrozenValue): void;
  /** A non-empty child dict is being merged key by key into the base dict at `path`. */
  merging(path: readonly PathPart[]): void;
  /** For an error at `path`: the file whose dict is being merged, and the source of the base value there. */
  errorContext(path: readonly PathPart[]): { file?: string; baseSource?: string };
}

const silentObserver: MergeObserver = {
  replaced: () => undefined,
  merging: () => undefined,
  errorContext: () => ({}),
};

/** Merges `child` into `base` and returns a new object; neither input is modified or shared with the result. */
export function mergeConfigs(base: FrozenObject, child: FrozenObject): ConfigObject {
  return mergeInto(base, child, [], silentObserver);
}

/** As `mergeConfigs`, at `path` of a larger config, reporting to `observer`. */
export function mergeInto(
  base: FrozenObject,
  child: FrozenObject,
  path: readonly PathPart[],
  observer: MergeObserver,
): ConfigObject {
  if (wantsDelete(child, path, observer)) return replaceWith(child, path, observer) as ConfigObject;
  if (Object.keys(child).some((key) => key !== DELETE_KEY)) observer.merging(path);
  const result = cloneObject(base);
  for (const [key, childValue] of Object.entries(child)) {
    if (key === DELETE_KEY) continue;
    const baseValue = Object.hasOwn(base, key) ? base[key] : undefined;
    setKey(result, key, mergeValue(baseValue, childValue, [...path, key], observer));
  }
  return result;
}

function mergeValue(
  baseValue: FrozenValue | undefined,
  childValue: FrozenValue,
  path: readonly PathPart[],
  observer: MergeObserver,
): ConfigValue {
  if (isConfigObject(childValue) && isConfigObject(baseValue)) return mergeInto(baseValue, childValue, path, observer);
  const dictOverNonDict = isConfigObject(childValue) && baseValue !== undefined;
  if (dictOverNonDict && !wantsDelete(childValue, path, observer)) throw conflictError(path, baseValue, observer);
  return replaceWith(childValue, path, observer);
}

function replaceWith(value: FrozenValue, path: readonly PathPart[], observer: MergeObserver): ConfigValue {
  const copy = cloneValue(value);
  observer.replaced(path, copy);
  return copy;
}

function wantsDelete(child: FrozenObject, path: readonly PathPart[], observer: MergeObserver): boolean {
  const flag = child[DELETE_KEY];
  if (flag === undefined || typeof flag === 'boolean') return flag === true;
  const configPath = formatPath([...path, DELETE_KEY]);
  const { file } = observer.errorContext(path);
  throw errorAt(`${configPath} must be true or false, got ${describeValue(flag)}`, configPath, file);
}

function conflictError(path: readonly PathPart[], baseValue: FrozenValue, observer: MergeObserver): ConfigError {
  const configPath = formatPath(path);
  const { file, baseSource } = observer.errorContext(path);
  const setBy = baseSource === undefined ? '' : ` set by ${displayPath(baseSource)}`;
  const message =
    `${configPath}: cannot merge a dict into ${describeValue(baseValue)}${setBy}; ` +
    `add "${DELETE_KEY}": true to the dict to replace the base value`;
  return errorAt(message, configPath, file);
}

function errorAt(message: string, configPath: string, file: string | undefined): ConfigError {
  if (file === undefined) return new ConfigError(message, { configPath });
  return new ConfigError(`${displayPath(file)}: ${message}`, { configPath, file });
}
