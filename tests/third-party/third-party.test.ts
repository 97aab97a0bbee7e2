import { expect } from 'chai';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigValidationError, initBackend, MODELS, prepareConfig, withoutLeaks } from '@tsdet/core';
import { registerModels, type ResNet } from '@tsdet/models';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('a third-party plugin registered from outside packages/ (docs/plugins.md)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', threads: 1, verbose: false });
    registerModels();
  });

  it('is imported by custom_imports, validated, placed by the config and runs', async () => {
    const { resolved } = await prepareConfig(path.join(here, 'resnet50_se.json'));
    expect(MODELS.has('SqueezeExcitation')).to.equal(true);
    const model = MODELS.build<ResNet>(resolved['model'], { path: 'model' }).eval();
    const block = model.resLayers[1]!.blocks[0]!;
    expect(block.pluginChildren().map(([name]) => name)).to.deep.equal(['se_block']);
    expect(model.resLayers[0]!.blocks[0]!.pluginChildren()).to.deep.equal([]);
    expect(model.namedParameters().map(([k]) => k)).to.include('layer2.0.se_block.reduce.weight');
    const shapes = await withoutLeaks(() => tf.tidy(() => model.forward(tf.randomNormal([1, 32, 32, 3])).map((o) => o.shape)));
    expect(shapes).to.deep.equal([[1, 8, 8, 16], [1, 4, 4, 32], [1, 2, 2, 64], [1, 1, 1, 128]]);
    model.dispose();
  });

  it('reports the plugin config mistakes with their paths and the file that set them', async () => {
    try {
      await prepareConfig(path.join(here, 'bad_plugin_config.json'));
      expect.fail('should throw');
    } catch (error) {
      expect(error).to.be.instanceOf(ConfigValidationError);
      const message = (error as Error).message;
      expect(message).to.contain("model.plugins.0.cfg.ratoi: unknown key for SqueezeExcitation (did you mean 'ratio'?) (set in tests/third-party/bad_plugin_config.json)");
      expect(message).to.contain('model.plugins.0.cfg.in_channels: is set by the enclosing component; remove it from the config');
      expect(message).to.contain('model.plugins.0.position: must be one of ["after_conv1","after_conv2","after_conv3"], got "after_conv4"');
    }
  });
});
