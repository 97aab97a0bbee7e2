/**
 * ajv validation of component configs against the schemas their descriptors register.
 *
 * Nested components are marked in schemas with `componentRef(kind)`: the walker validates them
 * against their own type's schema, so one call checks a whole config tree and reports every
 * problem with its full path. Defaults from the schemas are filled into a copy; the caller's
 * (read-only) config is never touched.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { didYouMean } from './closest.js';
import type { ComponentDescriptor, ConfigSchema } from './descriptor.js';
import { joinPath, type ConfigIssue, type SourceLookup } from './issues.js';
import type { RegistryKind } from './kinds.js';

const COMPONENT_KEYWORD = 'x-component';
/** Keys the enclosing component sets when it builds the nested one (a plugin's `in_channels`). */
const INJECTED_KEYWORD = 'x-injected';

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true, verbose: true });
addFormatsModule.default(ajv);
ajv.addKeyword({ keyword: COMPONENT_KEYWORD, schemaType: 'string' });
ajv.addKeyword({ keyword: INJECTED_KEYWORD, schemaType: 'object' });

export interface ComponentRefOptions {
  description?: string;
  /**
   * Keys the enclosing component fills in when building (with a representative value used only
   * for validation); a config that sets one itself is an error.
   */
  injected?: Record<string, unknown>;
}

/** Schema of a property that holds a nested component config of `kind` (`{type: ..., ...}`). */
export function componentRef(kind: RegistryKind, options: ComponentRefOptions | string = {}): ConfigSchema {
  const { description, injected } = typeof options === 'string' ? { description: options, injected: undefined } : options;
  return {
    type: 'object',
    required: ['type'],
    properties: { type: { type: 'string' } },
    [COMPONENT_KEYWORD]: kind,
    ...(injected ? { [INJECTED_KEYWORD]: injected } : {}),
    ...(description ? { description } : {}),
  };
}

/** Schema of a list of nested component configs of `kind`. */
export function componentList(kind: RegistryKind, options: ComponentRefOptions | string = {}): ConfigSchema {
  const description = typeof options === 'string' ? options : options.description;
  return { type: 'array', items: componentRef(kind, options), ...(description ? { description } : {}) };
}

/** Looks up the descriptor of `type` in registry `kind`; used by the walker. */
export interface DescriptorLookup {
  find(kind: RegistryKind, type: string): ComponentDescriptor | undefined;
  types(kind: RegistryKind): string[];
}

interface WalkContext {
  lookup: DescriptorLookup;
  sourceOf: SourceLookup;
  issues: ConfigIssue[];
}

const compiled = new WeakMap<ComponentDescriptor, ValidateFunction>();

/**
 * Validates `cfg` as a component of `kind` and everything nested in it. Returns the issues and
 * a copy with schema defaults filled in (meaningful only when there are no issues).
 */
export function validateComponent(kind: RegistryKind, cfg: unknown, path: string, lookup: DescriptorLookup, sourceOf: SourceLookup = () => undefined): { issues: ConfigIssue[]; value: unknown } {
  const value = structuredClone(cfg);
  const context: WalkContext = { lookup, sourceOf, issues: [] };
  walkComponent(kind, value, path, context);
  return { issues: context.issues, value };
}

function walkComponent(kind: RegistryKind, cfg: unknown, path: string, context: WalkContext, injected: Record<string, unknown> = {}): void {
  const report = (message: string, at = path): void => void context.issues.push({ path: at, message, source: context.sourceOf(at) });
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) return report(`must be a component config dict with a 'type', got ${describe(cfg)}`);
  const type = (cfg as Record<string, unknown>)['type'];
  if (typeof type !== 'string') return report(`missing 'type' (a ${kind} component name such as ${context.lookup.types(kind).slice(0, 3).join(', ')})`);
  const descriptor = context.lookup.find(kind, type);
  if (!descriptor) {
    return report(`'${type}' is not in the ${kind} registry${didYouMean(type, context.lookup.types(kind))}`, joinPath(path, 'type'));
  }
  const record = cfg as Record<string, unknown>;
  for (const key of Object.keys(injected)) {
    if (key in record) report(`is set by the enclosing component; remove it from the config`, joinPath(path, key));
    else record[key] = injected[key];
  }
  const validate = validatorFor(descriptor);
  if (!validate(cfg)) for (const error of validate.errors ?? []) context.issues.push(toIssue(error, descriptor, path, cfg, context.sourceOf));
  for (const key of Object.keys(injected)) delete record[key];
  walkNested(descriptor.schema, record, path, context);
}

