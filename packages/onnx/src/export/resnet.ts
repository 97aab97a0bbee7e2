/**
 * ResNet (and ResNetV1d: deep stem, average-pool shortcuts) with its blocks and plugins, as
 * mmdet runs them: stem, 3x3/2 max pool, the stages, outputs at out_indices. Plugins go through
 * the registry by their own class, so a third-party plugin only needs its own exporter.
 */
import { BasicBlock, Bottleneck, Downsample, ResLayer, ResNet, type ResBlock } from '@tsdet/models';
import { int, ints } from '../graph/attributes.js';
import type { Value } from '../graph/graph-builder.js';
import { convNormAct } from './layers.js';
import { registerOnnxExporter, type ExportContext } from './registry.js';

/** The child name of `child` in `parent` (its state-dict prefix). */
export function childName(parent: { namedChildren(): [string, unknown][] }, child: unknown, fallback: string): string {
  return parent.namedChildren().find(([, c]) => c === child)?.[0] ?? fallback;
}

function stem(ctx: ExportContext, net: ResNet, x: Value, path: string): Value {
  if (net.stem) {
    return net.stem.layers.reduce((h, [conv, norm], k) => convNormAct(ctx, h, conv, norm, true, { conv: `${path}.stem.${3 * k}`, norm: `${path}.stem.${3 * k + 1}` }), x);
  }
  return convNormAct(ctx, x, net.conv1!, net.norm1!, true, { conv: `${path}.conv1`, norm: `${path}.${childName(net, net.norm1, 'bn1')}` });
}

registerOnnxExporter(ResNet, (ctx, net, [x], path) => {
  let h = stem(ctx, net, x!, path);
  h = ctx.graph.withScope(`${path}.maxpool`, () => ctx.graph.op1('MaxPool', [h], { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }));
  const outs: Value[] = [];
  net.resLayers.forEach((layer, i) => {
    h = ctx.emit1(layer, h, `${path}.layer${i + 1}`);
    if (net.cfg.out_indices.includes(i)) outs.push(h);
  });
  return outs;
});

registerOnnxExporter(ResLayer, (ctx, layer, [x], path) => [layer.blocks.reduce((h, block, i) => ctx.emit1(block, h, `${path}.${i}`), x!)]);

/** AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False) when avg_down, then conv + norm. */
registerOnnxExporter(Downsample, (ctx, ds, [x], path) => {
  const pooled =
    ds.avgDown && ds.stride > 1
      ? ctx.graph.op1('AveragePool', [x!], { kernel_shape: ints([ds.stride, ds.stride]), strides: ints([ds.stride, ds.stride]), ceil_mode: int(1), count_include_pad: int(0) })
      : x!;
  const first = ds.avgDown ? 1 : 0;
  return [convNormAct(ctx, pooled, ds.conv, ds.norm, false, { conv: `${path}.${first}`, norm: `${path}.${first + 1}` })];
});

/** The plugins of one position, in order, each through its own exporter. */
function plugins(ctx: ExportContext, block: ResBlock, position: 'after_conv1' | 'after_conv2' | 'after_conv3', x: Value, path: string): Value {
  const entries = (block as unknown as { pluginsAt: Record<string, [string, ResBlock][]> }).pluginsAt[position] ?? [];
  return entries.reduce((h, [name, plugin]) => ctx.emit1(plugin, h, `${path}.${name}`), x);
}

/** branch + identity (or the projected shortcut), then ReLU. */
function residual(ctx: ExportContext, block: ResBlock, x: Value, branch: Value, path: string): Value {
  const identity = block.downsample ? ctx.emit1(block.downsample, x, `${path}.downsample`) : x;
  return ctx.graph.op1('Relu', [ctx.graph.op1('Add', [branch, identity])]);
}

registerOnnxExporter(BasicBlock, (ctx, block, [x], path) => {
  const name = (norm: unknown, fallback: string) => `${path}.${childName(block, norm, fallback)}`;
  const h = convNormAct(ctx, x!, block.conv1, block.norm1, true, { conv: `${path}.conv1`, norm: name(block.norm1, 'bn1') });
  const branch = convNormAct(ctx, h, block.conv2, block.norm2, false, { conv: `${path}.conv2`, norm: name(block.norm2, 'bn2') });
  return [residual(ctx, block, x!, branch, path)];
});

registerOnnxExporter(Bottleneck, (ctx, block, [x], path) => {
  const name = (norm: unknown, fallback: string) => `${path}.${childName(block, norm, fallback)}`;
  let h = plugins(ctx, block, 'after_conv1', convNormAct(ctx, x!, block.conv1, block.norm1, true, { conv: `${path}.conv1`, norm: name(block.norm1, 'bn1') }), path);
  h = plugins(ctx, block, 'after_conv2', convNormAct(ctx, h, block.conv2, block.norm2, true, { conv: `${path}.conv2`, norm: name(block.norm2, 'bn2') }), path);
  const branch = plugins(ctx, block, 'after_conv3', convNormAct(ctx, h, block.conv3, block.norm3, false, { conv: `${path}.conv3`, norm: name(block.norm3, 'bn3') }), path);
  return [residual(ctx, block, x!, branch, path)];
});
