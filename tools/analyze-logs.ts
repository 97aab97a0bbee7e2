/**
 * tools/analyze-logs.ts plot_curve LOG.json... --keys loss_cls loss_bbox lr bbox_mAP [--out curves.png] [--title T] [--legend L...]
 * tools/analyze-logs.ts cal_train_time LOG.json... [--include-outliers]
 *
 * mmdetection's tools/analysis_tools/analyze_logs.py over tsdet's vis_data/scalars.json (or
 * <timestamp>.json) files: JSON lines, training records with `lr`, `loss...`, `time`, `epoch`,
 * `iter`, `step`, validation records with `<prefix>/<metric>` keys and step = epoch.
 * plot_curve draws each key of each log against its step (iterations for training scalars,
 * epochs for metrics) as an SVG rendered to PNG by sharp; cal_train_time prints the time per
 * iteration by epoch. See docs/engine.md.
 */
import { Command } from 'commander';
import fs from 'node:fs';
import sharp from 'sharp';
import { exitAfter } from '@tsdet/core';

type LogRecord = Record<string, number | string>;

export function readLog(file: string): LogRecord[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`${file}: cannot read the log (${(error as Error).message})`, { cause: error });
  }
  return text
    .split('\n')
    .map((line, i) => [line.trim(), i + 1] as const)
    .filter(([line]) => line)
    .map(([line, n]) => {
      try {
        return JSON.parse(line) as LogRecord;
      } catch (error) {
        throw new Error(`${file}:${n}: not a JSON line (expected vis_data/scalars.json records)`, { cause: error });
      }
    });
}

interface Series {
  label: string;
  points: [number, number][];
}

