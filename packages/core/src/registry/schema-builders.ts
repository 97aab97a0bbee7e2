/**
 * Small builders for the plain-dict parts of config schemas (sections, loop and hook settings):
 * closed dicts that reject unknown keys, and dicts whose allowed keys depend on their `type`.
 * Shared so that every package words its schemas, and so its errors, the same way.
 */
import type { ConfigSchema } from './descriptor.js';

export type SchemaProperties = Record<string, ConfigSchema>;

export interface ClosedDictOptions {
  required?: string[];
  description?: string;
  /** Also accept null (a section that may be switched off). */
  nullable?: boolean;
}

/** A dict with exactly these keys (unknown keys are errors, with did-you-mean). */
export function closedDict(properties: SchemaProperties, options: ClosedDictOptions = {}): ConfigSchema {
  return {
    type: options.nullable ? ['object', 'null'] : 'object',
    properties,
    additionalProperties: false,
    ...(options.required ? { required: options.required } : {}),
    ...(options.description ? { description: options.description } : {}),
  };
}

/**
 * A dict with a `type` whose allowed keys depend on it: each type lists its own keys, and
 * `required` (by type) the keys that type must have.
 */
export function typedDict(variants: Record<string, SchemaProperties>, description: string, required: Record<string, string[]> = {}): ConfigSchema {
  const types = Object.keys(variants);
  return {
    type: 'object',
    properties: { type: { enum: types } },
    required: ['type'],
    description,
    allOf: types.map((type) => ({
      if: { type: 'object', properties: { type: { const: type } }, required: ['type'] },
      then: closedDict({ type: { const: type }, ...variants[type] }, { required: required[type] }),
    })),
  };
}
