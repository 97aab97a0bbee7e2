/**
 * OnnxDetector against tsdet's own TwoStageDetector (itself checked against mmdetection by the
 * fixtures) on the tiny Faster R-CNN config with random weights and score_thr 0, so that every
 * stage produces boxes: testStep on a batch of two images of different sizes (mmdet pads them to
 * one batch shape, which changes the features near the border), exports with a fixed and a
 * dynamic input size, and predict on a preprocessed batch. Plus the errors a user can meet.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Module, prepareConfig, type PreparedConfig } from '@tsdet/core';
import { buildInferenceDetector, registerData, type DetDataBatch, type DetDataSample, type RawImage } from '@tsdet/data';
import { matchInstanceSets, registerModels, TwoStageDetector, type ImageMeta, type InstanceResults } from '@tsdet/models';
import { registerEngine } from '@tsdet/engine';
import path from 'node:path';
import { createOrtSession, exportDetector, exportModule, ort, registerOnnxExporter } from '../index.js';
import { REPO_ROOT } from '../testing/repo-root.js';
import { OnnxDetector } from './onnx-detector.js';

const TINY_CONFIG = path.join(REPO_ROOT, 'tests', 'infer', 'faster-rcnn_r50_fpn_tiny.json');

/** A BGR image whose pixels vary in x, y and channel, so features are not flat. */
function image(height: number, width: number, seed: number): RawImage {
  const data = new Uint8Array(height * width * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seed * 31 + Math.floor(i / (width * 3)) * 5) % 251;
  return { data, height, width, channels: 3, channelOrder: 'bgr' };
}

function sample(img: RawImage, scale: number): DetDataSample {
  const metainfo = { img_shape: [img.height, img.width], ori_shape: [Math.round(img.height / scale), Math.round(img.width / scale)], scale_factor: [scale, scale] };
  return { metainfo } as unknown as DetDataSample;
}

function expectSameSets(ours: readonly InstanceResults[], reference: readonly InstanceResults[]): void {
  expect(ours.length).to.equal(reference.length);
  reference.forEach((ref, i) => {
    expect(ref.scores.length, `image ${i}: the reference found nothing, the test would prove nothing`).to.be.greaterThan(10);
    expect(ours[i]!.scores.length, `image ${i}: detection count`).to.equal(ref.scores.length);
    const match = matchInstanceSets(ours[i]!, ref);
    expect(match.unmatched, `image ${i}: unmatched detections (max box dev ${match.maxBoxDev})`).to.equal(0);
  });
}

describe('OnnxDetector (onnxruntime-node) against TwoStageDetector (tfjs)', function () {
  this.timeout(120_000);
  let prepared: PreparedConfig;
  let detector: TwoStageDetector;
  const images = [image(90, 130, 1), image(70, 100, 2)];
  const batch: DetDataBatch = { inputs: images, data_samples: [sample(images[0]!, 1.25), sample(images[1]!, 0.5)] };

  before(async () => {
    await initBackend({ backend: 'cpu', verbose: false });
    registerModels();
    registerData();
    registerEngine();
    prepared = await prepareConfig(TINY_CONFIG, { cfgOptions: ['model.test_cfg.rcnn.score_thr=0.0'] });
    detector = buildInferenceDetector(prepared.resolved, TINY_CONFIG) as unknown as TwoStageDetector;
    detector.eval();
  });

  after(() => detector.dispose());

  it('testStep gives the tfjs detections (dynamic export, batch of two sizes)', async () => {
    const reference = detector.testStep(batch);
    const tensorsBefore = tf.memory().numTensors;
    const exported = exportDetector(detector, { dynamic: true });
    const onnx = await OnnxDetector.fromBytes(exported.bytes, exported.info, { threads: 1 });
    try {
      expectSameSets(await onnx.testStep(batch), reference);
    } finally {
      await onnx.dispose();
    }
    expect(tf.memory().numTensors, 'tensors left by exporting and running').to.equal(tensorsBefore);
  });

  it('testStep gives the same with a fixed-size export (the batch fed at that size)', async () => {
    // A larger fixed size pads more: compare with tfjs on a batch padded to the same size.
    const exported = exportDetector(detector, { inputSize: [96, 160] });
    const onnx = await OnnxDetector.fromBytes(exported.bytes, exported.info, { threads: 1 });
    try {
      const padded: DetDataBatch = { inputs: [...batch.inputs, image(96, 160, 3)], data_samples: [...batch.data_samples!, sample(image(96, 160, 3), 1)] };
      expectSameSets((await onnx.testStep(padded)).slice(0, 2), detector.testStep(padded).slice(0, 2));
    } finally {
      await onnx.dispose();
    }
  });

  it('predict takes a preprocessed NHWC batch when the export leaves preprocessing out', async () => {
    const exported = exportDetector(detector, { dynamic: true, preprocess: null });
    const onnx = await OnnxDetector.fromBytes(exported.bytes, exported.info, { threads: 1 });
    const input = tf.randomNormal([1, 64, 96, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const metas: ImageMeta[] = [{ img_shape: [60, 90], scale_factor: [2, 2] }];
    try {
      expectSameSets(await onnx.predict(input, metas), detector.predict(input, metas));
      await onnx.testStep(batch).then(
        () => expect.fail('testStep on a model without preprocessing must fail'),
        (error: Error) => expect(error.message).to.match(/exported without preprocessing/),
      );
    } finally {
      input.dispose();
      await onnx.dispose();
    }
  });

  it('refuses an image larger than a fixed-size export, naming both sizes', async () => {
    const exported = exportDetector(detector, { inputSize: [64, 64] });
    const onnx = await OnnxDetector.fromBytes(exported.bytes, exported.info, { threads: 1 });
    try {
      await onnx.testStep(batch).then(
        () => expect.fail('expected an error'),
        (error: Error) => expect(error.message).to.match(/a 90x130 input does not fit the exported size 64x64/),
      );
    } finally {
      await onnx.dispose();
    }
  });

  it('refuses a fixed size that is not a multiple of pad_size_divisor', () => {
    expect(() => exportDetector(detector, { inputSize: [100, 128] })).to.throw(/100x128 must be a multiple of pad_size_divisor 32/);
  });
});

describe('ONNX exporter registry', () => {
  class Doubler extends Module {
    forward(x: tf.Tensor4D): tf.Tensor4D {
      return tf.mul(x, 2);
    }
  }

  it('uses an exporter registered for a third-party module class', async () => {
    class Tripler extends Doubler {}
    registerOnnxExporter(Tripler, (ctx, _module, [x]) => [ctx.graph.op1('Mul', [x!, ctx.graph.f32(3)])]);
    const exported = exportModule(new Tripler(), { inputShapes: [[1, 1, 1, 2]] });
    const session = await createOrtSession(exported.bytes, { threads: 1 });
    try {
      const out = await session.run({ input: new ort.Tensor('float32', Float32Array.of(1.5, -2), [1, 1, 1, 2]) });
      expect(Array.from(out['output.0']!.data as Float32Array)).to.deep.equal([4.5, -6]);
    } finally {
      await session.release();
    }
  });

  it('names the module path and class when a module has no exporter', () => {
    expect(() => exportModule(new Doubler(), { inputShapes: [[1, 3, 4, 4]], path: 'backbone.layer1.0.doubler' })).to.throw(/no exporter for Doubler .*at 'backbone\.layer1\.0\.doubler'.*registerOnnxExporter\(Doubler/);
  });
});
