/**
 * Stochastic gradient descent with PyTorch's exact update rule (torch.optim.SGD, single-tensor
 * path), so that mmdet schedules transfer unchanged:
 *
 *   g = grad + weight_decay * p                       (weight decay is added to the gradient)
 *   buf = g on the first step, else momentum * buf + (1 - dampening) * g
 *   g = nesterov ? g + momentum * buf : buf           (when momentum != 0)
 *   p = p - lr * g
 *
 * Hyper-parameters live per parameter group (mmengine's paramwise groups, one per parameter);
 * schedulers change a group's `lr`. A parameter without a gradient this step (not connected to
 * the loss) is skipped entirely, as PyTorch skips `grad is None`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { tfjsToTorch, torchShapeOf, torchToTfjs, toFloat32, type RawTensor, type TorchLayout } from '@tsdet/core';

/** What every optimiser's groups have: the lr the schedulers drive and the weight decay paramwise_cfg scales. */
export interface BaseHyperParameters {
  lr: number;
  weight_decay: number;
}

export interface SgdHyperParameters extends BaseHyperParameters {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

/** A parameter as the optimiser sees it: its state-dict name, variable and PyTorch layout. */
export interface OptimizedParameter {
  readonly name: string;
  readonly variable: tf.Variable;
  readonly layout: TorchLayout;
}

/** One parameter group: its parameters (by name) and their hyper-parameters (the optimiser's own keys too). */
export interface ParamGroup extends BaseHyperParameters {
  readonly params: readonly string[];
  /** The lr before any scheduler ran (mmengine's `initial_lr`), set by the first scheduler. */
  initial_lr?: number;
  [hyperParameter: string]: unknown;
}

/**
 * The optimiser state as saved in checkpoints, as torch.optim lays it out: per parameter name its
 * state tensors in PyTorch layout (SGD `momentum_buffer`; Adam `step`, `exp_avg`, `exp_avg_sq`).
 */
export interface OptimizerState {
  state: Record<string, Record<string, RawTensor>>;
  param_groups: ParamGroup[];
}

/** What the optimiser wrapper, schedulers and checkpoints need of an optimiser. */
export interface Optimizer {
  readonly paramGroups: ParamGroup[];
  /** Applies one update from `grads` (by parameter name); parameters without a gradient are skipped. */
  step(grads: ReadonlyMap<string, tf.Tensor>): void;
  stateDict(): OptimizerState;
  loadStateDict(saved: OptimizerState, source?: string): void;
  dispose(): void;
}

export class OptimizerStateError extends Error {
  override name = 'OptimizerStateError';
}

export class SGD implements Optimizer {
  readonly paramGroups: ParamGroup[];
  readonly #params: Map<string, OptimizedParameter>;
  readonly #momentumBuffers = new Map<string, tf.Tensor>();

  constructor(params: readonly OptimizedParameter[], groups: readonly ParamGroup[]) {
    this.#params = new Map(params.map((p) => [p.name, p]));
    this.paramGroups = groups.map((group) => ({ ...group }));
    for (const group of this.paramGroups) {
      for (const name of group.params) if (!this.#params.has(name)) throw new OptimizerStateError(`SGD: parameter group names '${name}', which is not an optimised parameter`);
    }
  }

  /** Applies one update from `grads` (by parameter name). The grads stay the caller's. */
  step(grads: ReadonlyMap<string, tf.Tensor>): void {
    for (const group of this.paramGroups) {
      for (const name of group.params) {
        const grad = grads.get(name);
        if (grad) this.#update(this.#params.get(name)!, grad, group);
      }
    }
  }

  #update(param: OptimizedParameter, grad: tf.Tensor, paramGroup: ParamGroup): void {
    const group = paramGroup as unknown as SgdHyperParameters;
    const previous = this.#momentumBuffers.get(param.name);
    const next = tf.tidy(() => {
      let g = group.weight_decay !== 0 ? tf.add(grad, tf.mul(param.variable, group.weight_decay)) : grad;
      let buffer: tf.Tensor | undefined;
      if (group.momentum !== 0) {
        buffer = previous ? tf.add(tf.mul(previous, group.momentum), tf.mul(g, 1 - group.dampening)) : tf.clone(g);
        g = group.nesterov ? tf.add(g, tf.mul(buffer, group.momentum)) : buffer;
      }
      param.variable.assign(tf.sub(param.variable, tf.mul(g, group.lr)));
      return buffer ? tf.keep(buffer) : undefined;
    });
    if (next) {
      previous?.dispose();
      this.#momentumBuffers.set(param.name, next);
    }
  }

