/**
 * Command-line overrides `key.path=value`, parsed as mmengine's `DictAction` does:
 * - surrounding quotes are stripped (at every nesting level);
 * - `[a,b]` is a list, `(a,b)` a tuple (a list here), a bare `a,b` a list; nesting is allowed;
 * - a scalar is tried as int, float, `true`/`false` (any case), `None`/`null` → null, and is otherwise a string.
 *
 * Divergences from mmengine, all on inputs that mmengine mangles or crashes on:
 * - mmengine removes every space; we keep spaces inside quotes, so `name='my run'` stays `my run`;
 * - brackets must balance anywhere in the value (mmengine only checks when the value holds a comma);
 * - `[1,2],[3]` is a bare list of two lists (mmengine recurses forever on it);
 * - `null` is accepted besides Python's `None`; `inf`/`nan` stay strings, since JSON cannot hold them.
 */
import { ConfigError } from './errors.js';
import type { ConfigScalar, ConfigValue } from './values.js';

export interface CfgOption {
  /** The option as given, e.g. `model.backbone.depth=101`: provenance and errors quote it. */
  readonly text: string;
  /** The dotted key split into parts; a digit-only part indexes a list where the config has a list. */
  readonly path: readonly string[];
  readonly value: ConfigValue;
}

/** Parses `key=value` options in order; a later option for the same key wins when they are applied. */
export function parseCfgOptions(options: readonly string[]): CfgOption[] {
  return options.map(parseCfgOption);
}

function parseCfgOption(option: string): CfgOption {
  const text = option.trim();
  const equals = text.indexOf('=');
  if (equals <= 0) throw optionError(text, 'expected key=value');
  const path = text.slice(0, equals).trim().split('.');
  if (path.some((part) => part.trim() === '')) throw optionError(text, 'the key has an empty part');
  const rawValue = text.slice(equals + 1);
  checkBrackets(rawValue, text);
  return { text, path: path.map((part) => part.trim()), value: parseValue(removeUnquotedSpaces(rawValue)) };
}

function optionError(option: string, problem: string): ConfigError {
  return new ConfigError(`--cfg-options ${option}: ${problem}`, { configPath: option.split('=')[0]?.trim() ?? '' });
}

/** mmengine drops every space; we keep those inside quotes so that a quoted string survives as written. */
function removeUnquotedSpaces(value: string): string {
  let result = '';
  let quote: string | undefined;
  for (const char of value) {
    if (quote === undefined && (char === '"' || char === "'")) quote = char;
    else if (char === quote) quote = undefined;
    if (quote !== undefined || !/\s/.test(char)) result += char;
  }
  return result;
}

const CLOSER: Record<string, string> = { '[': ']', '(': ')' };

function checkBrackets(value: string, option: string): void {
  const open: string[] = [];
  for (const char of value) {
    if (char in CLOSER) open.push(CLOSER[char] as string);
    else if ((char === ']' || char === ')') && open.pop() !== char) {
      throw optionError(option, `unbalanced brackets in value "${value}" (unexpected "${char}")`);
    }
  }
  if (open.length > 0) throw optionError(option, `unbalanced brackets in value "${value}" (missing "${open.at(-1)}")`);
}

function parseValue(text: string): ConfigValue {
  const value = stripQuotes(text);
  if (isWrapped(value)) return parseElements(value.slice(1, -1));
  const parts = splitTopLevel(value);
  return parts.length === 1 ? parseScalar(value) : parseElements(value);
}

/** Python's `str.strip('\'"')`: any run of quote characters at either end. */
function stripQuotes(text: string): string {
  return text.replace(/^['"]+|['"]+$/g, '');
}

/** Whether the whole value is one bracket pair: `[1,2]` is, `[1],[2]` is not. Brackets are known to balance. */
function isWrapped(value: string): boolean {
  if (!((value[0] ?? '') in CLOSER)) return false;
  let depth = 0;
  for (let i = 0; i < value.length; i++) {
    const char = value[i] as string;
    if (char in CLOSER) depth++;
    else if (char === ']' || char === ')') depth--;
    if (depth === 0) return i === value.length - 1;
  }
  return false;
}

/** Python's loop in `_parse_iterable`: a trailing comma adds no element, but `1,,2` has an empty one. */
function parseElements(inner: string): ConfigValue[] {
  const parts = splitTopLevel(inner);
  if (parts.at(-1) === '') parts.pop();
  return parts.map(parseValue);
}

/** Splits at commas that are outside brackets. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (char in CLOSER) depth++;
    else if (char === ']' || char === ')') depth--;
    else if (char === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

const INT = /^[+-]?\d+$/;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseScalar(text: string): ConfigScalar {
  if (INT.test(text) || FLOAT.test(text)) return Number(text);
  const lower = text.toLowerCase();
  if (lower === 'true' || lower === 'false') return lower === 'true';
  if (text === 'None' || text === 'null') return null;
  return text;
}
