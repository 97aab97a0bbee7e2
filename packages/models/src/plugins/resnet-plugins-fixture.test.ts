/**
 * End-to-end parity of the plugins inside mmdet's ResNet-50: the `resnet50_plugins_eval` fixture
 * (ContextBlock in stages 2-4, GeneralizedAttention '1111' in stages 3-4, NonLocal2d in stage 4,
 * every zero-initialised part randomised; weights and outputs from mmdet, see
 * ../shared/fixtures/README.md). Built through MODELS from the fixture's own config.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, loadCheckpoint, loadStateDict, MODELS, toFloat32, type Module, type RawTensor } from '@tsdet/core';
import { registerModels } from '../register.js';
import { compareArrays } from '../parity/compare.js';
import { buildPlugin } from './plugin.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const FIXTURES = process.env['TSDET_FIXTURES'] ?? resolve(REPO_ROOT, '../shared/fixtures');
const CASE_DIR = join(FIXTURES, 'resnet50_plugins_eval');

interface CaseJson {
  component: { type: string } & Record<string, unknown>;
  tolerance: { atol: number; rtol: number; per_output_atol: number[] };
}

interface Backbone extends Module {
  forward(x: tf.Tensor4D): tf.Tensor4D[];
}


describe('plugins in ResNet-50: fixture resnet50_plugins_eval (mmdet parity)', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', verbose: false });
    registerModels();
  });

  it("names the plugin children as mmcv's build_plugin_layer does", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ type: 'ContextBlock', ratio: 1 / 4 }, 'context_block'],
      [{ type: 'GeneralizedAttention' }, 'gen_attention_block'],
      [{ type: 'NonLocal2d', postfix: 1 }, 'nonlocal_block1'],
      [{ type: 'DropBlock', drop_prob: 0.1, block_size: 3, postfix: '_test' }, 'drop_block_test'],
    ];
    for (const [cfg, name] of cases) {
      const [childName, plugin] = buildPlugin(cfg as { type: string }, 16, 'plugins.0');
      expect(childName).to.equal(name);
      plugin.dispose();
    }
  });

  it('reproduces the four stage outputs within the case tolerance', async () => {
    const json = JSON.parse(readFileSync(join(CASE_DIR, 'case.json'), 'utf8')) as CaseJson;
    const tensorsAtStart = tf.memory().numTensors;
    const model = MODELS.build<Backbone>(json.component, { path: 'backbone' }).eval();
    const report = loadStateDict(model, loadCheckpoint(join(CASE_DIR, 'weights.safetensors')).stateDict, { source: 'resnet50_plugins_eval/weights.safetensors' });
    expect(report.loaded.some((key) => key.includes('gen_attention_block'))).to.equal(true);
    const io = loadCheckpoint(join(CASE_DIR, 'io.safetensors')).stateDict;
    const input = io.get('input')!;

    // Leaks are checked after dispose: eval() folds each BN into its conv (model state).
    const outputs = await (async () => {
      const nchw = tf.tidy(() => {
        const x = tf.transpose(tf.tensor4d(toFloat32(input), input.shape as [number, number, number, number]), [0, 2, 3, 1]) as tf.Tensor4D;
        return model.forward(x).map((y) => tf.transpose(y, [0, 3, 1, 2]));
      });
      const values = nchw.map((t) => t.dataSync() as Float32Array);
      tf.dispose(nchw);
      return values;
    })();

    const { per_output_atol: atols, rtol } = json.tolerance;
    const results = outputs.map((got, i) => {
      const ref = toFloat32(io.get(`output.${i}`) as RawTensor);
      expect(got.length, `output.${i} size`).to.equal(ref.length);
      return compareArrays(`output.${i}`, got, ref, { atol: atols[i]!, rtol });
    });
    const summary = results.map((r, i) => `output.${i}: max |diff| ${r.maxAbs.toExponential(2)} (atol ${atols[i]})`).join('; ');
    expect(results.every((r) => r.ok), summary).to.equal(true);
    model.dispose();
    expect(tf.memory().numTensors, 'tensors left after dispose').to.equal(tensorsAtStart);
  });
});
