/**
 * mmdetection's tests/test_models/test_backbones/test_resnet.py, ported case by case
 * (mmdet-reference §6.1), plus tsdet's own checks. Construction errors that mmdet raises as
 * AssertionError/KeyError/TypeError are ConfigValidationErrors or Errors naming the config path.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigValidationError, initBackend, MODELS, Module, stateDictOf, withoutLeaks, writeSafetensors, type ComponentConfig } from '@tsdet/core';
import { BatchNorm2d, GroupNorm, NormLayer } from '../../layers/norm.js';
import { pluginSchema } from '../../plugins/plugin.js';
import { registerModels } from '../../register.js';
import { BasicBlock, Bottleneck, Downsample, ResBlock, type BlockOptions } from './blocks.js';
import { ResLayer } from './res-layer.js';
import { ResNet } from './resnet.js';

/** A minimal plugin used where mmdet's tests use ContextBlock: a learnable per-channel scale. */
class ScalePlugin extends Module {
  readonly scale: tf.Variable;
  constructor(readonly inChannels: number) {
    super();
    this.scale = this.addParameter('scale', tf.ones([inChannels]));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.mul(x, this.scale));
  }
}
MODELS.register({
  type: 'ResNetTestScale',
  abbreviation: 'scale_block',
  schema: pluginSchema({ ratio: { type: 'number' } }),
  build: (cfg: { in_channels: number }) => new ScalePlugin(cfg.in_channels),
});
MODELS.register({ type: 'ResNetTestNoInChannels', schema: {}, build: () => new ScalePlugin(1) });
MODELS.register({
  type: 'ResNetTestBadShape',
  schema: pluginSchema({}),
  build: (cfg: { in_channels: number }) =>
    new (class extends ScalePlugin {
      override forward(x: tf.Tensor4D): tf.Tensor4D {
        return tf.tidy(() => tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, 1]));
      }
    })(cfg.in_channels),
});

const scale = (postfix?: number): ComponentConfig => ({ type: 'ResNetTestScale', ratio: 1 / 16, ...(postfix === undefined ? {} : { postfix }) });

function build(cfg: Record<string, unknown>, type = 'ResNet'): ResNet {
  return MODELS.build<ResNet>({ type, ...cfg }, { path: 'model.backbone' });
}

function blockOptions(inplanes: number, planes: number, extra: Partial<BlockOptions> = {}): BlockOptions {
  return { inplanes, planes, stride: 1, dilation: 1, style: 'pytorch', withCp: false, normCfg: { type: 'BN' }, downsample: undefined, plugins: [], path: 'block', ...extra };
}

function shapesOf(outs: tf.Tensor[]): number[][] {
  return outs.map((o) => o.shape);
}

/** Runs a forward on an NHWC zeros-free random input and returns the output shapes, disposing all. */
async function forwardShapes(model: { forward(x: tf.Tensor4D): tf.Tensor4D | tf.Tensor4D[] }, nhwc: [number, number, number, number]): Promise<number[][]> {
  return withoutLeaks(() =>
    tf.tidy(() => {
      const out = model.forward(tf.randomNormal(nhwc) as tf.Tensor4D);
      return shapesOf(Array.isArray(out) ? out : [out]);
    }),
  );
}

function hasChild(module: Module, name: string): boolean {
  return module.namedChildren().some(([n]) => n === name);
}

function child<T extends Module>(module: Module, name: string): T {
  const found = module.namedChildren().find(([n]) => n === name);
  if (!found) throw new Error(`no child ${name}`);
  return found[1] as T;
}

function bns(module: Module): BatchNorm2d[] {
  return [...module.namedModules()].map(([, m]) => m).filter((m): m is BatchNorm2d => m instanceof BatchNorm2d);
}

function expectValidationError(fn: () => unknown, pattern: RegExp): void {
  expect(fn).to.throw(ConfigValidationError, pattern);
}

