/**
 * mmengine's CheckpointHook: saves `epoch_N.pth` every `interval` epochs (or `iter_N.pth` every
 * `interval` iterations with by_epoch false) and at the end (save_last), records the newest in
 * `work_dir/last_checkpoint`, keeps at most `max_keep_ckpts` of them, and with `save_best` keeps
 * `best_<metric>_epoch_N.pth` for the best validation score so far (rule greater / less,
 * inferred from the metric name when not given). Every write is atomic (temp file + rename).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Runner } from '../runner/runner.js';
import { PRIORITY, type Hook, type Metrics } from './hook.js';

export interface CheckpointHookConfig {
  interval: number;
  by_epoch: boolean;
  save_optimizer: boolean;
  save_param_scheduler: boolean;
  out_dir: string | null;
  max_keep_ckpts: number;
  save_last: boolean;
  save_best: string | string[] | null;
  rule: 'greater' | 'less' | ('greater' | 'less')[] | null;
  greater_keys: string[] | null;
  less_keys: string[] | null;
  filename_tmpl: string | null;
  save_begin: number;
  priority?: number;
}

/** mmengine's defaults for inferring a rule from a metric name. */
const GREATER_KEYS = ['acc', 'top', 'AR@', 'auc', 'precision', 'mAP', 'mDice', 'mIoU', 'mAcc', 'aAcc'];
const LESS_KEYS = ['loss'];

export class CheckpointHook implements Hook {
  readonly name = 'CheckpointHook';
  priority: number;

  constructor(readonly cfg: CheckpointHookConfig) {
    this.priority = cfg.priority ?? PRIORITY.VERY_LOW;
    if (cfg.filename_tmpl !== null && !cfg.filename_tmpl.includes('{}')) throw new Error(`filename_tmpl must contain '{}' for the epoch or iteration number, got '${cfg.filename_tmpl}'`);
    const rules = this.#explicitRules();
    if (rules && this.#bestKeys().length && rules.length !== this.#bestKeys().length && rules.length !== 1) {
      throw new Error(`rule has ${rules.length} entries for ${this.#bestKeys().length} save_best keys`);
    }
  }

  afterTrainEpoch(runner: Runner): void {
    if (!this.cfg.by_epoch) return;
    const epochNumber = runner.epoch + 1;
    if (this.#due(epochNumber) || (this.cfg.save_last && epochNumber === runner.maxEpochs)) this.#save(runner, 'epoch', epochNumber);
  }

  afterTrainIter(runner: Runner): void {
    if (this.cfg.by_epoch) return;
    const iterNumber = runner.iter + 1;
    if (this.#due(iterNumber) || (this.cfg.save_last && iterNumber === runner.maxIters)) this.#save(runner, 'iter', iterNumber);
  }

  #due(count: number): boolean {
    const { interval, save_begin } = this.cfg;
    const dividend = count - save_begin;
    return interval > 0 && dividend >= 0 && dividend % interval === 0;
  }

  #dir(runner: Runner): string {
    return this.cfg.out_dir ? path.resolve(this.cfg.out_dir) : runner.workDir;
  }

  #save(runner: Runner, unit: 'epoch' | 'iter', count: number): void {
    const filename = (this.cfg.filename_tmpl ?? `${unit}_{}.pth`).replace('{}', String(count));
    const file = runner.saveCheckpoint(filename, { dir: this.#dir(runner), saveOptimizer: this.cfg.save_optimizer, saveParamScheduler: this.cfg.save_param_scheduler });
    runner.markLastCheckpoint(file);
    runner.logger.info(`Saving checkpoint at ${count} ${unit === 'epoch' ? 'epochs' : 'iterations'}`);
    this.#pruneOld(runner, file);
  }

  /** max_keep_ckpts: the list of kept files lives in the message hub, so a resumed run goes on pruning. */
  #pruneOld(runner: Runner, file: string): void {
    if (this.cfg.max_keep_ckpts <= 0) return;
    const kept = [...(runner.messageHub.getInfo<string[]>('keep_ckpt_ids') ?? []).filter((f) => f !== file), file];
    while (kept.length > this.cfg.max_keep_ckpts) fs.rmSync(kept.shift()!, { force: true });
    runner.messageHub.updateInfo('keep_ckpt_ids', kept);
  }

  afterValEpoch(runner: Runner, metrics: Metrics): void {
    const keys = this.#bestKeys();
    if (!keys.length || Object.keys(metrics).length === 0) return;
    const resolved = keys.map((key) => (key === 'auto' ? Object.keys(metrics)[0]! : key));
    resolved.forEach((key, i) => this.#saveIfBest(runner, key, i, metrics, resolved.length > 1));
  }

  #saveIfBest(runner: Runner, key: string, index: number, metrics: Metrics, several: boolean): void {
    const value = metrics[key];
    if (typeof value !== 'number') throw new Error(`default_hooks.checkpoint.save_best: metric '${key}' is not among the validation results (${Object.keys(metrics).join(', ')})`);
    const rule = this.#ruleFor(key, index);
    const scoreKey = several ? `best_score_${key}` : 'best_score';
    const ckptKey = several ? `best_ckpt_${key}` : 'best_ckpt';
    const best = runner.messageHub.getInfo<number>(scoreKey);
    const better = best === undefined || (rule === 'greater' ? value > best : value < best);
    if (!better) return;
    const previous = runner.messageHub.getInfo<string>(ckptKey);
    if (previous) fs.rmSync(previous, { force: true });
    const byEpoch = runner.trainLoop?.maxEpochs !== undefined;
    const filename = `best_${key.replace(/\//g, '_')}_${byEpoch ? `epoch_${runner.epoch}` : `iter_${runner.iter}`}.pth`;
    runner.messageHub.updateInfo(scoreKey, value);
    const file = runner.saveCheckpoint(filename, { dir: this.#dir(runner), saveOptimizer: false, saveParamScheduler: false });
    runner.messageHub.updateInfo(ckptKey, file);
    runner.logger.info(`The best checkpoint with ${value.toFixed(4)} ${key} at ${byEpoch ? runner.epoch : runner.iter} ${byEpoch ? 'epoch' : 'iter'} is saved to ${filename}.`);
  }

  #bestKeys(): string[] {
    const { save_best } = this.cfg;
    if (save_best === null) return [];
    return typeof save_best === 'string' ? [save_best] : save_best;
  }

  #explicitRules(): ('greater' | 'less')[] | undefined {
    const { rule } = this.cfg;
    if (rule === null) return undefined;
    return typeof rule === 'string' ? [rule] : rule;
  }

  #ruleFor(key: string, index: number): 'greater' | 'less' {
    const rules = this.#explicitRules();
    if (rules) return rules[rules.length === 1 ? 0 : index]!;
    const name = key.split('/').pop()!;
    if ((this.cfg.greater_keys ?? GREATER_KEYS).some((k) => name.includes(k))) return 'greater';
    if ((this.cfg.less_keys ?? LESS_KEYS).some((k) => name.includes(k))) return 'less';
    throw new Error(`default_hooks.checkpoint.rule: cannot tell whether '${key}' should be greater or less; set rule: 'greater' or 'less'`);
  }
}
