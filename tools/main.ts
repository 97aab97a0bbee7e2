/**
 * `npm start`: the main job on an embedded default, with no download.
 *
 * Until detector training lands, this builds the Faster R-CNN ResNet-50 backbone from
 * configs/resnet/resnet50_frozen1.json, prints its freeze report and parameter counts, then times
 * one forward pass at detection size (1x800x1216) and one SGD training step (2x224x224) on the
 * selected backend.
 */
import { Command } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import { exitAfter, formatCount, initBackend, MODELS, prepareConfig, type BackendName } from '@tsdet/core';
import { registerData } from '@tsdet/data';
import { formatFreezeReport, freezeReport, registerModels, type ResNet } from '@tsdet/models';

const program = new Command()
  .name('tsdet')
  .option('--config <file>', 'backbone config', 'configs/resnet/resnet50_frozen1.json')
  .option('--backend <name>', 'auto | tensorflow | wasm | cpu (default: the config, then TSDET_BACKEND, then auto)')
  .option('--cfg-options <key=value...>', 'override settings')
  .parse();
const options = program.opts<{ config: string; backend?: BackendName; cfgOptions?: string[] }>();

function timed<T>(fn: () => T): [T, number] {
  const start = performance.now();
  const result = fn();
  return [result, performance.now() - start];
}

/** One forward at detection size; returns the output shapes. */
function forwardOnce(model: ResNet): number[][] {
  return tf.tidy(() => {
    const outs = model.forward(tf.randomNormal([1, 800, 1216, 3]) as tf.Tensor4D);
    outs.forEach((o) => o.dataSync());
    return outs.map((o) => o.shape);
  });
}

/** One SGD step (lr 0.01) on sum(mean(output_i)): forward, backward, update. */
function trainStepOnce(model: ResNet): number {
  const variables = model.trainableVariables();
  return tf.tidy(() => {
    const x = tf.randomNormal([2, 224, 224, 3]) as tf.Tensor4D;
    const { value, grads } = tf.variableGrads(() => tf.addN(model.forward(x).map((o) => tf.mean(o))) as tf.Scalar, variables);
    for (const v of variables) v.assign(tf.sub(v, tf.mul(grads[v.name]!, 0.01)));
    return value.dataSync()[0]!;
  });
}

async function main(): Promise<void> {
  registerModels();
  registerData();
  const { resolved } = await prepareConfig(options.config, { cfgOptions: options.cfgOptions });
  const backend = await initBackend({ backend: options.backend ?? (resolved['backend'] as BackendName | undefined) });
  const model = MODELS.build<ResNet>(resolved['model'], { path: 'model' }).train();
  console.log(`\n${options.config}: ${model.typeName}-${model.cfg.depth}, ${formatCount(model.numParameters())} parameters`);
  console.log(formatFreezeReport(freezeReport(model)));
  const tensorsBefore = tf.memory().numTensors;
  const [shapes, forwardMs] = timed(() => forwardOnce(model));
  console.log(`\nforward 1x800x1216 (train mode): ${forwardMs.toFixed(0)} ms -> ${shapes.map((s) => `[${s.join('x')}]`).join(' ')}`);
  const [loss, stepMs] = timed(() => trainStepOnce(model));
  console.log(`train step 2x224x224 (forward + backward + SGD): ${stepMs.toFixed(0)} ms, loss ${loss.toFixed(4)}`);
  console.log(`tensors leaked: ${tf.memory().numTensors - tensorsBefore} (backend ${backend.name}, ${backend.threads} thread(s))`);
  model.dispose();
}

main()
  .then(() => exitAfter(0))
  .catch((error: unknown) => {
    console.error(`tsdet: ${error instanceof Error ? error.message : String(error)}`);
    exitAfter(1);
  });