describe('ResNet (mmdet test_resnet.py)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', threads: 1, verbose: false });
    registerModels();
  });

  describe('T1 BasicBlock', () => {
    it('rejects plugins, naming the block type', () => {
      expect(() => new BasicBlock(blockOptions(64, 64, { plugins: [{ cfg: scale(), position: 'after_conv2' }] }))).to.throw(/BasicBlock \(ResNet-18\/34\) does not take plugins/);
    });
    it('has 3x3 convs 64->64 and keeps the shape; with_cp too', async () => {
      const block = new BasicBlock(blockOptions(64, 64));
      expect([block.conv1.inChannels, block.conv1.outChannels, ...block.conv1.kernelSize]).to.deep.equal([64, 64, 3, 3]);
      expect([block.conv2.inChannels, block.conv2.outChannels, ...block.conv2.kernelSize]).to.deep.equal([64, 64, 3, 3]);
      expect(await forwardShapes(block, [1, 56, 56, 64])).to.deep.equal([[1, 56, 56, 64]]);
      const cp = new BasicBlock(blockOptions(64, 64, { withCp: true }));
      expect(cp.withCp).to.equal(true);
      expect(await forwardShapes(cp, [1, 56, 56, 64])).to.deep.equal([[1, 56, 56, 64]]);
      block.dispose();
      cp.dispose();
    });
  });

  describe('T2 Bottleneck', () => {
    it('rejects a bad style, a bad plugin position and duplicate plugin names through the schema', () => {
      expectValidationError(() => build({ depth: 50, style: 'tensorflow' }), /model\.backbone\.style: must be one of \["pytorch","caffe"\]/);
      expectValidationError(() => build({ depth: 50, plugins: [{ cfg: scale(), position: 'after_conv4' }] }), /model\.backbone\.plugins\.0\.position: must be one of/);
      expect(() => new Bottleneck(blockOptions(64, 16, { plugins: [{ cfg: scale(), position: 'after_conv3' }, { cfg: scale(), position: 'after_conv3' }] }))).to.throw(/block: duplicate plugin 'scale_block'/);
    });
    it('rejects an unknown plugin type with the registry and config path', () => {
      expectValidationError(() => build({ depth: 50, plugins: [{ cfg: { type: 'WrongPlugin' }, position: 'after_conv3' }] }), /model\.backbone\.plugins\.0\.cfg\.type: 'WrongPlugin' is not in the MODELS registry/);
    });
    it('keeps the shape with an identity shortcut, with and without with_cp', async () => {
      for (const withCp of [false, true]) {
        const block = new Bottleneck(blockOptions(64, 16, { withCp }));
        expect(block.withCp).to.equal(withCp);
        expect(await forwardShapes(block, [1, 56, 56, 64])).to.deep.equal([[1, 56, 56, 64]]);
        block.dispose();
      }
    });
    it('puts the stride on conv2 (pytorch) or conv1 (caffe)', () => {
      const pytorch = new Bottleneck(blockOptions(64, 64, { stride: 2, style: 'pytorch' }));
      expect([pytorch.conv1.stride, pytorch.conv2.stride]).to.deep.equal([[1, 1], [2, 2]]);
      const caffe = new Bottleneck(blockOptions(64, 64, { stride: 2, style: 'caffe' }));
      expect([caffe.conv1.stride, caffe.conv2.stride]).to.deep.equal([[2, 2], [1, 1]]);
      pytorch.dispose();
      caffe.dispose();
    });
    it('rejects DCN with a clear message (tfjs has no deformable convolution)', () => {
      expect(() => build({ depth: 50, dcn: { type: 'DCN', deform_groups: 1, fallback_on_stride: false }, stage_with_dcn: [false, true, true, true] })).to.throw(/model\.backbone\.dcn: deformable convolution \(DCN\) is not available/);
    });
    it('gives plugins in_channels by position and names them abbreviation + postfix', async () => {
      const block = new Bottleneck(blockOptions(64, 16, { plugins: [{ cfg: scale(1), position: 'after_conv2' }, { cfg: scale(2), position: 'after_conv3' }, { cfg: scale(3), position: 'after_conv3' }] }));
      expect(child<ScalePlugin>(block, 'scale_block1').inChannels).to.equal(16);
      expect(child<ScalePlugin>(block, 'scale_block2').inChannels).to.equal(64);
      expect(child<ScalePlugin>(block, 'scale_block3').inChannels).to.equal(64);
      // Plugins come after the convs, norms and downsample in the state dict.
      const keys = block.namedParameters().map(([k]) => k);
      expect(keys.slice(-3)).to.deep.equal(['scale_block1.scale', 'scale_block2.scale', 'scale_block3.scale']);
      expect(await forwardShapes(block, [1, 56, 56, 64])).to.deep.equal([[1, 56, 56, 64]]);
      block.dispose();
    });
    it('names the plugin and block when a plugin lacks in_channels or changes the shape', async () => {
      expect(() => new Bottleneck(blockOptions(64, 16, { plugins: [{ cfg: { type: 'ResNetTestNoInChannels' }, position: 'after_conv3' }] }))).to.throw(/plugin 'ResNetTestNoInChannels' does not accept in_channels/);
      const bad = new Bottleneck(blockOptions(64, 16, { path: 'layer1.0', plugins: [{ cfg: { type: 'ResNetTestBadShape' }, position: 'after_conv3' }] }));
      expect(() => tf.tidy(() => bad.forward(tf.zeros([1, 8, 8, 64])))).to.throw(/layer1\.0\.res_net_test_bad_shape \(\w*\): a plugin must return its input's shape \[1, 8, 8, 64\]/);
      bad.dispose();
    });
  });

  describe('T4 ResLayer', () => {
    const layer = (planes: number, stride: number, avgDown = false) =>
      new ResLayer({ block: Bottleneck, inplanes: 64, planes, numBlocks: 3, stride, dilation: 1, avgDown, style: 'pytorch', withCp: false, normCfg: { type: 'BN' }, plugins: [], path: 'layer' });
    it('projects the shortcut only when the shape changes', async () => {
      const same = layer(16, 1);
      expect(same.blocks).to.have.length(3);
      expect(same.blocks.every((b) => b.downsample === undefined)).to.equal(true);
      expect(same.blocks.map((b) => (b as Bottleneck).conv1.inChannels)).to.deep.equal([64, 64, 64]);
      expect(await forwardShapes(same, [1, 56, 56, 64])).to.deep.equal([[1, 56, 56, 64]]);
      const wider = layer(64, 1);
      expect(wider.blocks[0]!.downsample!.conv.outChannels).to.equal(256);
      expect(wider.blocks.slice(1).every((b) => !b.downsample)).to.equal(true);
      expect(await forwardShapes(wider, [1, 56, 56, 64])).to.deep.equal([[1, 56, 56, 256]]);
      same.dispose();
      wider.dispose();
    });
    it('strides the shortcut conv, or average-pools first with avg_down (keys shift to downsample.1/.2)', async () => {
      const strided = layer(64, 2);
      expect(strided.blocks[0]!.downsample!.conv.stride).to.deep.equal([2, 2]);
      expect(await forwardShapes(strided, [1, 56, 56, 64])).to.deep.equal([[1, 28, 28, 256]]);
      const avg = layer(64, 2, true);
      const ds = avg.blocks[0]!.downsample as Downsample;
      expect(ds.conv.stride).to.deep.equal([1, 1]);
      expect(ds.conv.outChannels).to.equal(256);
      expect(ds.namedParameters().map(([k]) => k)).to.deep.equal(['1.weight', '2.weight', '2.bias']);
      expect(await forwardShapes(avg, [1, 56, 56, 64])).to.deep.equal([[1, 28, 28, 256]]);
      strided.dispose();
      avg.dispose();
    });
  });

  describe('T5 stem', () => {
    it('derives stem channels from base_channels or stem_channels', () => {
      for (const [cfg, expected] of [
        [{}, 64],
        [{ base_channels: 3 }, 3],
        [{ stem_channels: 3 }, 3],
        [{ stem_channels: 3, base_channels: 2 }, 3],
      ] as const) {
        const model = build({ depth: 50, ...cfg });
        expect([model.conv1!.outChannels, (model.norm1 as BatchNorm2d).numFeatures, (model.resLayers[0]!.blocks[0] as Bottleneck).conv1.inChannels]).to.deep.equal([expected, expected, expected]);
        model.dispose();
      }
    });
    it('builds the V1d deep stem as stem.0..stem.8 with half-width first convs', () => {
      const model = build({ depth: 50, stem_channels: 6 }, 'ResNetV1d').train();
      const stemKeys = model.namedParameters().filter(([k]) => k.startsWith('stem.')).map(([k]) => k);
      expect(stemKeys).to.deep.equal(['stem.0.weight', 'stem.1.weight', 'stem.1.bias', 'stem.3.weight', 'stem.4.weight', 'stem.4.bias', 'stem.6.weight', 'stem.7.weight', 'stem.7.bias']);
      expect(model.stem!.layers.map(([conv, norm]) => [conv.outChannels, (norm as BatchNorm2d).numFeatures])).to.deep.equal([[3, 3], [3, 3], [6, 6]]);
      expect((model.resLayers[0]!.blocks[0] as Bottleneck).conv1.inChannels).to.equal(6);
      model.dispose();
    });
  });

  describe('T6 backbone', () => {
    it('rejects invalid arguments with the config path', () => {
      expectValidationError(() => build({ depth: 20 }), /model\.backbone\.depth: must be one of \[18,34,50,101,152\], got 20/);
      expectValidationError(() => build({ depth: 50, num_stages: 0 }), /model\.backbone\.num_stages: must be >= 1/);
      expectValidationError(() => build({ depth: 50, num_stages: 5 }), /model\.backbone\.num_stages: must be <= 4/);
      expect(() => build({ depth: 50, plugins: [{ cfg: scale(), stages: [false, true, true], position: 'after_conv3' }] })).to.throw(/model\.backbone\.plugins\.0\.stages: needs one flag per stage \(num_stages 4\), got 3/);
      expect(() => build({ depth: 50, strides: [1], dilations: [1, 1], num_stages: 3 })).to.throw(/model\.backbone\.strides: needs one entry per stage \(num_stages 3\), got 1/);
      expectValidationError(() => build({ depth: 50, pretrained: 0 }), /model\.backbone\.pretrained: must be string,null/);
      expect(() => build({ depth: 50, num_stages: 3, strides: [1, 2, 2], dilations: [1, 1, 1], out_indices: [0, 3] })).to.throw(/out_indices: must be < num_stages \(3\), got 3/);
      expect(() => build({ depth: 50, num_stages: 2, strides: [1, 2], dilations: [1, 1], out_indices: [0], frozen_stages: 3 })).to.throw(/frozen_stages: must be between -1 and num_stages \(2\), got 3/);
      expectValidationError(() => build({ depth: 50, depht: 50 }), /model\.backbone\.depht: unknown key for ResNet \(did you mean 'depth'\?\)/);
      expectValidationError(() => build({ depth: 50, deep_stem: true }, 'ResNetV1d'), /model\.backbone\.deep_stem: unknown key for ResNetV1d/);
    });

    it('norm_eval keeps every BN in eval mode after train()', () => {
      const model = build({ depth: 50, norm_eval: true, base_channels: 1 }).train();
      expect(bns(model).every((bn) => !bn.training)).to.equal(true);
      model.dispose();
    });

    it('frozen_stages=1 freezes the stem and layer1 (eval mode, no gradients) after every train()', () => {
      const model = build({ depth: 50, frozen_stages: 1, base_channels: 1, norm_eval: false }).train();
      expect(model.norm1!.training).to.equal(false);
      for (const m of [model.conv1!, model.norm1!, model.resLayers[0]!]) expect(m.namedParameters().every(([, p]) => !p.requiresGrad)).to.equal(true);
      expect(bns(model.resLayers[0]!).every((bn) => !bn.training)).to.equal(true);
      expect(bns(model.resLayers[1]!).every((bn) => bn.training)).to.equal(true);
      expect(model.resLayers[1]!.namedParameters().every(([, p]) => p.requiresGrad)).to.equal(true);
      model.eval().train();
      expect(model.norm1!.training).to.equal(false);
      model.dispose();
    });

    it('ResNetV1c has the deep stem with plain strided 1x1 shortcuts (downsample.0/.1)', async () => {
      const model = build({ depth: 50, base_channels: 2 }, 'ResNetV1c');
      const keys = model.namedParameters().map(([k]) => k);
      expect(keys).to.include.members(['stem.0.weight', 'stem.7.bias', 'layer2.0.downsample.0.weight', 'layer2.0.downsample.1.weight']);
      expect(keys.some((k) => k.startsWith('conv1.'))).to.equal(false);
      expect(model.resLayers[1]!.blocks[0]!.downsample!.conv.stride).to.deep.equal([2, 2]);
      expect(await forwardShapes(model.eval(), [1, 32, 32, 3])).to.deep.equal([[1, 8, 8, 8], [1, 4, 4, 16], [1, 2, 2, 32], [1, 1, 1, 64]]);
      model.dispose();
    });

    it('frozen_stages=1 on V1d freezes the whole deep stem', () => {
      const model = build({ depth: 50, frozen_stages: 1, base_channels: 2 }, 'ResNetV1d');
      expect(model.stem!.namedChildren()).to.have.length(6); // the 3 ReLUs hold no state
      model.train();
      expect(bns(model.stem!).every((bn) => !bn.training)).to.equal(true);
      expect(model.stem!.namedParameters().every(([, p]) => !p.requiresGrad)).to.equal(true);
      expect(bns(model.resLayers[0]!).every((bn) => !bn.training)).to.equal(true);
      model.dispose();
    });

    it('ResNet-18 at 32x32 gives the four stage shapes', async () => {
      const model = build({ depth: 18 }).train();
      expect(await forwardShapes(model, [1, 32, 32, 3])).to.deep.equal([[1, 8, 8, 64], [1, 4, 4, 128], [1, 2, 2, 256], [1, 1, 1, 512]]);
      model.dispose();
    });

    it('with_cp reaches every block', () => {
      const model = build({ depth: 18, with_cp: true });
      expect(model.resLayers.flatMap((l) => l.blocks).every((b) => b.withCp)).to.equal(true);
      model.dispose();
    });

    it('ResNet-50 shapes: base_channels 1, out_indices, with_cp, GN, V1d', async () => {
      const r50 = build({ depth: 50, base_channels: 1 });
      expect([...r50.namedModules()].map(([, m]) => m).filter((m) => m instanceof NormLayer).every((m) => m instanceof BatchNorm2d)).to.equal(true);
      expect(await forwardShapes(r50.train(), [1, 32, 32, 3])).to.deep.equal([[1, 8, 8, 4], [1, 4, 4, 8], [1, 2, 2, 16], [1, 1, 1, 32]]);
      const three = build({ depth: 50, out_indices: [0, 1, 2], base_channels: 1 }).train();
      expect(await forwardShapes(three, [1, 32, 32, 3])).to.deep.equal([[1, 8, 8, 4], [1, 4, 4, 8], [1, 2, 2, 16]]);
      const cp = build({ depth: 50, with_cp: true, base_channels: 1 }).train();
      expect(await forwardShapes(cp, [1, 32, 32, 3])).to.deep.equal([[1, 8, 8, 4], [1, 4, 4, 8], [1, 2, 2, 16], [1, 1, 1, 32]]);
      const gn = build({ depth: 50, base_channels: 4, norm_cfg: { type: 'GN', num_groups: 2, requires_grad: true } });
      expect([...gn.namedModules()].map(([, m]) => m).filter((m) => m instanceof NormLayer).every((m) => m instanceof GroupNorm)).to.equal(true);
      expect(gn.namedParameters().some(([k]) => k === 'gn1.weight')).to.equal(true);
      expect(await forwardShapes(gn.train(), [1, 32, 32, 3])).to.deep.equal([[1, 8, 8, 16], [1, 4, 4, 32], [1, 2, 2, 64], [1, 1, 1, 128]]);
      const v1d = build({ depth: 50, base_channels: 2 }, 'ResNetV1d').train();
      expect(await forwardShapes(v1d, [1, 32, 32, 3])).to.deep.equal([[1, 8, 8, 8], [1, 4, 4, 16], [1, 2, 2, 32], [1, 1, 1, 64]]);
      for (const m of [r50, three, cp, gn, v1d]) m.dispose();
    });

    it('places stage plugins by the stages mask and names two of a type by postfix', async () => {
      const model = build({
        depth: 50,
        base_channels: 8,
        plugins: [
          { cfg: scale(1), stages: [false, true, true, false], position: 'after_conv3' },
          { cfg: scale(2), stages: [false, true, true, false], position: 'after_conv3' },
        ],
      });
      const blocksOf = (i: number) => model.resLayers[i]!.blocks;
      for (const b of [...blocksOf(0), ...blocksOf(3)]) expect(['scale_block', 'scale_block1', 'scale_block2'].some((n) => hasChild(b, n))).to.equal(false);
      for (const b of blocksOf(1)) expect([child<ScalePlugin>(b, 'scale_block1').inChannels, child<ScalePlugin>(b, 'scale_block2').inChannels, hasChild(b, 'scale_block')]).to.deep.equal([64, 64, false]);
      for (const b of blocksOf(2)) expect([child<ScalePlugin>(b, 'scale_block1').inChannels, child<ScalePlugin>(b, 'scale_block2').inChannels]).to.deep.equal([128, 128]);
      expect(await forwardShapes(model.train(), [1, 32, 32, 3])).to.deep.equal([[1, 8, 8, 32], [1, 4, 4, 64], [1, 2, 2, 128], [1, 1, 1, 256]]);
      model.dispose();
    });

    it('zero_init_residual zeroes the last norm of every block (not with init_cfg)', () => {
      const model = build({ depth: 50, zero_init_residual: true, base_channels: 1 });
      const lastNorms = model.resLayers.flatMap((l) => l.blocks).map((b: ResBlock) => b.lastNorm as BatchNorm2d);
      expect(lastNorms.every((n) => tf.tidy(() => tf.sum(tf.abs(n.weight)).dataSync()[0] === 0 && tf.sum(tf.abs(n.bias)).dataSync()[0] === 0))).to.equal(true);
      const firstNorm = (model.resLayers[0]!.blocks[0] as Bottleneck).norm1 as BatchNorm2d;
      expect(tf.tidy(() => tf.min(firstNorm.weight).dataSync()[0])).to.equal(1);
      model.dispose();
      const r18 = build({ depth: 18, base_channels: 2 });
      expect(r18.resLayers.flatMap((l) => l.blocks).every((b) => b.lastNorm === (b as BasicBlock).norm2)).to.equal(true);
      r18.dispose();
    });

    it('reports a missing torchvision:// checkpoint with the file to put where, downloading nothing', () => {
      const previous = process.env['TSDET_CHECKPOINT_DIR'];
      process.env['TSDET_CHECKPOINT_DIR'] = '/nonexistent/tsdet-cache';
      try {
        expect(() => build({ depth: 50, init_cfg: { type: 'Pretrained', checkpoint: 'torchvision://resnet50' } })).to.throw(/model\.backbone\.init_cfg: checkpoint 'torchvision:\/\/resnet50' not found: put the file at \/nonexistent\/tsdet-cache\/torchvision\/resnet50-0676ba61\.pth/);
      } finally {
        if (previous === undefined) delete process.env['TSDET_CHECKPOINT_DIR'];
        else process.env['TSDET_CHECKPOINT_DIR'] = previous;
      }
    });

    it('uses mmdet/torchvision state-dict names', () => {
      const model = build({ depth: 50, base_channels: 2 });
      const keys = [...model.namedParameters(), ...model.namedBuffers()].map(([k]) => k);
      expect(keys).to.include.members(['conv1.weight', 'bn1.running_mean', 'bn1.num_batches_tracked', 'layer1.0.downsample.0.weight', 'layer1.0.downsample.1.running_var', 'layer4.2.conv3.weight', 'layer4.2.bn3.bias']);
      expect(model.outputShapes()).to.deep.equal([
        { name: 'c2', channels: 8, stride: 4 },
        { name: 'c3', channels: 16, stride: 8 },
        { name: 'c4', channels: 32, stride: 16 },
        { name: 'c5', channels: 64, stride: 32 },
      ]);
      model.dispose();
    });
  });

  describe('training', () => {
    /** Three SGD steps on sum(mean(outputs)); returns the loss of each. */
    function trainSteps(model: ResNet, x: tf.Tensor4D, steps = 3): number[] {
      const variables = model.trainableVariables();
      return Array.from({ length: steps }, () =>
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => tf.addN(model.forward(x).map((o) => tf.mean(o))) as tf.Scalar, variables);
          for (const v of variables) v.assign(tf.sub(v, tf.mul(grads[v.name]!, 0.01)));
          return value.dataSync()[0]!;
        }),
      );
    }

    it('repeated forward/backward/update steps leak no tensor, with and without with_cp', async () => {
      for (const withCp of [false, true]) {
        const model = build({ depth: 50, base_channels: 2, frozen_stages: 1, norm_eval: false, with_cp: withCp }).train();
        const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
        const losses = await withoutLeaks(() => trainSteps(model, x), `train steps (with_cp ${withCp})`);
        expect(losses.every(Number.isFinite)).to.equal(true);
        x.dispose();
        model.dispose();
      }
    });

    it('frozen parameters stay bit-identical through training steps', () => {
      const model = build({ depth: 50, base_channels: 2, frozen_stages: 1, norm_eval: false }).train();
      const frozen = model.namedParameters().filter(([, p]) => !p.requiresGrad);
      expect(frozen.map(([k]) => k)).to.include.members(['conv1.weight', 'bn1.weight', 'layer1.0.conv1.weight']);
      const before = frozen.map(([, p]) => Array.from(p.variable.dataSync()));
      const x = tf.randomNormal([2, 32, 32, 3]) as tf.Tensor4D;
      trainSteps(model, x, 2);
      expect(frozen.map(([, p]) => Array.from(p.variable.dataSync()))).to.deep.equal(before);
      const stemStats = model.namedBuffers().find(([k]) => k === 'bn1.running_mean')![1].variable;
      expect(Array.from(stemStats.dataSync()).every((v) => v === 0)).to.equal(true);
      x.dispose();
      model.dispose();
    });
  });

  describe('init_cfg: Pretrained', () => {
    it("loads a detector checkpoint's backbone through prefix, non-strictly, reporting extra keys", () => {
      const source = build({ depth: 18, base_channels: 4 });
      const weights = new Map([...stateDictOf(source)].map(([k, v]) => [`backbone.${k}`, v]));
      weights.set('neck.lateral_convs.0.conv.weight', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdet-pretrained-'));
      const file = path.join(dir, 'detector.safetensors');
      writeSafetensors(file, weights);
      const loaded = build({ depth: 18, base_channels: 4, init_cfg: { type: 'Pretrained', checkpoint: file, prefix: 'backbone.' } });
      const a = stateDictOf(source).get('layer3.1.conv2.weight')!.data as Float32Array;
      const b = stateDictOf(loaded).get('layer3.1.conv2.weight')!.data as Float32Array;
      expect(Array.from(b)).to.deep.equal(Array.from(a));
      expect(() => build({ depth: 18, base_channels: 4, init_cfg: { type: 'Pretrained', checkpoint: file, prefix: 'head.' } })).to.throw(/no key starts with the prefix 'head\.'/);
      fs.rmSync(dir, { recursive: true, force: true });
      source.dispose();
      loaded.dispose();
    });
  });
});
