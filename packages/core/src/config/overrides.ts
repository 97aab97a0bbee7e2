/**
 * Applying a parsed `--cfg-options` entry to a loaded config. The dotted key acts as a nested child dict, so it
 * merges into the existing dicts along the way (creating missing ones), and a digit-only part indexes an existing
 * list as in mmengine's `merge_from_dict(allow_list_keys=True)`; the value itself replaces what was there.
 */
import type { CfgOption } from './cfg-options.js';
import { ConfigError, displayPath } from './errors.js';
import { formatPath, parseIndex } from './paths.js';
import type { Provenance } from './provenance.js';
import {
  cloneObject,
  cloneValue,
  describeValue,
  isConfigObject,
  setKey,
  type ConfigObject,
  type ConfigValue,
  type PathPart,
} from './values.js';

export const RESERVED_KEYS = ['filename', 'text', 'pretty_text', 'env_variables'];

/** The provenance label of an override, as a user would type it. */
export function overrideSource(option: CfgOption): string {
  return `--cfg-options ${option.text}`;
}

/** Returns a new config with `option` applied; `provenance` is updated in place. */
export function applyCfgOption(root: ConfigObject, option: CfgOption, provenance: Provenance): ConfigObject {
  const top = option.path[0] as string;
  if (RESERVED_KEYS.includes(top)) throw overrideError(option, `"${top}" is a reserved key and cannot be set`);
  const walk = new OverrideWalk(option, provenance);
  return walk.setIn(root, 0, []) as ConfigObject;
}

class OverrideWalk {
  constructor(
    private readonly option: CfgOption,
    private readonly provenance: Provenance,
  ) {}

  /** The copy of `node` with the value set below it, following `option.path` from `depth` on. */
  setIn(node: ConfigValue | undefined, depth: number, done: readonly PathPart[]): ConfigValue {
    if (depth === this.option.path.length) return this.place(done);
    const part = this.option.path[depth] as string;
    if (Array.isArray(node)) return this.setInList(node, part, depth, done);
    if (node === undefined || isConfigObject(node)) return this.setInDict(node ?? {}, part, depth, done);
    throw this.notAContainer(node, done);
  }

  private place(done: readonly PathPart[]): ConfigValue {
    const value = cloneValue(this.option.value);
    this.provenance.stamp(done, value, overrideSource(this.option));
    return value;
  }

  private setInDict(dict: ConfigObject, key: string, depth: number, done: readonly PathPart[]): ConfigObject {
    this.provenance.forgetExact(done);
    const copy = cloneObject(dict);
    const existing = Object.hasOwn(dict, key) ? dict[key] : undefined;
    setKey(copy, key, this.setIn(existing, depth + 1, [...done, key]));
    return copy;
  }

  private setInList(list: ConfigValue[], part: string, depth: number, done: readonly PathPart[]): ConfigValue[] {
    const index = this.listIndex(list, part, done);
    const copy = list.map((item) => cloneValue(item));
    copy[index] = this.setIn(list[index], depth + 1, [...done, index]);
    return copy;
  }

  /** Negative indices count from the end, as in Python. */
  private listIndex(list: readonly ConfigValue[], part: string, done: readonly PathPart[]): number {
    const index = parseIndex(part);
    const where = formatPath(done);
    if (index === undefined) throw overrideError(this.option, `${where} is a list, so "${part}" must be an index`);
    const normalized = index < 0 ? list.length + index : index;
    if (normalized < 0 || normalized >= list.length) {
      throw overrideError(this.option, `index ${index} is out of range for ${where}, a list of length ${list.length}`);
    }
    return normalized;
  }

  private notAContainer(node: ConfigValue, done: readonly PathPart[]): ConfigError {
    const source = this.provenance.sourceOf(done);
    const setBy = source === undefined ? '' : ` (set by ${displayPath(source)})`;
    return overrideError(this.option, `cannot set a key inside ${formatPath(done)}, which is ${describeValue(node)}${setBy}`);
  }
}

function overrideError(option: CfgOption, problem: string): ConfigError {
  return new ConfigError(`--cfg-options ${option.text}: ${problem}`, { configPath: option.path.join('.') });
}
