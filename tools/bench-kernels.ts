/**
 * tsdet's wasm kernels against what they replace, in the same process (docs/performance.md):
 *  - Winograd F(2x2, 3x3) against XNNPACK's direct conv (fused bias + ReLU) on the 3x3 shapes of
 *    ResNet-50 and FPN/RPN at 800x1216 and 224x224;
 *  - RoIAlign's sparse products (1000 rois, 4 levels of 256 channels) as one weightedScatterAdd
 *    against scatterWithTfOps (gatherND + multiply + scatterND per level and their sum);
 *  - the RoI head's 12544 -> 1024 fc on 1000 rois: forwardNchwFlattened (NHWC order, split
 *    reduction) against transpose + flatten + one matMul.
 *
 *   npx tsx --conditions=source tools/bench-kernels.ts [--runs 5] [--threads 2] [--only winograd|roi|fc]
 */
import * as tf from '@tensorflow/tfjs-core';
import { Command } from 'commander';
import { exitAfter, initBackend, weightedScatterAdd, withWinogradMode, winogradConv2d, winogradFilter } from '@tsdet/core';
import { Linear, scatterWithTfOps } from '@tsdet/models';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Median ms of `runs` calls after two warm-ups; each call's result is read back and freed. */
function timeMs(fn: () => tf.Tensor, runs: number): number {
  for (let i = 0; i < 2; i++) tf.dispose(fn());
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const out = fn();
    out.dataSync();
    times.push(performance.now() - start);
    out.dispose();
  }
  return median(times);
}

function report(label: string, baselineMs: number, oursMs: number): void {
  const ratio = baselineMs / oursMs;
  console.log(`${label.padEnd(46)} baseline ${baselineMs.toFixed(1).padStart(8)} ms   tsdet ${oursMs.toFixed(1).padStart(8)} ms   ${ratio.toFixed(2)}x ${ratio >= 1 ? 'faster' : '(slower)'}`);
}

const CONV_SHAPES: [number, number, number, number][] = [
  [200, 304, 256, 256], // FPN / RPN on P2 at 800x1216
  [100, 152, 256, 256],
  [50, 76, 256, 256],
  [25, 38, 256, 256],
  [13, 19, 256, 256],
  [200, 304, 64, 64], // ResNet-50 layer1..4 at 800x1216
  [100, 152, 128, 128],
  [50, 76, 256, 256],
  [25, 38, 512, 512],
  [56, 56, 64, 64], // ResNet-50 at 224x224
  [28, 28, 128, 128],
  [14, 14, 256, 256],
  [7, 7, 512, 512],
];

function benchWinograd(runs: number): void {
  for (const [h, w, c, k] of CONV_SHAPES) {
    const x = tf.randomNormal([1, h, w, c], 0, 1, 'float32', 1) as tf.Tensor4D;
    const filter = tf.randomNormal([3, 3, c, k], 0, 0.05, 'float32', 2) as tf.Tensor4D;
    const bias = tf.randomNormal([k], 0, 1, 'float32', 3) as tf.Tensor1D;
    const planes = winogradFilter(filter);
    const direct = timeMs(() => withWinogradMode('never', () => tf.fused.conv2d({ x, filter, bias, strides: 1, pad: 'same', activation: 'relu' })), runs);
    const ours = timeMs(() => winogradConv2d({ x, transformedFilter: planes, bias, padTop: 1, padLeft: 1, outHeight: h, outWidth: w, activation: 'relu' }), runs);
    report(`conv 3x3 ${c}->${k} at ${h}x${w}`, direct, ours);
    tf.dispose([x, filter, bias, ...planes]);
  }
}

/** Sampling entries like RoIAlign's at 800x1216: 1000 rois x 49 cells, ~12 taps per cell, over 4 levels. */
function benchRoiScatter(runs: number): void {
  const channels = 256;
  const sizes: [number, number][] = [[200, 304], [100, 152], [50, 76], [25, 38]];
  const cells = 1000 * 49;
  const levels = sizes.map(([h, w], level) => {
    const count = level === 0 ? 480_000 : level === 1 ? 100_000 : 20_000;
    const rows = tf.randomNormal([h * w, channels], 0, 1, 'float32', 10 + level) as tf.Tensor2D;
    const from = Int32Array.from({ length: count }, (_, e) => (e * 7919) % (h * w));
    const to = Int32Array.from({ length: count }, (_, e) => Math.floor((e * cells) / count)); // ascending, as the plan
    const weights = Float32Array.from({ length: count }, (_, e) => ((e % 13) + 1) / 20);
    return { rows, from, to, weights };
  });
  const baseline = () => scatterWithTfOps(levels, cells);
  report('RoIAlign sparse products (1000 rois, 4 levels)', timeMs(baseline, runs), timeMs(() => weightedScatterAdd(levels, cells), runs));
  tf.dispose(levels.map((l) => l.rows));
}

function benchRoiFc(runs: number): void {
  const fc = new Linear({ inFeatures: 256 * 49, outFeatures: 1024 }).eval();
  fc.prepareNchwFlattened([7, 7, 256]);
  const x = tf.randomNormal([1000, 7, 7, 256], 0, 1, 'float32', 20) as tf.Tensor4D;
  const baseline = () => tf.tidy(() => fc.forward(tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [1000, -1]) as tf.Tensor2D));
  report('RoI head fc 12544->1024, 1000 rois', timeMs(baseline, runs), timeMs(() => fc.forwardNchwFlattened(x), runs));
  fc.dispose();
  x.dispose();
}

const program = new Command()
  .option('--runs <n>', 'timed runs per figure', (v) => Number.parseInt(v, 10), 5)
  .option('--threads <n>', 'wasm threads', (v) => Number.parseInt(v, 10), 2)
  .option('--only <what>', 'winograd | roi | fc')
  .parse();
const opts = program.opts<{ runs: number; threads: number; only?: string }>();

await initBackend({ backend: 'wasm', threads: opts.threads });
if (!opts.only || opts.only === 'winograd') benchWinograd(opts.runs);
if (!opts.only || opts.only === 'roi') benchRoiScatter(opts.runs);
if (!opts.only || opts.only === 'fc') benchRoiFc(opts.runs);
exitAfter(0);
