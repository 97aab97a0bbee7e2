/**
 * The top level of a config: each key is a section that some package declares (the model, the
 * data loaders, the schedule, ...). A key no package declared is an error, never ignored.
 */
import type { ConfigSchema } from './descriptor.js';
import { ConfigValidationError, type SourceLookup } from './issues.js';
import { componentRef, validateTree } from './validator.js';
import { registryLookup, RegistryError } from './registry.js';

const sections = new Map<string, ConfigSchema>();

/** Declares a top-level config key and the schema of its value. */
export function registerConfigSection(key: string, schema: ConfigSchema, options: { force?: boolean } = {}): void {
  if (sections.has(key) && !options.force) throw new RegistryError(`config section '${key}' is already declared`);
  sections.set(key, schema);
}

export function configSectionNames(): string[] {
  return [...sections.keys()].sort();
}

/** The schema of a whole config as currently declared. */
export function rootConfigSchema(): ConfigSchema {
  return { type: 'object', properties: Object.fromEntries(sections), additionalProperties: false };
}

/**
 * Validates a whole merged config before anything is built. Throws one ConfigValidationError
 * listing every problem; returns a copy with schema defaults filled in.
 */
export function validateConfig(data: unknown, options: { sourceOf?: SourceLookup; context?: string } = {}): Record<string, unknown> {
  const { issues, value } = validateTree(rootConfigSchema(), data, registryLookup, options.sourceOf);
  if (issues.length) throw new ConfigValidationError(issues, options.context ?? 'config');
  return value as Record<string, unknown>;
}

// Sections the foundation itself understands.
registerConfigSection('model', componentRef('MODELS', 'the detector (or any model) to build'));
registerConfigSection('backend', { enum: ['auto', 'tensorflow', 'wasm', 'cpu'], description: 'compute backend (overridden by --backend / TSDET_BACKEND)' });
registerConfigSection('custom_imports', {
  type: 'object',
  properties: { imports: { type: 'array', items: { type: 'string' } }, allow_failed_imports: { type: 'boolean' } },
  required: ['imports'],
  additionalProperties: false,
  description: 'files or packages to import before building, so that they can register components',
});
