/**
 * ResNet with mmdetection's semantics (mmdet-reference §1.5-§1.10): depths 18-152, pytorch/caffe
 * style, deep stem and average-pool shortcuts (V1c/V1d), frozen stages, norm_eval, with_cp,
 * stage plugins, zero-init residuals, Pretrained init, and mmdet/torchvision state-dict keys.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module, noGrad } from '@tsdet/core';
import { Conv2d } from '../../layers/conv2d.js';
import { convNormAct, prefoldConvNormChildren } from '../../layers/fused-conv-bn.js';
import { BatchNorm2d, buildNormLayer, NormLayer } from '../../layers/norm.js';
import { BasicBlock, Bottleneck, type BlockClass } from './blocks.js';
import { ResLayer } from './res-layer.js';
import type { PluginEntry, ResNetConfig } from './resnet.schema.js';

const ARCH_SETTINGS: Record<ResNetConfig['depth'], [BlockClass, number[]]> = {
  18: [BasicBlock, [2, 2, 2, 2]],
  34: [BasicBlock, [3, 4, 6, 3]],
  50: [Bottleneck, [3, 4, 6, 3]],
  101: [Bottleneck, [3, 4, 23, 3]],
  152: [Bottleneck, [3, 8, 36, 3]],
};

/** One level of a backbone's output: channels and stride relative to the input. */
export interface FeatureShape {
  name: string;
  channels: number;
  stride: number;
}

/** The 7x7 stem (conv1, bn1) or the deep stem (stem.0 ... stem.8, three 3x3 convs). */
class DeepStem extends Module {
  readonly layers: [Conv2d, NormLayer][] = [];

  constructor(inChannels: number, stemChannels: number, normCfg: ResNetConfig['norm_cfg']) {
    super();
    const half = Math.floor(stemChannels / 2);
    const specs: [number, number, number][] = [
      [inChannels, half, 2],
      [half, half, 1],
      [half, stemChannels, 1],
    ];
    // nn.Sequential indices: conv at 3k, norm at 3k+1, ReLU (no parameters) at 3k+2.
    specs.forEach(([cin, cout, stride], k) => {
      const conv = this.registerModule(String(3 * k), new Conv2d({ inChannels: cin, outChannels: cout, kernelSize: 3, stride, padding: 1 }));
      const norm = this.registerModule(String(3 * k + 1), buildNormLayer(normCfg, cout)[1]);
      this.layers.push([conv, norm]);
    });
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.layers.reduce((h, [conv, norm]) => convNormAct(h, conv, norm, true), x));
  }

  /** Entering eval mode: fold each conv's BN now, so inference forwards allocate nothing lasting. */
  protected override onModeChanged(training: boolean): void {
    if (!training) prefoldConvNormChildren(this);
  }

}

export class ResNet extends Module {
  readonly cfg: Readonly<ResNetConfig>;
  readonly block: BlockClass;
  readonly stageBlocks: number[];
  readonly conv1: Conv2d | undefined;
  readonly norm1: NormLayer | undefined;
  readonly stem: DeepStem | undefined;
  readonly resLayers: ResLayer[] = [];

  constructor(cfg: ResNetConfig, readonly path = 'backbone') {
    super();
    checkResNetConfig(cfg, path);
    this.cfg = cfg;
    const [block, blocks] = ARCH_SETTINGS[cfg.depth];
    this.block = block;
    this.stageBlocks = blocks.slice(0, cfg.num_stages);
    const stemChannels = cfg.stem_channels ?? cfg.base_channels;
    if (cfg.deep_stem) {
      this.stem = this.registerModule('stem', new DeepStem(cfg.in_channels, stemChannels, cfg.norm_cfg));
    } else {
      this.conv1 = this.registerModule('conv1', new Conv2d({ inChannels: cfg.in_channels, outChannels: stemChannels, kernelSize: 7, stride: 2, padding: 3 }));
      const [name, norm] = buildNormLayer(cfg.norm_cfg, stemChannels, 1);
      this.norm1 = this.registerModule(name, norm);
    }
    this.makeStages(stemChannels);
    this.initResidualNorms();
    this.freezeStages();
  }

  /** Output levels in stage order: C2..C5 for the default out_indices. */
  outputShapes(): FeatureShape[] {
    const strideOfStem = 4;
    let stride = strideOfStem;
    const shapes: FeatureShape[] = [];
    for (let i = 0; i < this.cfg.num_stages; i++) {
      stride *= this.cfg.strides[i]!;
      if (this.cfg.out_indices.includes(i)) shapes.push({ name: `c${i + 2}`, channels: this.stageChannels(i), stride });
    }
    return shapes;
  }

  stageChannels(i: number): number {
    return this.cfg.base_channels * 2 ** i * this.block.expansion;
  }

  /** NHWC input; returns the outputs of the stages in out_indices, in stage order. */
  forward(x: tf.Tensor4D): tf.Tensor4D[] {
    return tf.tidy(() => {
      const outs: tf.Tensor4D[] = [];
      const frozen = this.frozenPrefixLength();
      // The frozen stem and stages need no gradient: computing them off the tape keeps none of
      // their activations for the backward pass (and lets their BNs fold into the convs).
      const stemAndFrozenStages = (): tf.Tensor4D => {
        const y = this.stem ? this.stem.forward(x) : convNormAct(x, this.conv1!, this.norm1!, true);
        return this.runStages(tf.maxPool(y, 3, 2, 1), 0, Math.max(frozen, 0), outs);
      };
      const h = frozen >= 0 ? noGrad(stemAndFrozenStages) : stemAndFrozenStages();
      this.runStages(h, Math.max(frozen, 0), this.resLayers.length, outs);
      return outs;
    });
  }

