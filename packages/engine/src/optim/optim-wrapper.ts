/**
 * mmengine's OptimWrapper: computes the loss terms and their gradients for one batch
 * (tf.variableGrads over the optimised parameters), optionally accumulates gradients over
 * `accumulative_counts` iterations, clips them, and steps the optimiser.
 *
 * Before any parameter changes, every loss term is checked: a NaN or Inf stops training with an
 * error naming the term (the parameters and the last checkpoint stay as they were).
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseLosses, type TrainableModel } from '@tsdet/core';
import type { OptimizedParameter, Optimizer } from './sgd.js';

export interface ClipGradConfig {
  /** 'norm' (torch clip_grad_norm_, the default) or 'value' (clip_grad_value_). */
  type?: 'norm' | 'value';
  max_norm?: number;
  norm_type?: number;
  clip_value?: number;
}

export interface OptimWrapperOptions {
  clipGrad?: ClipGradConfig | null;
  accumulativeCounts?: number;
}

/** What one training step reports to the logger. */
export interface TrainStepOutputs {
  /** `loss` first, then every term in the model's order (mmengine's parse_losses order). */
  logVars: Record<string, number>;
  /** The total gradient norm before clipping, when clip_grad is by norm and an update happened. */
  gradNorm?: number;
}

export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
  constructor(
    message: string,
    /** The term(s) that were not finite. */
    readonly terms: readonly string[],
  ) {
    super(message);
  }
}

export class OptimWrapper {
  readonly #model: TrainableModel;
  readonly optimizer: Optimizer;
  readonly #params: readonly OptimizedParameter[];
  readonly #clipGrad: ClipGradConfig | null;
  readonly accumulativeCounts: number;
  #innerCount = 0;
  #maxCounts = Number.POSITIVE_INFINITY;
  #accumulated = new Map<string, tf.Tensor>();

  constructor(model: TrainableModel, optimizer: Optimizer, params: readonly OptimizedParameter[], options: OptimWrapperOptions = {}) {
    this.#model = model;
    this.optimizer = optimizer;
    this.#params = params;
    this.#clipGrad = options.clipGrad ?? null;
    this.accumulativeCounts = options.accumulativeCounts ?? 1;
    if (this.#clipGrad) checkClipGrad(this.#clipGrad);
  }

  /** mmengine initialize_count_status: where accumulation starts and how many iterations there are. */
  initializeCountStatus(initCounts: number, maxCounts: number): void {
    this.#innerCount = initCounts;
    this.#maxCounts = maxCounts;
  }

  /** The lr of every parameter group (the logger shows the first). */
  getLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** One training iteration on `batch`: losses, gradients, and (unless accumulating) an update. */
  updateParams(batch: unknown): TrainStepOutputs {
    const lossFactor = this.#lossFactor();
    const { logVars, grads } = this.#lossesAndGrads(batch, lossFactor);
    this.#innerCount += 1;
    this.#accumulate(grads);
    if (!this.#shouldUpdate()) return { logVars };
    const gradNorm = this.#stepAndReset();
    return gradNorm === undefined ? { logVars } : { logVars, gradNorm };
  }

  /** mmengine scale_loss: divide by the counts of the current accumulation window. */
  #lossFactor(): number {
    if (this.accumulativeCounts === 1) return 1;
    const divisible = Math.floor(this.#maxCounts / this.accumulativeCounts) * this.accumulativeCounts;
    return this.#innerCount < divisible ? this.accumulativeCounts : this.#maxCounts - divisible;
  }

  #shouldUpdate(): boolean {
    return this.#innerCount % this.accumulativeCounts === 0 || this.#innerCount === this.#maxCounts;
  }

  #lossesAndGrads(batch: unknown, lossFactor: number): { logVars: Record<string, number>; grads: Map<string, tf.Tensor> } {
    let kept: Record<string, tf.Scalar> = {};
    const variables = this.#params.map((p) => p.variable);
    const { value, grads } = tf.variableGrads(() => {
      const parsed = parseLosses(this.#model.computeLosses(batch));
      kept = Object.fromEntries(Object.entries(parsed.logVars).map(([key, scalar]) => [key, tf.keep(key === 'loss' ? tf.clone(scalar) : scalar)]));
      return lossFactor === 1 ? parsed.total : tf.div(parsed.total, lossFactor);
    }, variables);
    value.dispose();
    const logVars = readLogVars(kept);
    const byName = new Map<string, tf.Tensor>();
    for (const p of this.#params) {
      const grad = grads[p.variable.name];
      if (grad) byName.set(p.name, grad);
    }
    const nonFinite = Object.keys(logVars).filter((key) => !Number.isFinite(logVars[key]!));
    if (nonFinite.length) {
      tf.dispose([...byName.values()]);
      throw new NonFiniteLossError(`non-finite loss: ${nonFinite.map((k) => `${k} = ${logVars[k]}`).join(', ')}`, nonFinite);
    }
    return { logVars, grads: byName };
  }

  #accumulate(grads: Map<string, tf.Tensor>): void {
    if (this.#accumulated.size === 0) {
      this.#accumulated = grads;
      return;
    }
    for (const [name, grad] of grads) {
      const previous = this.#accumulated.get(name);
      this.#accumulated.set(name, previous ? tf.tidy(() => tf.add(previous, grad)) : grad);
      if (previous) {
        previous.dispose();
        grad.dispose();
      }
    }
  }

