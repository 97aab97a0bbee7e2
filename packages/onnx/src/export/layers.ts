/**
 * Exporters of the basic layers (Conv2d, the norms, ConvModule, Linear) and the conv-norm-act
 * helper the bigger modules use. Weights are written in PyTorch's layouts, which are ONNX's
 * (OIHW convs, [out, in] linear weights). An eval-mode BatchNorm after a conv is folded into
 * the conv's weights and bias (one Conv node, as tsdet's own inference path does); a BatchNorm
 * in training mode normalises with the batch statistics, as PyTorch's train() forward does.
 */
import * as tf from '@tensorflow/tfjs-core';
import { tfjsToTorch, type TorchLayout } from '@tsdet/core';
import { BatchNorm2d, Conv2d, ConvModule, GroupNorm, LayerNorm, Linear, type NormLayer } from '@tsdet/models';
import { float, int, ints } from '../graph/attributes.js';
import type { Value } from '../graph/graph-builder.js';
import { registerOnnxExporter, type ExportContext } from './registry.js';

export interface TorchTensor {
  shape: number[];
  data: Float32Array;
}

/** A parameter's values in PyTorch layout (OIHW conv weights, [out, in] linear weights). */
export function torchTensor(variable: tf.Tensor, layout: TorchLayout = 'same'): TorchTensor {
  return tfjsToTorch(layout, { shape: variable.shape, data: Float32Array.from(variable.dataSync()) });
}

/** An initializer holding a parameter in PyTorch layout. */
export function weightValue(ctx: ExportContext, hint: string, variable: tf.Tensor, layout: TorchLayout = 'same'): Value {
  const t = torchTensor(variable, layout);
  return ctx.graph.initializer(hint, t.data, t.shape);
}

/** A Conv node with `conv`'s geometry and the given weight and bias initializers. */
function convNode(ctx: ExportContext, conv: Conv2d, x: Value, weight: Value, bias: Value | undefined): Value {
  const [ph, pw] = conv.padding;
  return ctx.graph.op1('Conv', bias ? [x, weight, bias] : [x, weight], {
    kernel_shape: ints(conv.kernelSize),
    strides: ints(conv.stride),
    pads: ints([ph, pw, ph, pw]),
    dilations: ints(conv.dilation),
    group: int(1),
  });
}

/** The conv's own weight and bias, unfolded. */
export function exportConv(ctx: ExportContext, conv: Conv2d, x: Value): Value {
  const bias = conv.bias ? weightValue(ctx, 'bias', conv.bias) : undefined;
  return convNode(ctx, conv, x, weightValue(ctx, 'weight', conv.weight, 'conv2d'), bias);
}

/**
 * W' = W * s and b' = beta + (b - mean) * s per output channel, s = gamma / sqrt(var + eps),
 * in float64 and rounded once (the BN's running statistics are constants of the export).
 */
export function foldConvBn(conv: Conv2d, bn: BatchNorm2d): { weight: TorchTensor; bias: Float32Array } {
  const weight = torchTensor(conv.weight, 'conv2d');
  const [gamma, beta, mean, variance] = [bn.weight, bn.bias, bn.runningMean, bn.runningVar].map((t) => t.dataSync());
  const convBias = conv.bias?.dataSync();
  const perChannel = weight.data.length / conv.outChannels;
  const folded = new Float32Array(weight.data.length);
  const bias = new Float32Array(conv.outChannels);
  for (let o = 0; o < conv.outChannels; o++) {
    const scale = gamma![o]! / Math.sqrt(variance![o]! + bn.eps);
    for (let k = 0; k < perChannel; k++) folded[o * perChannel + k] = weight.data[o * perChannel + k]! * scale;
    bias[o] = beta![o]! + ((convBias?.[o] ?? 0) - mean![o]!) * scale;
  }
  return { weight: { shape: weight.shape, data: folded }, bias };
}

/** Whether a norm after a conv folds into it: a BatchNorm2d using its running statistics. */
export function foldsIntoConv(norm: NormLayer | undefined): norm is BatchNorm2d {
  return norm instanceof BatchNorm2d && !norm.training;
}

export interface ConvNormActPaths {
  conv: string;
  norm: string;
}

/**
 * conv -> norm -> optional ReLU, as mmdet's blocks run them: one folded Conv for an eval-mode
 * BatchNorm, else the conv and the norm's own exporter.
 */
export function convNormAct(ctx: ExportContext, x: Value, conv: Conv2d, norm: NormLayer | undefined, relu: boolean, paths: ConvNormActPaths): Value {
  let y: Value;
  if (foldsIntoConv(norm)) {
    y = ctx.graph.withScope(paths.conv, () => {
      const { weight, bias } = foldConvBn(conv, norm);
      const w = ctx.graph.initializer('weight_bn_folded', weight.data, weight.shape);
      return convNode(ctx, conv, x, w, ctx.graph.initializer('bias_bn_folded', bias, [bias.length]));
    });
  } else {
    y = ctx.emit1(conv, x, paths.conv);
    if (norm) y = ctx.emit1(norm, y, paths.norm);
  }
  return relu ? ctx.graph.op1('Relu', [y]) : y;
}

