import type { Module } from './module.js';

export interface ParameterCounts {
  total: number;
  trainable: number;
  frozen: number;
}

export function parameterCounts(module: Module): ParameterCounts {
  const total = module.numParameters();
  const trainable = module.numParameters({ trainableOnly: true });
  return { total, trainable, frozen: total - trainable };
}

/**
 * A printable tree: one line per module down to `maxDepth`, with its own and its subtree's
 * parameter counts and its mode, e.g. `layer1.0  Bottleneck  params 75.0k (trainable 75.0k)  train`.
 */
export function moduleSummary(module: Module, options: { maxDepth?: number } = {}): string {
  const maxDepth = options.maxDepth ?? 2;
  const rows: string[] = [];
  for (const [name, m] of module.namedModules()) {
    const depth = name ? name.split('.').length : 0;
    if (depth > maxDepth) continue;
    const counts = parameterCounts(m);
    const label = `${'  '.repeat(depth)}${name || '(root)'}`;
    rows.push(`${label.padEnd(32)} ${m.typeName.padEnd(22)} params ${formatCount(counts.total).padStart(7)} (trainable ${formatCount(counts.trainable)})  ${m.training ? 'train' : 'eval'}`);
  }
  const c = parameterCounts(module);
  rows.push(`total ${formatCount(c.total)} parameters: ${formatCount(c.trainable)} trainable, ${formatCount(c.frozen)} frozen`);
  return rows.join('\n');
}

export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}
