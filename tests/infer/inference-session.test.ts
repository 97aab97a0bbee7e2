/**
 * The inference session in-process, through the functions tools/infer.ts calls: an mmdetection
 * .pth loads with every tensor unchanged, and twenty images of different sizes in a row leave
 * exactly as many tensors as before (no warm-up image).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, loadCheckpoint, prepareConfig, stateDictOf, toFloat32, type RawTensor } from '@tsdet/core';
import { createInferenceSession, inferImage, type InferenceSession } from '@tsdet/data';
import { MMDET_PTH, registerAll, tempDir, TINY_CONFIG, writeImage, writeRandomCheckpoint } from './support.js';

function values(tensor: RawTensor): number[] {
  return tensor.dtype === 'int64' ? Array.from(tensor.data as BigInt64Array, Number) : Array.from(toFloat32(tensor));
}

describe('inference session', function () {
  this.timeout(300_000);
  let dir: string;

  before(async () => {
    await initBackend({ backend: 'wasm', threads: 1, verbose: false });
    registerAll();
    dir = tempDir('infer-session');
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('with an mmdetection checkpoint', () => {
    let session: InferenceSession;

    before(async () => {
      // The base config's backbone starts from torchvision's ImageNet weights; the tiny config
      // turns that off, so turn it back on, with an empty checkpoint folder to resolve it in.
      const config = path.join(dir, 'tiny_pretrained.json');
      fs.writeFileSync(config, JSON.stringify({ _base_: TINY_CONFIG, model: { backbone: { init_cfg: { _delete_: true, type: 'Pretrained', checkpoint: 'torchvision://resnet50' } } } }));
      const saved = process.env['TSDET_CHECKPOINT_DIR'];
      process.env['TSDET_CHECKPOINT_DIR'] = tempDir('empty-checkpoints');
      try {
        session = createInferenceSession(await prepareConfig(config), MMDET_PTH);
      } finally {
        fs.rmSync(process.env['TSDET_CHECKPOINT_DIR'], { recursive: true });
        if (saved === undefined) delete process.env['TSDET_CHECKPOINT_DIR'];
        else process.env['TSDET_CHECKPOINT_DIR'] = saved;
      }
    });

    after(() => session?.dispose());

    it('holds every tensor of its state_dict unchanged, under the same keys', () => {
      const saved = loadCheckpoint(MMDET_PTH).stateDict;
      const loaded = stateDictOf(session.detector);
      expect([...loaded.keys()].sort()).to.deep.equal([...saved.keys()].sort());
      for (const [key, tensor] of saved) {
        expect(loaded.get(key)!.shape, key).to.deep.equal(tensor.shape);
        expect(values(loaded.get(key)!), key).to.deep.equal(values(tensor));
      }
    });

    it('names the classes and colours from meta.dataset_meta, ahead of the config\'s metainfo', () => {
      expect(session.classNames.names).to.deep.equal(['person', 'car', 'dog']);
      expect(session.classNames.palette).to.deep.equal([[220, 20, 60], [119, 11, 32], [0, 0, 142]]);
      expect(session.classNames.source).to.equal("the checkpoint's meta.dataset_meta.classes");
    });

    it('is built without the ImageNet file (as mmdet\'s init_detector, the pretrained init is off) and in eval mode', () => {
      expect(session.detector.training).to.equal(false);
      expect(session.checkpointFile).to.equal(MMDET_PTH);
    });
  });

  describe('twenty images of different sizes', () => {
    // (width, height, file type, grayscale): aspect ratios from 4:1 to 1:4, so that the resized
    // inputs, the feature maps and the proposal counts all differ from one image to the next.
    const IMAGES: [number, number, string, boolean][] = [
      [160, 120, 'jpg', false], [120, 160, 'png', true], [64, 64, 'webp', false], [200, 50, 'jpg', false], [50, 200, 'png', false],
      [333, 250, 'jpg', true], [97, 41, 'png', false], [41, 97, 'webp', false], [256, 256, 'jpg', false], [300, 100, 'png', true],
      [100, 300, 'jpg', false], [175, 131, 'webp', false], [131, 175, 'jpg', false], [80, 60, 'png', false], [60, 80, 'jpg', true],
      [222, 111, 'png', false], [111, 222, 'webp', false], [37, 29, 'jpg', false], [29, 37, 'png', false], [150, 149, 'jpg', false],
    ];
    let session: InferenceSession;
    const files: string[] = [];

    before(async () => {
      const checkpoint = path.join(dir, 'tiny.safetensors');
      await writeRandomCheckpoint(checkpoint);
      session = createInferenceSession(await prepareConfig(TINY_CONFIG), checkpoint);
      for (const [i, [width, height, type, grayscale]] of IMAGES.entries()) {
        const file = path.join(dir, `image_${String(i).padStart(2, '0')}.${type}`);
        await writeImage(file, width, height, { grayscale });
        files.push(file);
      }
    });

    after(() => session?.dispose());

    it('leave tf.memory().numTensors exactly as before, from the first image on', async () => {
      const outDir = path.join(dir, 'out');
      const before = tf.memory().numTensors;
      const sizes: [number, number][] = [];
      for (const [i, file] of files.entries()) {
        const { record } = await inferImage(session, file, { outDir, stem: `image_${i}`, scoreThreshold: 0.3 }, i);
        sizes.push([record.image.width, record.image.height]);
        expect(tf.memory().numTensors, `after image ${i} (${file})`).to.equal(before);
      }
      expect(sizes).to.deep.equal(IMAGES.map(([w, h]) => [w, h]));
      expect(fs.readdirSync(outDir)).to.have.length(2 * IMAGES.length);
    });
  });
});
