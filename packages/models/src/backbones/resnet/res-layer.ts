import * as tf from '@tensorflow/tfjs-core';
import { Module } from '@tsdet/core';
import type { NormConfig } from '../../layers/norm.js';
import { Downsample, type BlockClass, type BlockOptions, type ResBlock } from './blocks.js';

export interface ResLayerOptions {
  block: BlockClass;
  inplanes: number;
  planes: number;
  numBlocks: number;
  stride: number;
  dilation: number;
  avgDown: boolean;
  style: BlockOptions['style'];
  withCp: boolean;
  normCfg: NormConfig;
  plugins: BlockOptions['plugins'];
  /** `layer1` ... */
  path: string;
}

/** mmdet's ResLayer: blocks named 0, 1, ...; the first one strides and projects the shortcut. */
export class ResLayer extends Module {
  readonly blocks: ResBlock[] = [];

  constructor(options: ResLayerOptions) {
    super();
    const { block, planes, stride } = options;
    const outChannels = planes * block.expansion;
    let inplanes = options.inplanes;
    for (let i = 0; i < options.numBlocks; i++) {
      const first = i === 0;
      const needsProjection = first && (stride !== 1 || inplanes !== outChannels);
      const downsample = needsProjection ? new Downsample(inplanes, outChannels, stride, options.avgDown, options.normCfg) : undefined;
      const blockOptions: BlockOptions = {
        inplanes,
        planes,
        stride: first ? stride : 1,
        dilation: options.dilation,
        style: options.style,
        withCp: options.withCp,
        normCfg: options.normCfg,
        downsample,
        plugins: options.plugins,
        path: `${options.path}.${i}`,
      };
      this.blocks.push(this.registerModule(String(i), new block(blockOptions)));
      inplanes = outChannels;
    }
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.blocks.reduce((h, b) => b.forward(h), x));
  }
}
