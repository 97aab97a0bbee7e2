import type { RegistryKind } from './kinds.js';

/** JSON Schema of a component's config (draft-07, as ajv takes it). */
export type ConfigSchema = Record<string, unknown>;

/** A config dict as read from a file: snake_case keys, `type` naming the component. */
export type ComponentConfig = { readonly type: string } & Readonly<Record<string, unknown>>;

/** What a builder gets besides its own config. */
export interface BuildContext {
  /** Dotted config path of this component, e.g. `model.backbone`. */
  readonly path: string;
  /** Builds a nested component dict found at `path + '.' + key` of this config. */
  build<T>(kind: RegistryKind, cfg: ComponentConfig, key: string | number): T;
}

/**
 * What a component registers: its type name, the schema of its config (validated, with
 * defaults filled in, before `build` is called) and its builder.
 */
export interface ComponentDescriptor<Cfg = any, T = unknown> {
  readonly type: string;
  /** The config schema without `type`; `additionalProperties` defaults to false. */
  readonly schema: ConfigSchema;
  readonly build: (cfg: Cfg, context: BuildContext) => T;
  /** One line for listings. */
  readonly description?: string;
  /** Child-name stem when built as a layer (mmcv's `_abbr_`, e.g. `context_block`); default: the type in snake_case. */
  readonly abbreviation?: string;
}

/** Identity helper that keeps the config type of a descriptor. */
export function defineComponent<Cfg, T>(descriptor: ComponentDescriptor<Cfg, T>): ComponentDescriptor<Cfg, T> {
  return descriptor;
}