  /** Stages [from, to) on h, pushing the outputs out_indices asks for. */
  private runStages(h: tf.Tensor4D, from: number, to: number, outs: tf.Tensor4D[]): tf.Tensor4D {
    for (let i = from; i < to; i++) {
      h = this.resLayers[i]!.forward(h);
      if (this.cfg.out_indices.includes(i)) outs.push(h);
    }
    return h;
  }

  /**
   * How many leading stages can run without a gradient tape: the frozen ones (frozen_stages),
   * provided nothing in them or the stem was made trainable again by hand. -1 when the stem
   * itself must be taped (frozen_stages = -1 or a trainable stem parameter).
   */
  private frozenPrefixLength(): number {
    const frozen = this.frozenModules();
    if (frozen.length === 0 || frozen.some((m) => m.namedParameters().some(([, p]) => p.requiresGrad))) return -1;
    return Math.max(0, this.cfg.frozen_stages);
  }

  /** Train mode as mmdet: frozen stages stay in eval, and with norm_eval every batch norm too. */
  override train(mode = true): this {
    super.train(mode);
    this.freezeStages();
    if (mode && this.cfg.norm_eval) {
      for (const [, m] of this.namedModules()) if (m instanceof BatchNorm2d) m.training = false;
    }
    // The stem pair, now that frozen_stages may have put it in eval mode while training.
    prefoldConvNormChildren(this);
    return this;
  }

  /** The stem (index 0) and the first `frozen_stages` stages: eval mode, no gradients. */
  frozenModules(): Module[] {
    if (this.cfg.frozen_stages < 0) return [];
    const stem: Module[] = this.stem ? [this.stem] : [this.conv1!, this.norm1!];
    return [...stem, ...this.resLayers.slice(0, this.cfg.frozen_stages)];
  }

  private freezeStages(): void {
    for (const m of this.frozenModules()) {
      m.eval();
      m.setRequiresGrad(false);
    }
  }

  private makeStages(stemChannels: number): void {
    let inplanes = stemChannels;
    this.stageBlocks.forEach((numBlocks, i) => {
      const planes = this.cfg.base_channels * 2 ** i;
      const path = `${this.path}.layer${i + 1}`;
      const layer = new ResLayer({
        block: this.block,
        inplanes,
        planes,
        numBlocks,
        stride: this.cfg.strides[i]!,
        dilation: this.cfg.dilations[i]!,
        avgDown: this.cfg.avg_down,
        style: this.cfg.style,
        withCp: this.cfg.with_cp,
        normCfg: this.cfg.norm_cfg,
        plugins: stagePlugins(this.cfg.plugins, i),
        path,
      });
      this.resLayers.push(this.registerModule(`layer${i + 1}`, layer));
      inplanes = planes * this.block.expansion;
    });
  }

  /**
   * zero_init_residual (only without init_cfg/pretrained, as mmdet): the last norm of each
   * block starts at weight 0 and bias 0, so every block starts as identity + ReLU.
   */
  private initResidualNorms(): void {
    if (!this.cfg.zero_init_residual || this.cfg.init_cfg || this.cfg.pretrained) return;
    for (const layer of this.resLayers) {
      for (const block of layer.blocks) {
        for (const [, p] of block.lastNorm.namedParameters()) tf.tidy(() => p.variable.assign(tf.zerosLike(p.variable)));
      }
    }
  }
}

/** mmdet's make_stage_plugins: entries whose `stages` mask selects stage i, without `stages`. */
function stagePlugins(plugins: PluginEntry[] | null, stage: number): { cfg: PluginEntry['cfg']; position: PluginEntry['position'] }[] {
  return (plugins ?? []).filter((p) => !p.stages || p.stages[stage]).map(({ cfg, position }) => ({ cfg, position }));
}

/** Cross-field checks the schema cannot express, each naming its config path. */
export function checkResNetConfig(cfg: ResNetConfig, path: string): void {
  const fail = (key: string, message: string): never => {
    throw new Error(`${path}.${key}: ${message}`);
  };
  const n = cfg.num_stages;
  if (cfg.strides.length !== n) fail('strides', `needs one entry per stage (num_stages ${n}), got ${cfg.strides.length}`);
  if (cfg.dilations.length !== n) fail('dilations', `needs one entry per stage (num_stages ${n}), got ${cfg.dilations.length}`);
  const tooHigh = cfg.out_indices.find((i) => i >= n);
  if (tooHigh !== undefined) fail('out_indices', `must be < num_stages (${n}), got ${tooHigh}`);
  if (cfg.frozen_stages > n) fail('frozen_stages', `must be between -1 and num_stages (${n}), got ${cfg.frozen_stages}`);
  if (cfg.dcn || cfg.stage_with_dcn.some(Boolean) || (cfg.conv_cfg && cfg.conv_cfg.type.startsWith('DCN'))) {
    fail(cfg.dcn ? 'dcn' : cfg.conv_cfg?.type.startsWith('DCN') ? 'conv_cfg' : 'stage_with_dcn', 'deformable convolution (DCN) is not available: TensorFlow.js has no deformable convolution kernel; remove dcn/stage_with_dcn');
  }
  (cfg.plugins ?? []).forEach((p, i) => {
    if (p.stages && p.stages.length !== n) fail(`plugins.${i}.stages`, `needs one flag per stage (num_stages ${n}), got ${p.stages.length}`);
  });
  if (cfg.init_cfg && cfg.pretrained) fail('pretrained', 'init_cfg and pretrained cannot both be set (pretrained is deprecated: use init_cfg)');
}

export { NormLayer };
