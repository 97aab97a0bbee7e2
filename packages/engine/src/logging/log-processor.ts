/**
 * mmengine's LogProcessor: turns the message hub's scalars into one log line and a tag dict (the
 * scalars.json record).
 *
 *   Epoch(train)  [1][ 50/200]  lr: 2.0000e-02  eta: 0:12:34  time: 0.5123  data_time: 0.0101  memory: 812  grad_norm: 3.1416  loss: 1.2345  loss_rpn_cls: 0.1234 ...
 *   Iter(train) [ 50/1000]  lr: ...
 *   Epoch(val) [1][5/5]    coco/bbox_mAP: 0.3740  ...  data_time: 0.0012  time: 0.0456
 *
 * Keys matching `mean_pattern` (losses, times, grad_norm) are averaged over the last
 * `window_size` iterations; others (lr) show their latest value. `memory` (MB) is always shown:
 * tsdet reports the process's resident memory, which includes the wasm heap.
 */
import { formatExponential, formatFixed, formatTimedelta } from './format.js';
import type { MessageHub } from './message-hub.js';

export interface LogProcessorConfig {
  window_size?: number;
  by_epoch?: boolean;
  num_digits?: number;
  mean_pattern?: string;
}

/** Where the loop stands when a line is written. */
export interface LogPosition {
  mode: 'train' | 'val' | 'test';
  /** 0-based index of the batch in the current loop pass. */
  batchIdx: number;
  /** Batches in the current dataloader. */
  dataloaderLength: number;
  /** 1-based epoch being trained (train/val), for by-epoch logs. */
  epoch: number;
  maxEpochs?: number;
  /** 0-based global iteration just finished (train). */
  iter: number;
  maxIters: number;
}

export type LogTag = Record<string, number | string>;

export class LogProcessor {
  readonly windowSize: number;
  readonly byEpoch: boolean;
  readonly numDigits: number;
  readonly meanPattern: RegExp;

  constructor(cfg: LogProcessorConfig = {}) {
    this.windowSize = cfg.window_size ?? 10;
    this.byEpoch = cfg.by_epoch ?? true;
    this.numDigits = cfg.num_digits ?? 4;
    this.meanPattern = new RegExp(cfg.mean_pattern ?? '.*(loss|time|data_time|grad_norm).*');
  }

  /** The line and tag after a train (or val/test) iteration. */
  afterIter(hub: MessageHub, position: LogPosition, extras: { eta?: number; memoryMB?: number } = {}): { tag: LogTag; line: string } {
    const scalars = this.#collect(hub, position.mode);
    const tag: LogTag = { ...scalars };
    const lrParts: string[] = [];
    for (const key of Object.keys(scalars)) {
      if (!key.endsWith('lr')) continue;
      lrParts.push(`${key}: ${formatExponential(scalars[key]!, this.numDigits)}`);
      delete scalars[key];
    }
    let line = `${this.#iterHeader(position, tag)}${lrParts.join(' ')}  `;
    if ('time' in scalars && 'data_time' in scalars && extras.eta !== undefined) {
      line += `eta: ${formatTimedelta(extras.eta)}  time: ${formatFixed(scalars['time']!, this.numDigits)}  data_time: ${formatFixed(scalars['data_time']!, this.numDigits)}  `;
      delete scalars['time'];
      delete scalars['data_time'];
    }
    if (extras.memoryMB !== undefined) {
      line += `memory: ${extras.memoryMB}  `;
      tag['memory'] = extras.memoryMB;
    }
    if (position.mode !== 'test') {
      const items = Object.entries(scalars)
        .filter(([name]) => position.mode === 'train' || name.startsWith('loss'))
        .map(([name, value]) => `${name}: ${formatFixed(value, this.numDigits)}`);
      line += items.join('  ');
    }
    return { tag, line: line.trimEnd() };
  }

  #iterHeader(position: LogPosition, tag: LogTag): string {
    const { mode } = position;
    if (this.byEpoch) {
      const total = position.dataloaderLength;
      const current = String(position.batchIdx + 1).padStart(String(total).length);
      tag['iter'] = position.iter + 1;
      if (mode === 'test') return `Epoch(${mode}) [${current}/${total}]  `;
      tag['epoch'] = position.epoch;
      const epoch = `[${position.epoch}]`.padStart(String(position.maxEpochs ?? position.epoch).length + 3);
      return `Epoch(${mode})${epoch}[${current}/${total}]  `;
    }
    tag['iter'] = position.iter + 1;
    if (mode === 'train') return `Iter(${mode}) [${String(position.iter + 1).padStart(String(position.maxIters).length)}/${position.maxIters}]  `;
    const total = position.dataloaderLength;
    return `Iter(${mode}) [${String(position.batchIdx + 1).padStart(String(total).length)}/${total}]  `;
  }

  /** The line and tag after a val/test pass: the metrics, then the pass's mean times. */
  afterEpoch(hub: MessageHub, position: LogPosition, metrics: Record<string, number | string>): { tag: LogTag; line: string } {
    const { mode, dataloaderLength: total } = position;
    let header: string;
    if (this.byEpoch) header = mode === 'val' ? `Epoch(${mode}) [${position.epoch}][${total}/${total}]  ` : `Epoch(${mode}) [${total}/${total}]  `;
    else header = `Iter(${mode}) [${total}/${total}]  `;
    const tag: LogTag = { ...metrics };
    for (const key of ['data_time', 'time']) {
      const buffer = hub.getScalar(`${mode}/${key}`);
      if (buffer?.length) tag[key] = buffer.mean();
    }
    const items = Object.entries(tag).map(([name, value]) => `${name}: ${typeof value === 'number' ? formatFixed(value, this.numDigits) : value}`);
    return { tag, line: `${header}  ${items.join('  ')}` };
  }

  #collect(hub: MessageHub, mode: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, buffer] of hub.logScalars) {
      if (!key.startsWith(`${mode}/`)) continue;
      const name = key.slice(mode.length + 1);
      out[name] = this.meanPattern.test(name) ? buffer.mean(this.windowSize) : buffer.current();
    }
    return out;
  }
}
