/**
 * What each stage of a backbone will do in training: which parameters are frozen, which norms
 * run in eval mode, which blocks recompute activations (with_cp), where plugins sit. mmdet's
 * three knobs (frozen_stages, norm_eval, norm_cfg.requires_grad) are easy to confuse; this
 * report shows their combined effect after `train()`.
 */
import { formatCount, parameterCounts, type Module } from '@tsdet/core';
import { BatchNorm2d } from '../../layers/norm.js';
import { ResBlock } from './blocks.js';

export interface StageReport {
  stage: string;
  parameters: number;
  trainable: number;
  frozenTensors: number;
  tensors: number;
  normsInEval: number;
  normsInTrain: number;
  checkpointedBlocks: number;
  blocks: number;
  plugins: string[];
}

/** Groups the model's top-level children into stages (stem parts are merged as 'stem'). */
export function freezeReport(model: Module): StageReport[] {
  const groups = new Map<string, Module[]>();
  for (const [name, child] of model.namedChildren()) {
    const stage = /^layer\d+$/.test(name) ? name : 'stem';
    groups.set(stage, [...(groups.get(stage) ?? []), child]);
  }
  return [...groups].map(([stage, modules]) => stageReport(stage, modules));
}

function stageReport(stage: string, modules: Module[]): StageReport {
  const report: StageReport = { stage, parameters: 0, trainable: 0, frozenTensors: 0, tensors: 0, normsInEval: 0, normsInTrain: 0, checkpointedBlocks: 0, blocks: 0, plugins: [] };
  for (const module of modules) {
    const counts = parameterCounts(module);
    report.parameters += counts.total;
    report.trainable += counts.trainable;
    const params = module.namedParameters();
    report.tensors += params.length;
    report.frozenTensors += params.filter(([, p]) => !p.requiresGrad).length;
    for (const [name, m] of module.namedModules()) {
      if (m instanceof BatchNorm2d) {
        if (m.training) report.normsInTrain++;
        else report.normsInEval++;
      }
      if (m instanceof ResBlock) {
        report.blocks++;
        if (m.usesCheckpoint()) report.checkpointedBlocks++;
        for (const [pluginName] of m.pluginChildren()) report.plugins.push(`${name}.${pluginName}`);
      }
    }
  }
  return report;
}

export function formatFreezeReport(reports: StageReport[]): string {
  const header = `${'stage'.padEnd(7)} ${'params'.padStart(8)} ${'trainable'.padStart(9)}  frozen tensors  BN eval/train  with_cp blocks  plugins`;
  const rows = reports.map((r) => {
    const frozen = r.frozenTensors === r.tensors && r.tensors > 0 ? 'all' : `${r.frozenTensors}/${r.tensors}`;
    const plugins = summarisePlugins(r.plugins);
    return `${r.stage.padEnd(7)} ${formatCount(r.parameters).padStart(8)} ${formatCount(r.trainable).padStart(9)}  ${frozen.padStart(14)}  ${`${r.normsInEval}/${r.normsInTrain}`.padStart(13)}  ${`${r.checkpointedBlocks}/${r.blocks}`.padStart(14)}  ${plugins}`;
  });
  const total = reports.reduce((a, r) => ({ p: a.p + r.parameters, t: a.t + r.trainable }), { p: 0, t: 0 });
  return [header, ...rows, `total: ${formatCount(total.p)} parameters, ${formatCount(total.t)} trainable, ${formatCount(total.p - total.t)} frozen`].join('\n');
}

/** "context_block after every block" style summary: plugin child names with their block count. */
function summarisePlugins(paths: string[]): string {
  if (!paths.length) return '-';
  const counts = new Map<string, number>();
  for (const p of paths) {
    const name = p.split('.').pop()!;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts].map(([name, n]) => `${name} x${n}`).join(', ');
}
