/**
 * mmdet's FPN: lateral 1x1 convs, the top-down pathway (upsample to the lower level's size and
 * add), 3x3 output convs, extra levels (stride-2 max pool or stride-2 convs). Nearest
 * upsampling gathers PyTorch's source rows, min(floor(dst * (in / out)), in - 1) with the
 * ratio and product in float32 as its CPU kernel computes them, rather than ONNX Resize, whose
 * nearest coordinates are computed differently and pick other rows for some size pairs.
 */
import { FPN } from '@tsdet/models';
import { graph, int, ints, str } from '../graph/attributes.js';
import type { GraphBuilder, Value } from '../graph/graph-builder.js';
import { registerOnnxExporter, type ExportContext } from './registry.js';

/** Spatial size (axis 2 or 3) of an NCHW value, as a 1-element int64 tensor. */
export function dimOf(g: GraphBuilder, x: Value, axis: number): Value {
  return g.op1('Slice', [g.op1('Shape', [x]), g.i64([axis]), g.i64([axis + 1])]);
}

/** PyTorch's nearest source indices for `outSize` outputs from `inSize` inputs (both [1] int64). */
function torchNearestIndices(g: GraphBuilder, inSize: Value, outSize: Value): Value {
  const inF = g.op1('Cast', [inSize], { to: int(1) });
  const outF = g.op1('Cast', [outSize], { to: int(1) });
  const scale = g.op1('Div', [inF, outF]);
  const dst = g.op1('Cast', [g.op1('Range', [g.i64(0), g.op1('Squeeze', [outSize]), g.i64(1)])], { to: int(1) });
  const src = g.op1('Cast', [g.op1('Floor', [g.op1('Mul', [dst, scale])])], { to: int(7) });
  return g.op1('Min', [src, g.op1('Sub', [inSize, g.i64([1])])]);
}

/** Gathers PyTorch's source rows and columns: exact for any pair of sizes. */
function gatherNearest(g: GraphBuilder, x: Value, like: Value): Value {
  const rows = torchNearestIndices(g, dimOf(g, x, 2), dimOf(g, like, 2));
  const cols = torchNearestIndices(g, dimOf(g, x, 3), dimOf(g, like, 3));
  return g.op1('Gather', [g.op1('Gather', [x, rows], { axis: int(2) }), cols], { axis: int(3) });
}

/**
 * Nearest upsampling of `x` to the spatial size of `like`, with PyTorch's row and column choice.
 * The usual case, exactly twice the size (every level of an input padded to the largest stride),
 * is PyTorch's dst >> 1, which Resize computes exactly (asymmetric, floor, scale 2) in one pass;
 * other size pairs gather PyTorch's indices. An If node picks at run time.
 */
export function nearestTo(g: GraphBuilder, x: Value, like: Value): Value {
  const doubled = (axis: number) => g.op1('Equal', [dimOf(g, like, axis), g.op1('Mul', [dimOf(g, x, axis), g.i64([2])])]);
  const exactlyTwice = g.op1('Squeeze', [g.op1('And', [doubled(2), doubled(3)])]);
  const resize = g.subgraph();
  const resized = resize.op1('Resize', [x, '', resize.f32([1, 1, 2, 2])], { mode: str('nearest'), coordinate_transformation_mode: str('asymmetric'), nearest_mode: str('floor') });
  resize.output(resized, resized, 'float32');
  const gather = g.subgraph();
  const gathered = gatherNearest(gather, x, like);
  gather.output(gathered, gathered, 'float32');
  return g.op1('If', [exactlyTwice], { then_branch: graph(resize.toGraph('upsample_2x', false)), else_branch: graph(gather.toGraph('upsample_gather', false)) });
}

/** F.interpolate(bilinear) to `like`'s size: half-pixel centres (PyTorch's convention) or align_corners. */
function bilinearTo(g: GraphBuilder, x: Value, like: Value, alignCorners: boolean): Value {
  const sizes = g.op1('Concat', [g.op1('Slice', [g.op1('Shape', [x]), g.i64([0]), g.i64([2])]), g.op1('Slice', [g.op1('Shape', [like]), g.i64([2]), g.i64([4])])], { axis: int(0) });
  return g.op1('Resize', [x, '', '', sizes], { mode: str('linear'), coordinate_transformation_mode: str(alignCorners ? 'align_corners' : 'pytorch_half_pixel') });
}

function upsampleTo(ctx: ExportContext, fpn: FPN, x: Value, like: Value): Value {
  const cfg = fpn.cfg.upsample_cfg;
  return cfg.mode === 'bilinear' ? bilinearTo(ctx.graph, x, like, cfg.align_corners ?? false) : nearestTo(ctx.graph, x, like);
}

registerOnnxExporter(FPN, (ctx, fpn, inputs, path) => {
  const g = ctx.graph;
  const { startLevel, usedLevels, extraLevels, backboneEndLevel } = fpn.levels;
  if (inputs.length !== fpn.levels.numIns) ctx.fail(path, `takes ${fpn.levels.numIns} backbone levels, got ${inputs.length}`);
  const laterals = fpn.lateralConvs.map((conv, k) => ctx.emit1(conv, inputs[startLevel + k]!, `${path}.lateral_convs.${k}`));
  const merged = [...laterals];
  g.withScope(`${path}.top_down`, () => {
    for (let i = merged.length - 1; i > 0; i--) merged[i - 1] = g.op1('Add', [merged[i - 1]!, upsampleTo(ctx, fpn, merged[i]!, merged[i - 1]!)]);
  });
  const outs = merged.map((m, k) => ctx.emit1(fpn.fpnConvs[k]!, m, `${path}.fpn_convs.${k}`));
  for (let i = 0; i < extraLevels; i++) {
    const below = outs[outs.length - 1]!;
    const k = usedLevels + i;
    if (!fpn.addExtraConvs) {
      // max_pool2d(kernel 1, stride 2): every other pixel, n -> floor((n - 1) / 2) + 1.
      outs.push(g.withScope(`${path}.extra_pool.${i}`, () => g.op1('MaxPool', [below], { kernel_shape: ints([1, 1]), strides: ints([2, 2]) })));
      continue;
    }
    let source = below;
    if (i === 0 && fpn.addExtraConvs === 'on_input') source = inputs[backboneEndLevel - 1]!;
    else if (i === 0 && fpn.addExtraConvs === 'on_lateral') source = laterals[laterals.length - 1]!;
    else if (i > 0 && fpn.cfg.relu_before_extra_convs) source = g.withScope(`${path}.fpn_convs.${k}`, () => g.op1('Relu', [below]));
    outs.push(ctx.emit1(fpn.fpnConvs[k]!, source, `${path}.fpn_convs.${k}`));
  }
  return outs;
});