  /** Clips (reporting the norm), steps, and drops the gradients. */
  #stepAndReset(): number | undefined {
    const grads = this.#accumulated;
    this.#accumulated = new Map();
    try {
      const gradNorm = this.#clip(grads);
      this.optimizer.step(grads);
      return gradNorm;
    } finally {
      tf.dispose([...grads.values()]);
    }
  }

  #clip(grads: Map<string, tf.Tensor>): number | undefined {
    const cfg = this.#clipGrad;
    if (!cfg || grads.size === 0) return undefined;
    if ((cfg.type ?? 'norm') === 'value') {
      for (const [name, grad] of grads) {
        grads.set(name, tf.tidy(() => tf.clipByValue(grad, -cfg.clip_value!, cfg.clip_value!)));
        grad.dispose();
      }
      return undefined;
    }
    const norm = totalNorm([...grads.values()], cfg.norm_type ?? 2);
    // torch: clip_coef = max_norm / (total_norm + 1e-6), applied only when it is below 1.
    const coefficient = cfg.max_norm! / (norm + 1e-6);
    if (coefficient < 1) {
      for (const [name, grad] of grads) {
        grads.set(name, tf.tidy(() => tf.mul(grad, coefficient)));
        grad.dispose();
      }
    }
    return norm;
  }

  dispose(): void {
    tf.dispose([...this.#accumulated.values()]);
    this.#accumulated.clear();
    this.optimizer.dispose();
  }
}

/** torch's total norm: the norm_type-norm of the per-tensor norms (inf: the largest |g|). */
export function totalNorm(grads: readonly tf.Tensor[], normType: number): number {
  return tf.tidy(() => {
    if (normType === Number.POSITIVE_INFINITY) return Math.max(...grads.map((g) => tf.max(tf.abs(g)).dataSync()[0]!));
    const norms = grads.map((g) => tf.norm(g, normType));
    return tf.norm(tf.stack(norms), normType).dataSync()[0]!;
  });
}

function readLogVars(kept: Record<string, tf.Scalar>): Record<string, number> {
  const values: Record<string, number> = {};
  // mmengine's parse_losses puts the total first.
  if (kept['loss']) values['loss'] = kept['loss'].dataSync()[0]!;
  for (const [key, scalar] of Object.entries(kept)) if (key !== 'loss') values[key] = scalar.dataSync()[0]!;
  tf.dispose(Object.values(kept));
  return values;
}

function checkClipGrad(cfg: ClipGradConfig): void {
  const type = cfg.type ?? 'norm';
  if (type === 'norm' && !(typeof cfg.max_norm === 'number' && cfg.max_norm > 0)) throw new Error(`optim_wrapper.clip_grad.max_norm: clipping by norm needs max_norm > 0, got ${String(cfg.max_norm)}`);
  if (type === 'value' && !(typeof cfg.clip_value === 'number' && cfg.clip_value > 0)) throw new Error(`optim_wrapper.clip_grad.clip_value: clipping by value needs clip_value > 0, got ${String(cfg.clip_value)}`);
}