  /** Momentum buffers in PyTorch layout, keyed by parameter name, plus the groups' hyper-parameters. */
  stateDict(): OptimizerState {
    const state: OptimizerState['state'] = {};
    for (const [name, buffer] of this.#momentumBuffers) {
      const { shape, data } = tfjsToTorch(this.#params.get(name)!.layout, { shape: buffer.shape, data: Float32Array.from(buffer.dataSync()) });
      state[name] = { momentum_buffer: { dtype: 'float32', shape, data } };
    }
    return { state, param_groups: this.paramGroups.map((group) => ({ ...group, params: [...group.params] })) };
  }

  /** Restores a stateDict(): the groups must name the same parameters in the same order. */
  loadStateDict(saved: OptimizerState, source = 'the checkpoint'): void {
    this.#checkGroups(saved.param_groups, source);
    const loaded = new Map<string, tf.Tensor>();
    try {
      for (const [name, entry] of Object.entries(saved.state)) {
        if (!entry['momentum_buffer']) throw new OptimizerStateError(`optimizer state in ${source}: '${name}' has no momentum_buffer (was it saved by another optimiser type? it has ${Object.keys(entry).join(', ')})`);
        loaded.set(name, this.#bufferFrom(name, entry['momentum_buffer'], source));
      }
    } catch (error) {
      tf.dispose([...loaded.values()]);
      throw error;
    }
    this.#disposeBuffers();
    for (const [name, buffer] of loaded) this.#momentumBuffers.set(name, buffer);
    saved.param_groups.forEach((group, i) => Object.assign(this.paramGroups[i]!, { ...group, params: this.paramGroups[i]!.params }));
  }

  #checkGroups(groups: readonly ParamGroup[], source: string): void {
    const ours = this.paramGroups.map((g) => g.params.join(','));
    const theirs = groups.map((g) => g.params.join(','));
    if (ours.length !== theirs.length || ours.some((names, i) => names !== theirs[i])) {
      const first = ours.findIndex((names, i) => names !== theirs[i]);
      throw new OptimizerStateError(`optimizer state in ${source} does not match the model: ${theirs.length} parameter groups saved, ${ours.length} now; first difference at group ${first} (saved [${theirs[first] ?? ''}], now [${ours[first] ?? ''}])`);
    }
  }

  #bufferFrom(name: string, raw: RawTensor, source: string): tf.Tensor {
    const param = this.#params.get(name);
    if (!param) throw new OptimizerStateError(`optimizer state in ${source} has a momentum buffer for '${name}', which is not an optimised parameter`);
    const converted = torchToTfjs(param.layout, { shape: [...raw.shape], data: toFloat32(raw) });
    if (converted.shape.join(',') !== param.variable.shape.join(',')) {
      throw new OptimizerStateError(`optimizer state in ${source}: momentum buffer of '${name}' has shape [${raw.shape.join(', ')}], the parameter needs [${torchShapeOf(param.layout, param.variable.shape).join(', ')}]`);
    }
    return tf.tensor(converted.data, converted.shape, 'float32');
  }

  #disposeBuffers(): void {
    tf.dispose([...this.#momentumBuffers.values()]);
    this.#momentumBuffers.clear();
  }

  dispose(): void {
    this.#disposeBuffers();
  }
}