/** The (step, value) points of `key`: a training scalar of that name, or a metric `<prefix>/<key>`. */
export function seriesOf(records: readonly LogRecord[], key: string): [number, number][] {
  const points: [number, number][] = [];
  for (const record of records) {
    const name = Object.keys(record).find((k) => k === key || k.endsWith(`/${key}`));
    const value = name === undefined ? undefined : record[name];
    if (typeof value === 'number' && typeof record['step'] === 'number') points.push([record['step'], value]);
  }
  return points;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

function niceTicks(min: number, max: number, count = 5): number[] {
  if (min === max) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** A line chart of every series on shared axes, with a legend. */
export function renderSvg(series: readonly Series[], title: string, width = 960, height = 540): string {
  const all = series.flatMap((s) => s.points);
  if (!all.length) throw new Error('none of the keys has any value in the logs');
  const [xs, ys] = [all.map((p) => p[0]), all.map((p) => p[1])];
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const margin = { left: 80, right: 200, top: 50, bottom: 50 };
  const sx = (x: number): number => margin.left + ((x - x0) / (x1 - x0 || 1)) * (width - margin.left - margin.right);
  const sy = (y: number): number => height - margin.bottom - ((y - y0) / (y1 - y0 || 1)) * (height - margin.top - margin.bottom);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">`, `<rect width="100%" height="100%" fill="white"/>`];
  parts.push(`<text x="${width / 2}" y="28" text-anchor="middle" font-size="16">${escapeXml(title)}</text>`);
  for (const t of niceTicks(y0, y1)) parts.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${sy(t)}" y2="${sy(t)}" stroke="#ddd"/><text x="${margin.left - 8}" y="${sy(t) + 4}" text-anchor="end">${t}</text>`);
  for (const t of niceTicks(x0, x1)) parts.push(`<text x="${sx(t)}" y="${height - margin.bottom + 18}" text-anchor="middle">${t}</text>`);
  parts.push(`<rect x="${margin.left}" y="${margin.top}" width="${width - margin.left - margin.right}" height="${height - margin.top - margin.bottom}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${(margin.left + width - margin.right) / 2}" y="${height - 12}" text-anchor="middle">step</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const path = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    if (s.points.length === 1) parts.push(`<circle cx="${sx(s.points[0]![0])}" cy="${sy(s.points[0]![1])}" r="3" fill="${color}"/>`);
    const ly = margin.top + 10 + i * 20;
    parts.push(`<line x1="${width - margin.right + 12}" x2="${width - margin.right + 36}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/><text x="${width - margin.right + 42}" y="${ly + 4}">${escapeXml(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

async function plotCurve(logs: string[], keys: string[], out: string, title: string | undefined, legend: string[] | undefined): Promise<void> {
  const series: Series[] = [];
  logs.forEach((file, i) => {
    const records = readLog(file);
    for (const key of keys) {
      const points = seriesOf(records, key);
      if (!points.length) console.error(`analyze-logs: ${file} has no '${key}' values`);
      series.push({ label: legend?.[series.length] ?? (logs.length > 1 ? `log${i}_${key}` : key), points });
    }
  });
  if (legend && legend.length !== series.length) throw new Error(`--legend has ${legend.length} labels for ${series.length} curves (logs x keys)`);
  const svg = renderSvg(series.filter((s) => s.points.length), title ?? keys.join(', '));
  await sharp(Buffer.from(svg)).png().toFile(out);
  console.log(`analyze-logs: wrote ${out}`);
}

/** Seconds per iteration by epoch, from the training records' `time` (mmdet's cal_train_time). */
export function trainTimeByEpoch(records: readonly LogRecord[], includeOutliers: boolean): Map<number, number[]> {
  const byEpoch = new Map<number, number[]>();
  for (const record of records) {
    if (typeof record['time'] !== 'number' || typeof record['lr'] !== 'number') continue;
    const epoch = typeof record['epoch'] === 'number' ? record['epoch'] : 1;
    if (!byEpoch.has(epoch)) byEpoch.set(epoch, []);
    byEpoch.get(epoch)!.push(record['time']);
  }
  // mmdet drops each epoch's first record: it includes dataloader start-up.
  if (!includeOutliers) for (const [epoch, times] of byEpoch) byEpoch.set(epoch, times.slice(1));
  return byEpoch;
}

function calTrainTime(logs: string[], includeOutliers: boolean): void {
  for (const file of logs) {
    const byEpoch = trainTimeByEpoch(readLog(file), includeOutliers);
    const means = [...byEpoch].filter(([, t]) => t.length).map(([epoch, t]) => [epoch, t.reduce((a, b) => a + b, 0) / t.length] as const);
    if (!means.length) throw new Error(`${file}: no training records with 'time' (log with the IterTimerHook and LoggerHook)`);
    const values = means.map(([, m]) => m);
    const average = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - average) ** 2, 0) / values.length);
    const slowest = means.reduce((a, b) => (b[1] > a[1] ? b : a));
    const fastest = means.reduce((a, b) => (b[1] < a[1] ? b : a));
    console.log(`-----Analyze train time of ${file}-----`);
    console.log(`slowest epoch ${slowest[0]}, average time is ${slowest[1].toFixed(4)} s/iter`);
    console.log(`fastest epoch ${fastest[0]}, average time is ${fastest[1].toFixed(4)} s/iter`);
    console.log(`time std over epochs is ${std.toFixed(4)}`);
    console.log(`average iter time: ${average.toFixed(4)} s/iter\n`);
  }
}

function run(): Promise<void> {
  let action: Promise<void> = Promise.resolve();
  const program = new Command().name('analyze-logs').description('Plot curves and time training from tsdet JSON logs (vis_data/scalars.json).').exitOverride((error) => exitAfter(error.exitCode));
  program
    .command('plot_curve')
    .argument('<logs...>', 'JSON logs (vis_data/scalars.json)')
    .requiredOption('--keys <keys...>', 'scalars to plot, e.g. loss_cls loss_bbox lr bbox_mAP')
    .option('--out <file>', 'PNG to write', 'curves.png')
    .option('--title <title>', 'chart title')
    .option('--legend <labels...>', 'one label per curve (logs x keys)')
    .action((logs: string[], opts: { keys: string[]; out: string; title?: string; legend?: string[] }) => {
      action = plotCurve(logs, opts.keys, opts.out, opts.title, opts.legend);
    });
  program
    .command('cal_train_time')
    .argument('<logs...>', 'JSON logs (vis_data/scalars.json)')
    .option('--include-outliers', "keep each epoch's first iteration")
    .action((logs: string[], opts: { includeOutliers?: boolean }) => {
      action = Promise.resolve().then(() => calTrainTime(logs, opts.includeOutliers ?? false));
    });
  program.parse();
  return action;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run()
    .then(() => exitAfter(0))
    .catch((error: unknown) => {
      console.error(`analyze-logs: ${error instanceof Error ? error.message : String(error)}`);
      exitAfter(1);
    });
}
