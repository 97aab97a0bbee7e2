/**
 * Adam and AdamW with PyTorch's update rules (torch.optim.Adam / AdamW, single-tensor path,
 * amsgrad off), for configs that train with them (mmdet's DETR-family and from-scratch recipes):
 *
 *   t = t + 1
 *   Adam:  g = grad + weight_decay * p                (L2 added to the gradient)
 *   AdamW: p = p * (1 - lr * weight_decay)             (decoupled decay)
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g^2
 *   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * State per parameter as torch keeps it (`step`, `exp_avg`, `exp_avg_sq`), saved in checkpoints
 * in PyTorch layout so a resumed run continues exactly.
 */
import * as tf from '@tensorflow/tfjs-core';
import { tfjsToTorch, torchShapeOf, torchToTfjs, toFloat32, type RawTensor } from '@tsdet/core';
import { OptimizerStateError, type BaseHyperParameters, type OptimizedParameter, type Optimizer, type OptimizerState, type ParamGroup } from './sgd.js';

export interface AdamHyperParameters extends BaseHyperParameters {
  betas: [number, number];
  eps: number;
}

interface Moments {
  step: number;
  expAvg: tf.Tensor;
  expAvgSq: tf.Tensor;
}

export class Adam implements Optimizer {
  readonly paramGroups: ParamGroup[];
  readonly #params: Map<string, OptimizedParameter>;
  readonly #moments = new Map<string, Moments>();

  /** `decoupled` makes it AdamW. */
  constructor(
    params: readonly OptimizedParameter[],
    groups: readonly ParamGroup[],
    readonly decoupled: boolean,
  ) {
    this.#params = new Map(params.map((p) => [p.name, p]));
    this.paramGroups = groups.map((group) => ({ ...group }));
    for (const group of this.paramGroups) {
      for (const name of group.params) if (!this.#params.has(name)) throw new OptimizerStateError(`${this.#name}: parameter group names '${name}', which is not an optimised parameter`);
    }
  }

  get #name(): string {
    return this.decoupled ? 'AdamW' : 'Adam';
  }

  step(grads: ReadonlyMap<string, tf.Tensor>): void {
    for (const group of this.paramGroups) {
      for (const name of group.params) {
        const grad = grads.get(name);
        if (grad) this.#update(this.#params.get(name)!, grad, group as unknown as AdamHyperParameters);
      }
    }
  }

  #update(param: OptimizedParameter, grad: tf.Tensor, h: AdamHyperParameters): void {
    const previous = this.#moments.get(param.name);
    const step = (previous?.step ?? 0) + 1;
    const [beta1, beta2] = h.betas;
    const next = tf.tidy(() => {
      const p = param.variable;
      const decayed = this.decoupled && h.weight_decay !== 0 ? tf.mul(p, 1 - h.lr * h.weight_decay) : p;
      const g = !this.decoupled && h.weight_decay !== 0 ? tf.add(grad, tf.mul(p, h.weight_decay)) : grad;
      const expAvg = previous ? tf.add(tf.mul(previous.expAvg, beta1), tf.mul(g, 1 - beta1)) : tf.mul(g, 1 - beta1);
      const expAvgSq = previous ? tf.add(tf.mul(previous.expAvgSq, beta2), tf.mul(tf.square(g), 1 - beta2)) : tf.mul(tf.square(g), 1 - beta2);
      const stepSize = h.lr / (1 - beta1 ** step);
      const denominator = tf.add(tf.div(tf.sqrt(expAvgSq), Math.sqrt(1 - beta2 ** step)), h.eps);
      p.assign(tf.sub(decayed, tf.mul(tf.div(expAvg, denominator), stepSize)));
      return { expAvg: tf.keep(expAvg), expAvgSq: tf.keep(expAvgSq) };
    });
    if (previous) tf.dispose([previous.expAvg, previous.expAvgSq]);
    this.#moments.set(param.name, { step, ...next });
  }

  stateDict(): OptimizerState {
    const state: OptimizerState['state'] = {};
    for (const [name, moments] of this.#moments) {
      const layout = this.#params.get(name)!.layout;
      const torch = (t: tf.Tensor): RawTensor => {
        const { shape, data } = tfjsToTorch(layout, { shape: t.shape, data: Float32Array.from(t.dataSync()) });
        return { dtype: 'float32', shape, data };
      };
      state[name] = { step: { dtype: 'float32', shape: [], data: Float32Array.of(moments.step) }, exp_avg: torch(moments.expAvg), exp_avg_sq: torch(moments.expAvgSq) };
    }
    return { state, param_groups: this.paramGroups.map((group) => ({ ...group, params: [...group.params] })) };
  }

  loadStateDict(saved: OptimizerState, source = 'the checkpoint'): void {
    const ours = this.paramGroups.map((g) => g.params.join(','));
    const theirs = saved.param_groups.map((g) => g.params.join(','));
    if (ours.length !== theirs.length || ours.some((names, i) => names !== theirs[i])) {
      throw new OptimizerStateError(`optimizer state in ${source} does not match the model: ${theirs.length} parameter groups saved, ${ours.length} now`);
    }
    const loaded = new Map<string, Moments>();
    try {
      for (const [name, entry] of Object.entries(saved.state)) loaded.set(name, this.#momentsFrom(name, entry, source));
    } catch (error) {
      for (const m of loaded.values()) tf.dispose([m.expAvg, m.expAvgSq]);
      throw error;
    }
    this.#disposeMoments();
    for (const [name, moments] of loaded) this.#moments.set(name, moments);
    saved.param_groups.forEach((group, i) => Object.assign(this.paramGroups[i]!, { ...group, params: this.paramGroups[i]!.params }));
  }

  #momentsFrom(name: string, entry: Record<string, RawTensor>, source: string): Moments {
    const param = this.#params.get(name);
    if (!param) throw new OptimizerStateError(`optimizer state in ${source} has moments for '${name}', which is not an optimised parameter`);
    const missing = ['step', 'exp_avg', 'exp_avg_sq'].filter((key) => !entry[key]);
    if (missing.length) throw new OptimizerStateError(`optimizer state in ${source}: '${name}' has no ${missing.join(', ')} (was it saved by another optimiser type? it has ${Object.keys(entry).join(', ')})`);
    const tensor = (key: string): tf.Tensor => {
      const raw = entry[key]!;
      const converted = torchToTfjs(param.layout, { shape: [...raw.shape], data: toFloat32(raw) });
      if (converted.shape.join(',') !== param.variable.shape.join(',')) {
        throw new OptimizerStateError(`optimizer state in ${source}: ${key} of '${name}' has shape [${raw.shape.join(', ')}], the parameter needs [${torchShapeOf(param.layout, param.variable.shape).join(', ')}]`);
      }
      return tf.tensor(converted.data, converted.shape, 'float32');
    };
    const step = toFloat32(entry['step']!)[0]!;
    const expAvg = tensor('exp_avg');
    try {
      return { step, expAvg, expAvgSq: tensor('exp_avg_sq') };
    } catch (error) {
      expAvg.dispose();
      throw error;
    }
  }

  #disposeMoments(): void {
    for (const m of this.#moments.values()) tf.dispose([m.expAvg, m.expAvgSq]);
    this.#moments.clear();
  }

  dispose(): void {
    this.#disposeMoments();
  }
}
