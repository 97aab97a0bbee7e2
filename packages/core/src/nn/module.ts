/**
 * A small PyTorch-like module layer over tfjs-core, so that mmdetection users find what they
 * know: children registered in order, parameters and buffers whose dotted names are the
 * mmdet/torchvision state-dict keys, recursive `train()` / `eval()`, per-parameter
 * `requiresGrad`, and state dicts that load PyTorch checkpoints unchanged.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TorchLayout } from './torch-layout.js';

let variableCounter = 0;

/** A trainable tensor with the PyTorch layout of its state-dict entry. */
export class Parameter {
  constructor(
    readonly variable: tf.Variable,
    readonly layout: TorchLayout,
    requiresGrad = true,
  ) {
    this.requiresGrad = requiresGrad;
  }

  /**
   * mmdet's `requires_grad`: whether optimisers and gradients see this parameter. Kept in the
   * tfjs variable's own `trainable` flag, which tfjs (and gradient checkpointing) consult.
   */
  get requiresGrad(): boolean {
    return this.variable.trainable;
  }

  set requiresGrad(flag: boolean) {
    this.variable.trainable = flag;
  }

  get shape(): number[] {
    return this.variable.shape;
  }
}

/** A state tensor that is saved and loaded but never trained (BN running statistics). */
export class BufferSlot {
  constructor(
    readonly variable: tf.Variable,
    readonly layout: TorchLayout,
  ) {}
}

export interface ParameterOptions {
  layout?: TorchLayout;
  requiresGrad?: boolean;
}

export abstract class Module {
  /** Training mode: set through `train()` / `eval()`, never directly. */
  training = true;
  readonly #children = new Map<string, Module>();
  readonly #parameters = new Map<string, Parameter>();
  readonly #buffers = new Map<string, BufferSlot>();

  /** Type name shown in summaries and errors. */
  get typeName(): string {
    return this.constructor.name;
  }

  /** Registers a child under `name` (its prefix in state-dict keys); order is kept. */
  protected registerModule<M extends Module>(name: string, module: M): M {
    this.#assertFreeName(name);
    this.#children.set(name, module);
    return module;
  }

  /** Creates a parameter from `init` (the tensor is taken over: do not dispose it). */
  protected addParameter(name: string, init: tf.Tensor, options: ParameterOptions = {}): tf.Variable {
    this.#assertFreeName(name);
    const variable = tf.variable(init, true, `${name}_${variableCounter++}`);
    init.dispose();
    this.#parameters.set(name, new Parameter(variable, options.layout ?? 'same', options.requiresGrad ?? true));
    return variable;
  }

  /** Creates a buffer (saved, loaded, never trained). */
  protected addBuffer(name: string, init: tf.Tensor, layout: TorchLayout = 'same'): tf.Variable {
    this.#assertFreeName(name);
    const variable = tf.variable(init, false, `${name}_${variableCounter++}`);
    init.dispose();
    this.#buffers.set(name, new BufferSlot(variable, layout));
    return variable;
  }

  /** Direct children, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.#children];
  }

  /** This module and every descendant, with dotted names ('' for this one). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.#children) yield* child.namedModules(join(prefix, name));
  }

  /** Every parameter of this module and its descendants, with state-dict names. */
  namedParameters(): [string, Parameter][] {
    return this.#collect((m) => m.#parameters);
  }

  /** Every buffer of this module and its descendants, with state-dict names. */
  namedBuffers(): [string, BufferSlot][] {
    return this.#collect((m) => m.#buffers);
  }

  /** The parameters an optimiser updates: those with `requiresGrad`. */
  trainableVariables(): tf.Variable[] {
    return this.namedParameters()
      .filter(([, p]) => p.requiresGrad)
      .map(([, p]) => p.variable);
  }

  /** Sets training mode recursively; subclasses override to keep frozen parts in eval mode. */
  train(mode = true): this {
    this.training = mode;
    for (const child of this.#children.values()) child.train(mode);
    this.onModeChanged(mode);
    return this;
  }

  /** Runs after this module and its children switched mode (e.g. to prepare inference-only state). */
  protected onModeChanged(_training: boolean): void {}

  eval(): this {
    return this.train(false);
  }

  /** Sets `requiresGrad` on every parameter of this module and its descendants. */
  setRequiresGrad(flag: boolean): this {
    for (const [, p] of this.namedParameters()) p.requiresGrad = flag;
    return this;
  }

  /** Number of scalar parameters (all, or only the trainable ones). */
  numParameters(options: { trainableOnly?: boolean } = {}): number {
    return this.namedParameters()
      .filter(([, p]) => !options.trainableOnly || p.requiresGrad)
      .reduce((sum, [, p]) => sum + p.variable.size, 0);
  }

  /** Frees this module's parameters and buffers, then each child's (overridable for derived caches). */
  dispose(): void {
    for (const p of this.#parameters.values()) p.variable.dispose();
    for (const b of this.#buffers.values()) b.variable.dispose();
    for (const child of this.#children.values()) child.dispose();
  }

  #collect<T>(pick: (m: Module) => Map<string, T>): [string, T][] {
    const out: [string, T][] = [];
    for (const [prefix, module] of this.namedModules()) {
      for (const [name, value] of pick(module)) out.push([join(prefix, name), value]);
    }
    return out;
  }

  #assertFreeName(name: string): void {
    if (!name || name.includes('.')) throw new Error(`${this.typeName}: invalid member name '${name}' (non-empty, no dots)`);
    if (this.#children.has(name) || this.#parameters.has(name) || this.#buffers.has(name)) {
      throw new Error(`${this.typeName}: member '${name}' is already registered`);
    }
  }
}

function join(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name;
}