/** A per-channel vector as a [1, C, 1, 1] initializer, to broadcast over NCHW. */
function channelVector(ctx: ExportContext, hint: string, variable: tf.Tensor): Value {
  const data = Float32Array.from(variable.dataSync());
  return ctx.graph.initializer(hint, data, [1, data.length, 1, 1]);
}

/** Training-mode BatchNorm: normalise with the batch mean and biased variance over (N, H, W). */
function batchStatisticsNorm(ctx: ExportContext, bn: BatchNorm2d, x: Value): Value {
  const g = ctx.graph;
  const mean = g.op1('ReduceMean', [x], { axes: ints([0, 2, 3]), keepdims: int(1) });
  const centred = g.op1('Sub', [x, mean]);
  const variance = g.op1('ReduceMean', [g.op1('Mul', [centred, centred])], { axes: ints([0, 2, 3]), keepdims: int(1) });
  const normalised = g.op1('Div', [centred, g.op1('Sqrt', [g.op1('Add', [variance, g.f32(bn.eps)])])]);
  return g.op1('Add', [g.op1('Mul', [normalised, channelVector(ctx, 'weight', bn.weight)]), channelVector(ctx, 'bias', bn.bias)]);
}

registerOnnxExporter(Conv2d, (ctx, conv, [x]) => [exportConv(ctx, conv, x!)]);

registerOnnxExporter(BatchNorm2d, (ctx, bn, [x]) => {
  if (bn.training) return [batchStatisticsNorm(ctx, bn, x!)];
  const [scale, bias, mean, variance] = [bn.weight, bn.bias, bn.runningMean, bn.runningVar].map((t, i) => weightValue(ctx, ['weight', 'bias', 'running_mean', 'running_var'][i]!, t));
  return [ctx.graph.op1('BatchNormalization', [x!, scale!, bias!, mean!, variance!], { epsilon: float(bn.eps) })];
});

/** GroupNorm from primitive ops: statistics per (sample, group) over its channels and positions. */
registerOnnxExporter(GroupNorm, (ctx, gn, [x]) => {
  const g = ctx.graph;
  const grouped = g.op1('Reshape', [x!, g.i64([0, gn.numGroups, -1])]);
  const mean = g.op1('ReduceMean', [grouped], { axes: ints([2]), keepdims: int(1) });
  const centred = g.op1('Sub', [grouped, mean]);
  const variance = g.op1('ReduceMean', [g.op1('Mul', [centred, centred])], { axes: ints([2]), keepdims: int(1) });
  const normalised = g.op1('Div', [centred, g.op1('Sqrt', [g.op1('Add', [variance, g.f32(gn.eps)])])]);
  const restored = g.op1('Reshape', [normalised, g.op1('Shape', [x!])]);
  return [g.op1('Add', [g.op1('Mul', [restored, channelVector(ctx, 'weight', gn.weight)]), channelVector(ctx, 'bias', gn.bias)])];
});

/** LayerNorm over (C, 1, 1) of an NCHW tensor (ContextBlock's), i.e. every axis from 1 on. */
registerOnnxExporter(LayerNorm, (ctx, ln, [x]) => {
  const scale = weightValue(ctx, 'weight', ln.weight, 'channel-vector');
  const bias = weightValue(ctx, 'bias', ln.bias, 'channel-vector');
  return [ctx.graph.op1('LayerNormalization', [x!, scale, bias], { axis: int(-ln.weight.rank), epsilon: float(ln.eps) })];
});

/** nn.Linear on [R, in]: Gemm with the [out, in] weight transposed. */
registerOnnxExporter(Linear, (ctx, fc, [x]) => {
  const weight = weightValue(ctx, 'weight', fc.weight, 'linear');
  const inputs = fc.bias ? [x!, weight, weightValue(ctx, 'bias', fc.bias)] : [x!, weight];
  return [ctx.graph.op1('Gemm', inputs, { transB: int(1) })];
});

/** The activation of a ConvModule: ReLU or none (other act_cfg types have no exporter yet). */
function convModuleActivation(ctx: ExportContext, module: ConvModule, path: string): boolean {
  const isRelu = (module as unknown as { activationIsRelu: boolean }).activationIsRelu;
  if (module.activate && !isRelu) ctx.fail(path, 'ConvModule act_cfg other than ReLU or None has no ONNX exporter yet');
  return isRelu;
}

registerOnnxExporter(ConvModule, (ctx, module, [x], path) => {
  const relu = convModuleActivation(ctx, module, path);
  const normName = module.namedChildren().find(([, child]) => child === module.norm)?.[0] ?? 'bn';
  return [convNormAct(ctx, x!, module.conv, module.norm, relu, { conv: `${path}.conv`, norm: `${path}.${normName}` })];
});
