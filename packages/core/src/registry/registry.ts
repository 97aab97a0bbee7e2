/**
 * mmengine-style registries on an inversify container.
 *
 * Every descriptor is bound, unnamed, under its kind's token (inversify's `getAll` skips named
 * bindings, and we need to list them all for schemas and "did you mean"). A `Registry` is the
 * index of one kind: it looks types up, refuses duplicates unless forced, validates a config
 * against the registered schemas and builds it.
 */
import { Container, ContainerModule } from 'inversify';
import { deepFreeze } from '../config/values.js';
import { didYouMean } from './closest.js';
import type { BuildContext, ComponentConfig, ComponentDescriptor } from './descriptor.js';
import { ConfigValidationError, joinPath, type SourceLookup } from './issues.js';
import { kindToken, REGISTRY_KINDS, type RegistryKind } from './kinds.js';
import { validateComponent, type DescriptorLookup } from './validator.js';

export class RegistryError extends Error {
  override name = 'RegistryError';
}

export interface BuildOptions {
  /** Dotted config path of `cfg`, used in every error (default: the kind in lower case). */
  path?: string;
  /** Which file set each value (a Config's `sourceOf`), named in errors. */
  sourceOf?: SourceLookup;
}

/** The process-wide container that holds every registered component descriptor. */
export const registryContainer = new Container();

/** Loads a package's (or a plugin file's) ContainerModule of descriptors, checking duplicates. */
export function loadComponents(module: ContainerModule): void {
  const before = new Map(REGISTRY_KINDS.map((kind) => [kind, registryFor(kind).types()]));
  registryContainer.load(module);
  try {
    for (const kind of REGISTRY_KINDS) registryFor(kind).checkNoDuplicates(before.get(kind)!);
  } catch (error) {
    // Leave the registries as they were: a rejected module must not shadow what was there.
    registryContainer.unload(module);
    throw error;
  }
}

export class Registry {
  /** Names replaced on purpose with `force`; the newest binding wins for these. */
  readonly #forced = new Set<string>();

  constructor(readonly kind: RegistryKind) {}

  /** Registers a descriptor; a name already taken is an error unless `force` is set. */
  register<Cfg, T>(descriptor: ComponentDescriptor<Cfg, T>, options: { force?: boolean } = {}): ComponentDescriptor<Cfg, T> {
    if (!descriptor.type) throw new RegistryError(`${this.kind}: a component needs a non-empty type name`);
    if (this.has(descriptor.type)) {
      if (!options.force) throw new RegistryError(`${this.kind}: '${descriptor.type}' is already registered; pass {force: true} to replace it`);
      this.#forced.add(descriptor.type);
    }
    registryContainer.bind(kindToken(this.kind)).toConstantValue(descriptor);
    return descriptor;
  }

  has(type: string): boolean {
    return this.find(type) !== undefined;
  }

  /** The descriptor of `type`: the last one bound, so a forced registration wins. */
  find(type: string): ComponentDescriptor | undefined {
    const all = this.#all();
    for (let i = all.length - 1; i >= 0; i--) if (all[i]!.type === type) return all[i];
    return undefined;
  }

  /** The descriptor of `type`, or an error naming the registry and the closest names. */
  get(type: string, path = joinPath(this.kind.toLowerCase(), 'type')): ComponentDescriptor {
    const descriptor = this.find(type);
    if (!descriptor) throw new RegistryError(`${path}: '${type}' is not in the ${this.kind} registry${didYouMean(type, this.types())}`);
    return descriptor;
  }

  /** Registered type names, sorted. */
  types(): string[] {
    return [...new Set(this.#all().map((d) => d.type))].sort();
  }

  /** Validates `cfg` (and everything nested in it) against the registered schemas, then builds it. */
  build<T>(cfg: unknown, options: BuildOptions = {}): T {
    const path = options.path ?? this.kind.toLowerCase();
    const { issues, value } = validateComponent(this.kind, cfg, path, registryLookup, options.sourceOf);
    if (issues.length) throw new ConfigValidationError(issues, path);
    return this.#buildValidated(value as ComponentConfig, path, options.sourceOf);
  }

  #buildValidated<T>(cfg: ComponentConfig, path: string, sourceOf: SourceLookup | undefined): T {
    const descriptor = this.get(cfg.type, joinPath(path, 'type'));
    const context: BuildContext = {
      path,
      build: <U>(kind: RegistryKind, child: ComponentConfig, key: string | number) => registryFor(kind).#buildValidated<U>(child, joinPath(path, key), sourceOf),
    };
    try {
      return descriptor.build(deepFreeze(cfg), context) as T;
    } catch (error) {
      throw annotate(error, path, cfg.type);
    }
  }

  /** Called after a ContainerModule load: duplicates there are errors too (no force in a module). */
  checkNoDuplicates(typesBefore: string[]): void {
    const seen = new Set<string>();
    for (const { type } of this.#all()) {
      if (seen.has(type) && !this.#forced.has(type)) {
        throw new RegistryError(`${this.kind}: '${type}' is registered twice${typesBefore.includes(type) ? ' (it was already registered before this module loaded)' : ''}`);
      }
      seen.add(type);
    }
  }

  #all(): ComponentDescriptor[] {
    const token = kindToken(this.kind);
    return registryContainer.isBound(token) ? registryContainer.getAll(token) : [];
  }
}

const ANNOTATED = Symbol('tsdet.annotated');

/** Prefixes a builder's error with the config path, once: the innermost build names the most precise path. */
function annotate(error: unknown, path: string, type: string): unknown {
  if (!(error instanceof Error) || error instanceof ConfigValidationError) return error;
  const marked = error as Error & { [ANNOTATED]?: boolean };
  if (marked[ANNOTATED]) return error;
  marked[ANNOTATED] = true;
  error.message = `${path} (${type}): ${error.message}`;
  return error;
}

const registries = new Map<RegistryKind, Registry>(REGISTRY_KINDS.map((kind) => [kind, new Registry(kind)]));

export function registryFor(kind: RegistryKind): Registry {
  return registries.get(kind)!;
}

const registryLookup: DescriptorLookup = {
  find: (kind, type) => registryFor(kind).find(type),
  types: (kind) => registryFor(kind).types(),
};

export const MODELS = registryFor('MODELS');
export const TASK_UTILS = registryFor('TASK_UTILS');
export const DATASETS = registryFor('DATASETS');
export const TRANSFORMS = registryFor('TRANSFORMS');
export const HOOKS = registryFor('HOOKS');
export const OPTIMIZERS = registryFor('OPTIMIZERS');
export const PARAM_SCHEDULERS = registryFor('PARAM_SCHEDULERS');
export const METRICS = registryFor('METRICS');
export { registryLookup };
