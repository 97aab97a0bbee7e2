/**
 * The `{{ ... }}` substitutions of mmengine configs.
 *
 * On the raw text, before parsing (so `"batch_size": {{$BATCH:2}}` can yield a number):
 * - `{{ fileDirname }}`, `{{ fileBasename }}`, `{{ fileBasenameNoExtension }}`, `{{ fileExtname }}`;
 * - `{{$NAME:default}}` / `{{$NAME}}`: an environment variable, the default when it is unset.
 * Substituted text is escaped as JSON string content, so a Windows path or a quote cannot break the file.
 * Divergence: mmengine needs the colon and treats an empty default (or an empty variable) as missing; here
 * `{{$NAME}}` requires NAME to be set and `{{$NAME:}}` defaults to the empty string.
 *
 * After parsing, with the merged bases at hand: a string that is exactly `{{_base_.a.b}}` becomes a copy of that
 * base value (of any type). mmengine also allows the bare, unquoted form; JSON5 cannot parse it, so we do not.
 */
import * as path from 'node:path';
import { ConfigError, displayPath } from './errors.js';
import { resolvePath } from './paths.js';
import { cloneValue, isConfigObject, setKey, type ConfigObject, type ConfigValue, type FrozenObject } from './values.js';

const PREDEFINED = /\{\{\s*(file\w*)\s*\}\}/g;
const ENVIRONMENT = /\{\{\s*\$(\w+)\s*(?::\s*(.*?))?\s*\}\}/g;
const BASE_REFERENCE = /\{\{\s*_base_\.([\w.]+)\s*\}\}/;

/** Replaces predefined and environment variables in the text of `file`. */
export function substituteVariables(text: string, file: string): string {
  const predefined = predefinedVariables(file);
  const withPredefined = text.replace(PREDEFINED, (match, name: string) => {
    const value = predefined[name];
    if (value !== undefined) return escapeForJson(value);
    const known = Object.keys(predefined).join(', ');
    throw new ConfigError(`${displayPath(file)}: unknown variable ${match} (known: ${known})`, { file });
  });
  return withPredefined.replace(ENVIRONMENT, (match, name: string, fallback: string | undefined) => {
    const value = process.env[name] ?? fallback;
    if (value !== undefined) return escapeForJson(value);
    const hint = `set ${name} or give a default as {{$${name}:default}}`;
    throw new ConfigError(`${displayPath(file)}: environment variable ${name} is not set (${match}); ${hint}`, { file });
  });
}

function predefinedVariables(file: string): Record<string, string> {
  const extension = path.extname(file);
  return {
    // Forward slashes as in mmengine, so the values read the same on every platform.
    fileDirname: path.dirname(file).replaceAll('\\', '/'),
    fileBasename: path.basename(file),
    fileBasenameNoExtension: path.basename(file, extension),
    fileExtname: extension,
  };
}

/** Escapes a value for the inside of a JSON5 string, single- or double-quoted; harmless for bare numbers. */
function escapeForJson(value: string): string {
  return JSON.stringify(value).slice(1, -1).replaceAll("'", "\\'");
}

/** Replaces every `"{{_base_.a.b}}"` string in `own` (the parsed child) with the value at `a.b` of `bases`. */
export function substituteBaseReferences(own: ConfigObject, bases: FrozenObject, file: string): ConfigObject {
  return substituteIn(own, bases, file) as ConfigObject;
}

function substituteIn(value: ConfigValue, bases: FrozenObject, file: string): ConfigValue {
  if (typeof value === 'string') return resolveReference(value, bases, file);
  if (Array.isArray(value)) return value.map((item) => substituteIn(item, bases, file));
  if (!isConfigObject(value)) return value;
  const result: ConfigObject = {};
  for (const [key, item] of Object.entries(value)) setKey(result, key, substituteIn(item, bases, file));
  return result;
}

function resolveReference(text: string, bases: FrozenObject, file: string): ConfigValue {
  const match = BASE_REFERENCE.exec(text);
  if (match === null) return text;
  const reference = match[1] as string;
  const where = `${displayPath(file)}: {{_base_.${reference}}}`;
  if (match[0] !== text.trim()) throw new ConfigError(`${where} must be the whole string, not part of "${text}"`, { file });
  const resolved = resolvePath(bases, reference);
  if (resolved === undefined) {
    throw new ConfigError(`${where} refers to ${reference}, which the bases do not define`, { file, configPath: reference });
  }
  return cloneValue(resolved.value);
}
