/**
 * Config paths: `model.backbone.depth` or `['model', 'backbone', 'depth']`. A digit-only part means a list index
 * only where the data holds a list there, since a dict may well have a key `"0"`.
 */
import { isConfigObject, type FrozenValue, type PathPart } from './values.js';

export type ConfigPath = string | readonly PathPart[];

export function splitPath(configPath: ConfigPath): PathPart[] {
  if (typeof configPath !== 'string') return [...configPath];
  return configPath === '' ? [] : configPath.split('.');
}

export function formatPath(parts: readonly PathPart[]): string {
  return parts.join('.');
}

/** Whether `prefix` is `parts` itself or one of its ancestors. */
export function startsWithPath(parts: readonly PathPart[], prefix: readonly PathPart[]): boolean {
  return prefix.length <= parts.length && prefix.every((part, index) => part === parts[index]);
}

/** Parses a list index as written in a path (`2`, or `-1` for the last element); undefined when it is not one. */
export function parseIndex(part: PathPart): number | undefined {
  if (typeof part === 'number') return Number.isInteger(part) ? part : undefined;
  return /^-?\d+$/.test(part) ? Number(part) : undefined;
}

interface Resolved {
  /** The path with list indices as non-negative numbers and dict keys as strings. */
  parts: PathPart[];
  value: FrozenValue;
}

/** Walks `root` along `configPath`; undefined when the path does not exist in the data. */
export function resolvePath(root: FrozenValue, configPath: ConfigPath): Resolved | undefined {
  const parts: PathPart[] = [];
  let node: FrozenValue = root;
  for (const part of splitPath(configPath)) {
    const step = stepInto(node, part);
    if (step === undefined) return undefined;
    parts.push(step.part);
    node = step.value;
  }
  return { parts, value: node };
}

function stepInto(node: FrozenValue, part: PathPart): { part: PathPart; value: FrozenValue } | undefined {
  if (Array.isArray(node)) {
    const list = node as readonly FrozenValue[];
    const index = parseIndex(part);
    if (index === undefined || index < 0 || index >= list.length) return undefined;
    return { part: index, value: list[index] as FrozenValue };
  }
  if (!isConfigObject(node)) return undefined;
  const key = String(part);
  return Object.hasOwn(node, key) ? { part: key, value: node[key] as FrozenValue } : undefined;
}
