/**
 * Time of one Faster R-CNN training step without the parameter update, on the small config the
 * embedded default trains (small-faster-rcnn.ts: ResNet-18 at width 16, FPN 32, 4 classes):
 * forward (TwoStageDetector.loss) + parseLosses + tf.variableGrads over every trainable
 * parameter, on a batch of 2 x 3 x 160 x 160 with 3 gt boxes per image. Also the stages of the
 * forward (recorded on the gradient tape, as in training) and the tensor count after each step.
 *
 *   npx tsx --conditions=source packages/models/src/detectors/train-step.bench.ts [wasm|cpu] [threads] [steps]
 *
 * Prints medians; the load average too, since the machine may be shared.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { exitAfter, globalRandom, initBackend, MODELS, parseLosses, seededRandom, type BackendName } from '@tsdet/core';
import { registerModels } from '../register.js';
import { smallFasterRCNNConfig } from './small-faster-rcnn.js';
import type { LossStage, TrainingSample, TwoStageDetector } from './two-stage.js';

const [backend, threads, steps] = [(process.argv[2] ?? 'wasm') as BackendName, Number(process.argv[3] ?? 2), Number(process.argv[4] ?? 10)];
const SIZE = 160;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Three random boxes of 20..80 px per image, labels 0..3. */
function syntheticSamples(count: number, uniform: () => number): TrainingSample[] {
  return Array.from({ length: count }, () => {
    const bboxes = new Float32Array(12);
    for (let k = 0; k < 3; k++) {
      const [w, h] = [20 + 60 * uniform(), 20 + 60 * uniform()];
      const [x, y] = [uniform() * (SIZE - w), uniform() * (SIZE - h)];
      bboxes.set([x, y, x + w, y + h], 4 * k);
    }
    const shape = [SIZE, SIZE] as const;
    return { metainfo: { img_shape: shape, pad_shape: shape, batch_input_shape: shape, ori_shape: shape, scale_factor: [1, 1] }, gt_instances: { bboxes, labels: Int32Array.from([0, 1, 3]) } };
  });
}

interface StepTiming {
  total: number;
  stages: Record<LossStage, number>;
}

function step(model: TwoStageDetector, input: tf.Tensor4D, samples: TrainingSample[]): StepTiming {
  const stages = {} as Record<LossStage, number>;
  const start = performance.now();
  let last = start;
  const { value, grads } = tf.variableGrads(() => {
    const losses = model.loss(input, samples, {
      onStage: (stage) => {
        const now = performance.now();
        stages[stage] = now - last;
        last = now;
      },
    });
    return parseLosses(losses).total;
  }, model.trainableVariables());
  tf.dispose([value, ...Object.values(grads)]);
  return { total: performance.now() - start, stages };
}

await initBackend({ backend, threads });
registerModels();
globalRandom().seed(0);
const model = MODELS.build<TwoStageDetector>(smallFasterRCNNConfig(), { path: 'model' }).train();
const input = tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
const samples = syntheticSamples(2, seededRandom(2));
for (let i = 0; i < 2; i++) step(model, input, samples);
const timings: StepTiming[] = [];
const tensorCounts: number[] = [];
for (let i = 0; i < steps; i++) {
  timings.push(step(model, input, samples));
  tensorCounts.push(tf.memory().numTensors);
}
const stageNames: LossStage[] = ['features', 'rpn_loss', 'proposals', 'roi_loss'];
const forward = timings.map((t) => stageNames.reduce((s, n) => s + t.stages[n], 0));
console.log(`Faster R-CNN small (ResNet-18 w16, FPN 32, 4 classes), batch 2 x 160 x 160, ${backend} ${threads} thread(s), ${steps} steps`);
console.log(`  step (forward + variableGrads, no update): median ${median(timings.map((t) => t.total)).toFixed(0)} ms`);
console.log(`  forward on the tape: ${median(forward).toFixed(0)} ms = ${stageNames.map((n) => `${n} ${median(timings.map((t) => t.stages[n])).toFixed(1)}`).join(', ')}`);
console.log(`  backward (step - forward): ${median(timings.map((t, i) => t.total - forward[i]!)).toFixed(0)} ms`);
console.log(`  tensors after each step: ${[...new Set(tensorCounts)].join(', ')}; ${model.numParameters({ trainableOnly: true })} trainable parameters`);
console.log(`  load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} cores`);
tf.dispose(input);
model.dispose();
exitAfter(0);
