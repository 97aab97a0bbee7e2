/**
 * mmcv's ConvModule: conv -> norm -> activation, children named `conv`, `bn`/`gn`, and (no
 * parameters) the activation, so its state-dict keys match mmcv's (mmdet-reference §1.1).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '@tsdet/core';
import { buildActivation, type Activation, type ActivationConfig } from './activation.js';
import { Conv2d, type Conv2dOptions } from './conv2d.js';
import { convNormAct, prefoldConvNormChildren } from './fused-conv-bn.js';
import { buildNormLayer, type NormConfig, type NormLayer } from './norm.js';

/** The conv's geometry as Conv2d takes it; ConvModule decides bias and init itself. */
export interface ConvModuleOptions extends Omit<Conv2dOptions, 'bias' | 'init'> {
  /** 'auto' (default): a bias exactly when there is no norm. */
  bias?: boolean | 'auto';
  normCfg?: NormConfig | null;
  /** Default ReLU; null for none. */
  actCfg?: ActivationConfig | null;
}

export class ConvModule extends Module {
  readonly conv: Conv2d;
  readonly norm: NormLayer | undefined;
  readonly activate: Activation | undefined;

  constructor(options: ConvModuleOptions) {
    super();
    const normCfg = options.normCfg ?? undefined;
    const bias = options.bias === undefined || options.bias === 'auto' ? !normCfg : options.bias;
    this.conv = this.registerModule(
      'conv',
      new Conv2d({ ...options, bias, init: 'kaiming' }),
    );
    if (normCfg) {
      const [name, norm] = buildNormLayer(normCfg, options.outChannels);
      this.norm = this.registerModule(name, norm);
    }
    const actCfg = options.actCfg === undefined ? { type: 'ReLU' as const } : options.actCfg;
    this.activate = buildActivation(actCfg);
    this.activationIsRelu = actCfg?.type === 'ReLU';
    this.foldable = !actCfg || this.activationIsRelu;
  }

  /** Entering eval mode: fold each conv's BN now, so inference forwards allocate nothing lasting. */
  protected override onModeChanged(training: boolean): void {
    if (!training) prefoldConvNormChildren(this);
  }

  /** conv -> norm -> ReLU (or no activation) can run as one fused, BN-folded conv in eval mode. */
  private readonly foldable: boolean;
  private readonly activationIsRelu: boolean;

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      if (this.norm && this.foldable) return convNormAct(x, this.conv, this.norm, this.activationIsRelu);
      if (!this.norm && (this.activationIsRelu || !this.activate)) return this.conv.forward(x, this.activationIsRelu ? 'relu' : 'linear');
      let y: tf.Tensor = this.conv.forward(x);
      if (this.norm) y = this.norm.forward(y);
      if (this.activate) y = this.activate(y);
      return y as tf.Tensor4D;
    });
  }
}
