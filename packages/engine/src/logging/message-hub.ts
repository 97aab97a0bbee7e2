/**
 * mmengine's MessageHub and HistoryBuffer: the scalars each iteration reports (losses, times,
 * lr), smoothed over a window when logged, and the runtime facts hooks share (eta, best score,
 * kept checkpoints). The runtime info is saved in checkpoints so that a resumed run goes on
 * pruning checkpoints and comparing best scores where it stopped.
 */

/** The values of one scalar, newest last; bounded so that long runs do not grow without limit. */
export class HistoryBuffer {
  static readonly MAX_LENGTH = 10_000;
  readonly #values: number[] = [];
  readonly #counts: number[] = [];

  update(value: number, count = 1): void {
    this.#values.push(value);
    this.#counts.push(count);
    if (this.#values.length > HistoryBuffer.MAX_LENGTH) {
      this.#values.shift();
      this.#counts.shift();
    }
  }

  /** Mean of the last `window` values, weighted by their counts (all values if no window). */
  mean(window?: number): number {
    const start = window === undefined ? 0 : Math.max(0, this.#values.length - window);
    let sum = 0;
    let count = 0;
    for (let i = start; i < this.#values.length; i++) {
      sum += this.#values[i]!;
      count += this.#counts[i]!;
    }
    return count === 0 ? Number.NaN : sum / count;
  }

  current(): number {
    return this.#values.length ? this.#values[this.#values.length - 1]! : Number.NaN;
  }

  get length(): number {
    return this.#values.length;
  }
}

export type RuntimeInfoValue = null | boolean | number | string | readonly RuntimeInfoValue[] | { readonly [key: string]: RuntimeInfoValue };

export class MessageHub {
  /** Keys are `<mode>/<name>` (train/loss, val/time, ...), in first-update order. */
  readonly logScalars = new Map<string, HistoryBuffer>();
  readonly runtimeInfo = new Map<string, RuntimeInfoValue>();

  updateScalar(key: string, value: number, count = 1): void {
    let buffer = this.logScalars.get(key);
    if (!buffer) this.logScalars.set(key, (buffer = new HistoryBuffer()));
    buffer.update(value, count);
  }

  getScalar(key: string): HistoryBuffer | undefined {
    return this.logScalars.get(key);
  }

  updateInfo(key: string, value: RuntimeInfoValue): void {
    this.runtimeInfo.set(key, value);
  }

  getInfo<T extends RuntimeInfoValue>(key: string): T | undefined {
    return this.runtimeInfo.get(key) as T | undefined;
  }

  /** Drops the scalars of a mode (mmengine clears val/test buffers before each evaluation). */
  clearScalars(mode: string): void {
    for (const key of [...this.logScalars.keys()]) if (key.startsWith(`${mode}/`)) this.logScalars.delete(key);
  }

  /** What checkpoints keep: the runtime info (scalar histories are not needed to resume). */
  stateDict(): { runtime_info: Record<string, RuntimeInfoValue> } {
    return { runtime_info: Object.fromEntries(this.runtimeInfo) };
  }

  loadStateDict(state: { runtime_info?: Record<string, RuntimeInfoValue> }): void {
    for (const [key, value] of Object.entries(state.runtime_info ?? {})) this.runtimeInfo.set(key, value);
  }
}