/** Recurses into properties (and list items) that the schema marks as nested components. */
function walkNested(schema: ConfigSchema, cfg: Record<string, unknown>, path: string, context: WalkContext): void {
  const properties = (schema['properties'] ?? {}) as Record<string, ConfigSchema>;
  for (const [key, propertySchema] of Object.entries(properties)) {
    const value = cfg[key];
    if (value === undefined || value === null) continue;
    const kind = propertySchema[COMPONENT_KEYWORD] as RegistryKind | undefined;
    if (kind) {
      walkComponent(kind, value, joinPath(path, key), context, injectedOf(propertySchema));
      continue;
    }
    // A plain dict that may hold components deeper down (train_dataloader.dataset.pipeline).
    if (propertySchema['properties'] && isRecord(value)) {
      walkNested(propertySchema, value, joinPath(path, key), context);
      continue;
    }
    const items = propertySchema['items'] as ConfigSchema | undefined;
    if (!items || !Array.isArray(value)) continue;
    const itemKind = items[COMPONENT_KEYWORD] as RegistryKind | undefined;
    if (itemKind) value.forEach((item, i) => walkComponent(itemKind, item, joinPath(joinPath(path, key), i), context, injectedOf(items)));
    // A list of dicts that hold components (ResNet's `plugins: [{cfg, position, stages}]`).
    else if (items['properties']) value.forEach((item, i) => isRecord(item) && walkNested(items, item, joinPath(joinPath(path, key), i), context));
  }
}

function injectedOf(schema: ConfigSchema): Record<string, unknown> {
  return (schema[INJECTED_KEYWORD] as Record<string, unknown> | undefined) ?? {};
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validatorFor(descriptor: ComponentDescriptor): ValidateFunction {
  let validate = compiled.get(descriptor);
  if (!validate) {
    const schema = descriptor.schema;
    validate = ajv.compile({
      additionalProperties: false,
      ...schema,
      type: 'object',
      properties: { type: { type: 'string' }, ...((schema['properties'] as object | undefined) ?? {}) },
    });
    compiled.set(descriptor, validate);
  }
  return validate;
}

/**
 * Validates a config tree that is not itself a component (the config root): `schema` is a plain
 * object schema whose properties may hold `componentRef`s. Returns the issues and a filled copy.
 */
export function validateTree(schema: ConfigSchema, cfg: unknown, lookup: DescriptorLookup, sourceOf: SourceLookup = () => undefined): { issues: ConfigIssue[]; value: unknown } {
  const value = structuredClone(cfg);
  const context: WalkContext = { lookup, sourceOf, issues: [] };
  const validate = ajv.compile(schema);
  if (!validate(value)) for (const error of validate.errors ?? []) context.issues.push(toIssue(error, undefined, '', value, sourceOf));
  if (typeof value === 'object' && value !== null) walkNested(schema, value as Record<string, unknown>, '', context);
  return { issues: context.issues, value };
}

function toIssue(error: ErrorObject, descriptor: ComponentDescriptor | undefined, basePath: string, root: unknown, sourceOf: SourceLookup): ConfigIssue {
  const parts = error.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const path = parts.reduce<string>((acc, p) => joinPath(acc, p), basePath);
  const owner = descriptor ? descriptor.type : basePath ? 'this section' : 'the config root';
  const actual = valueAt(root, parts);
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(error.params['additionalProperty']);
      const known = Object.keys((schemaAt(error.parentSchema)?.['properties'] as object | undefined) ?? {});
      const keyPath = joinPath(path, key);
      return { path: keyPath, message: `unknown key for ${owner}${didYouMean(key, known)}`, source: sourceOf(keyPath) };
    }
    case 'required':
      return { path, message: `missing required key '${String(error.params['missingProperty'])}' for ${owner}`, source: sourceOf(path) };
    case 'enum':
      return { path, message: `must be one of ${JSON.stringify(error.params['allowedValues'])}, got ${describe(actual)}`, source: sourceOf(path) };
    default:
      return { path, message: `${error.message ?? 'is invalid'}, got ${describe(actual)}`, source: sourceOf(path) };
  }
}

function schemaAt(schema: unknown): Record<string, unknown> | undefined {
  return typeof schema === 'object' && schema !== null ? (schema as Record<string, unknown>) : undefined;
}

function valueAt(root: unknown, parts: string[]): unknown {
  // Own keys only: a config key such as `constructor` must not resolve to Object.prototype's.
  return parts.reduce<unknown>((node, key) => (node !== null && typeof node === 'object' && Object.hasOwn(node, key) ? (node as Record<string, unknown>)[key] : undefined), root);
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
