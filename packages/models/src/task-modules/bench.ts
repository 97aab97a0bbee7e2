/**
 * Timings of the task modules on the Faster R-CNN sizes:
 *   RoIAlign  512 rois -> 7 x 7 from a [1, 200, 304, 256] map (P2 of an 800 x 1216 image), rois of
 *             scale 16..112 px (the P2 range), forward and forward + backward
 *   NMS       4000 clustered boxes at IoU 0.7: ours (mmcv semantics) and tf.image.nonMaxSuppression
 *
 *   npx tsx --conditions=source packages/models/src/task-modules/bench.ts [wasm|cpu] [threads]
 *
 * Prints medians; the load average is printed too, since the machine may be shared.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, seededRandom, shutdownBackend, type BackendName } from '@tsdet/core';
import { nmsIndices } from './nms/nms-core.js';
import { roiAlign } from './roi-align/roi-align.js';
import { buildSamplingPlan } from './roi-align/sampling-plan.js';

const REPEATS = 7;


function median(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function timeMs(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

/** Rois of scale 16..112 px and aspect 0.5..2 anywhere in an 800 x 1216 image. */
function p2Rois(count: number, uniform: () => number): Float32Array {
  const rois = new Float32Array(count * 5);
  for (let k = 0; k < count; k++) {
    const [scale, ratio] = [16 + 96 * uniform(), 0.5 + 1.5 * uniform()];
    const [w, h] = [scale / Math.sqrt(ratio), scale * Math.sqrt(ratio)];
    const [cx, cy] = [uniform() * 1216, uniform() * 800];
    rois.set([0, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 5 * k);
  }
  return rois;
}

function benchRoiAlign(): void {
  const roiData = p2Rois(512, seededRandom(1));
  const rois = tf.tensor2d(roiData, [512, 5]);
  const features = tf.randomNormal([1, 200, 304, 256], 0, 1, 'float32', 2) as tf.Tensor4D;
  const projection = tf.randomNormal([512, 7, 7, 256], 0, 1, 'float32', 3);
  const options = { outputSize: 7, spatialScale: 0.25, samplingRatio: 0, aligned: true } as const;
  const loss = (f: tf.Tensor) => tf.sum(tf.mul(roiAlign(f as tf.Tensor4D, rois, options), projection));
  const plan = buildSamplingPlan(roiData, new Int32Array(512), [{ batch: 1, height: 200, width: 304, spatialScale: 0.25 }], options);
  const [planMs, forwardMs, trainMs]: number[][] = [[], [], []];
  for (let i = 0; i < REPEATS; i++) {
    planMs.push(timeMs(() => buildSamplingPlan(roiData, new Int32Array(512), [{ batch: 1, height: 200, width: 304, spatialScale: 0.25 }], options)));
    forwardMs.push(timeMs(() => roiAlign(features, rois, options).dispose()));
    // wasm and cpu run ops synchronously: the time is the compute, without reading the gradient back.
    trainMs.push(timeMs(() => tf.grad(loss)(features).dispose()));
  }
  console.log(`RoIAlign 512 rois 7x7 from [1, 200, 304, 256] (${plan.levels[0]!.cells.length} sampling entries): plan ${median(planMs).toFixed(1)} ms, forward ${median(forwardMs).toFixed(0)} ms, forward + backward ${median(trainMs).toFixed(0)} ms`);
  tf.dispose([rois, features, projection]);
}

function clusteredBoxes(count: number, uniform: () => number): Float32Array {
  const boxes = new Float32Array(count * 4);
  for (let i = 0; i < count; i++) {
    const cluster = Math.floor(i / 20);
    const [cx, cy] = [((cluster * 97) % 1100) + 50 + uniform() * 20, ((cluster * 61) % 700) + 50 + uniform() * 20];
    const [w, h] = [30 + uniform() * 80, 30 + uniform() * 80];
    boxes.set([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 4 * i);
  }
  return boxes;
}

function benchNms(): void {
  const uniform = seededRandom(4);
  const boxes = clusteredBoxes(4000, uniform);
  const scores = Float32Array.from({ length: 4000 }, () => uniform());
  const [boxTensor, scoreTensor] = [tf.tensor2d(boxes, [4000, 4]), tf.tensor1d(scores)];
  const [oursMs, tfjsMs]: number[][] = [[], []];
  let kept = 0;
  for (let i = 0; i < REPEATS; i++) {
    oursMs.push(timeMs(() => (kept = nmsIndices(boxes, scores, 0.7).length)));
    tfjsMs.push(timeMs(() => tf.image.nonMaxSuppression(boxTensor, scoreTensor, 4000, 0.7).dispose()));
  }
  console.log(`NMS 4000 boxes at IoU 0.7 (${kept} kept): ours ${median(oursMs).toFixed(1)} ms, tf.image.nonMaxSuppression ${median(tfjsMs).toFixed(1)} ms`);
  tf.dispose([boxTensor, scoreTensor]);
}

const backend = (process.argv[2] ?? 'wasm') as BackendName;
await initBackend({ backend, threads: Number(process.argv[3] ?? 1) });
benchRoiAlign();
benchNms();
console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} cores`);
shutdownBackend();

