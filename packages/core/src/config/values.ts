/**
 * The plain-data model of a config (what JSON5 can express) and the small value helpers every other file uses:
 * type tests, copying (which is also where `_delete_` markers are dropped) and deep freezing.
 */
import { ConfigError } from './errors.js';

export type ConfigScalar = string | number | boolean | null;
export type ConfigValue = ConfigScalar | ConfigValue[] | ConfigObject;
export interface ConfigObject {
  [key: string]: ConfigValue;
}

/** The read-only view of the same data, as handed out by `Config.data`. */
export type FrozenValue = ConfigScalar | readonly FrozenValue[] | FrozenObject;
export interface FrozenObject {
  readonly [key: string]: FrozenValue;
}

/** One step of a path: a dict key, or an index into a list. */
export type PathPart = string | number;

/** The marker that makes a child dict replace its base dict instead of merging into it. */
export const DELETE_KEY = '_delete_';

export function isConfigObject(value: unknown): value is ConfigObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Sets an own property even for the key `__proto__`, which plain assignment would turn into a prototype change
 * (JSON5 parses such keys as ordinary data, and so must we).
 */
export function setKey(target: ConfigObject, key: string, value: ConfigValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A deep, mutable copy with every `_delete_` marker removed: they steer merging and must never reach a consumer. */
export function cloneValue(value: FrozenValue): ConfigValue {
  if (Array.isArray(value)) return value.map((item: FrozenValue) => cloneValue(item));
  if (isConfigObject(value)) return cloneObject(value);
  return value as ConfigScalar;
}

export function cloneObject(object: FrozenObject): ConfigObject {
  const copy: ConfigObject = {};
  for (const [key, item] of Object.entries(object)) {
    if (key !== DELETE_KEY) setKey(copy, key, cloneValue(item));
  }
  return copy;
}

/** Freezes a value and everything reachable from it, so that writes throw in strict-mode code. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  for (const item of Object.values(value)) deepFreeze(item);
  return Object.freeze(value);
}

/** A short description of a value for error messages: `the number 50`, `a list`, `a dict`. */
export function describeValue(value: FrozenValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (isConfigObject(value)) return 'a dict';
  return `the ${typeof value} ${JSON.stringify(value)}`;
}

/**
 * Checks that a value built in code is plain config data (what a JSON file could hold), so that freezing, dumping
 * and merging behave; `where` names the offending path in the error.
 */
export function assertConfigValue(
  value: unknown,
  where: readonly PathPart[],
  file?: string,
): asserts value is ConfigValue {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return;
  if (Array.isArray(value)) {
    value.forEach((item, index) => assertConfigValue(item, [...where, index], file));
    return;
  }
  if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) assertConfigValue(item, [...where, key], file);
    return;
  }
  const configPath = where.join('.');
  const allowed = 'strings, numbers, booleans, null, lists and dicts';
  throw new ConfigError(`${configPath || '(root)'}: ${typeName(value)} is not config data (use ${allowed})`, {
    configPath,
    file,
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function typeName(value: unknown): string {
  if (typeof value !== 'object' || value === null) return `a ${typeof value}`;
  return `an instance of ${value.constructor?.name ?? 'an unknown class'}`;
}
