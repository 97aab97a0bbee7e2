/**
 * The ResNet plugins in ONNX, following mmcv's NCHW forwards (mmdet-reference §2):
 * ContextBlock, GeneralizedAttention (all four energy terms, kv/q strides, local constraint),
 * NonLocal2d (every mode, sub_sample) and DropBlock (the identity outside training). Sizes that
 * depend on the input (positions, the relative position embedding) are computed in the graph,
 * so the same export serves fixed and dynamic input shapes.
 */
import {
  ContextBlock,
  ContextTransform,
  DropBlock,
  GeneralizedAttention,
  MaxPool2d,
  NonLocal2d,
  PooledConv,
} from '@tsdet/models';
import { int, ints, str } from '../graph/attributes.js';
import type { GraphBuilder, Value } from '../graph/graph-builder.js';
import { dimOf } from './fpn.js';
import { weightValue } from './layers.js';
import { registerOnnxExporter, type ExportContext } from './registry.js';

/** One dimension of a reshape target: a fixed size or a [1] int64 value computed in the graph. */
type DimValue = number | Value;

/** Reshape to dims given as numbers and graph values (0 keeps the input's size, -1 infers). */
export function reshape(g: GraphBuilder, x: Value, dims: readonly DimValue[]): Value {
  if (dims.every((d) => typeof d === 'number')) return g.op1('Reshape', [x, g.i64(dims as number[])]);
  const parts = dims.map((d) => (typeof d === 'number' ? g.i64([d]) : d));
  return g.op1('Reshape', [x, g.op1('Concat', parts, { axis: int(0) })]);
}

const transpose = (g: GraphBuilder, x: Value, perm: number[]): Value => g.op1('Transpose', [x], { perm: ints(perm) });

/** x[:, :, ::s, ::s]: nn.AvgPool2d(1, s) is plain strided subsampling. */
function strided(g: GraphBuilder, x: Value, stride: number): Value {
  if (stride <= 1) return x;
  return g.op1('Slice', [x, g.i64([0, 0]), g.i64([2 ** 62, 2 ** 62]), g.i64([2, 3]), g.i64([stride, stride])]);
}

// ---------------------------------------------------------------- ContextBlock

registerOnnxExporter(ContextTransform, (ctx, t, [x], path) => {
  const h = ctx.emit1(t.norm, ctx.emit1(t.squeeze, x!, `${path}.0`), `${path}.1`);
  return [ctx.emit1(t.expand, ctx.graph.op1('Relu', [h]), `${path}.3`)];
});

/** The [N, C, 1, 1] context: attention-weighted sum over positions ('att') or the mean ('avg'). */
function spatialPool(ctx: ExportContext, block: ContextBlock, x: Value, path: string): Value {
  const g = ctx.graph;
  if (!block.convMask) return g.op1('ReduceMean', [x], { axes: ints([2, 3]), keepdims: int(1) });
  const weights = g.op1('Softmax', [reshape(g, ctx.emit1(block.convMask, x, `${path}.conv_mask`), [0, 1, -1])], { axis: int(2) });
  const context = g.op1('MatMul', [reshape(g, x, [0, 0, -1]), transpose(g, weights, [0, 2, 1])]);
  return g.op1('Unsqueeze', [context, g.i64([3])]);
}

registerOnnxExporter(ContextBlock, (ctx, block, [x], path) => {
  const g = ctx.graph;
  const context = spatialPool(ctx, block, x!, path);
  let out = x!;
  // mmcv multiplies first, then adds.
  if (block.channelMulConv) out = g.op1('Mul', [out, g.op1('Sigmoid', [ctx.emit1(block.channelMulConv, context, `${path}.channel_mul_conv`)])]);
  if (block.channelAddConv) out = g.op1('Add', [out, ctx.emit1(block.channelAddConv, context, `${path}.channel_add_conv`)]);
  return [out];
});

// ---------------------------------------------------------------- GeneralizedAttention

interface AttentionGrid {
  n: Value;
  h: Value;
  w: Value;
  hKv: Value;
  wKv: Value;
}

/**
 * mmcv's get_position_embedding along one axis, in the graph: delta = (i * q_stride - j *
 * kv_stride) * magnitude, then [sin(delta / f_k)..., cos(delta / f_k)...] with f_k =
 * 1000^((4 / dim) * k) rounded to float32 as torch's tensors are. -> [size, sizeKv, dim / 2].
 */
function positionEmbedding(g: GraphBuilder, ga: GeneralizedAttention, size: Value, sizeKv: Value): Value {
  const f32 = Math.fround;
  const featDim = ga.positionEmbeddingDim;
  const step = f32(4 / featDim);
  const freqs = Array.from({ length: featDim / 4 }, (_, k) => f32(Math.pow(1000, f32(step * k))));
  const indices = (count: Value, stride: number) => g.op1('Mul', [g.op1('Cast', [g.op1('Range', [g.i64(0), g.op1('Squeeze', [count]), g.i64(1)])], { to: int(1) }), g.f32(stride)]);
  const rows = g.op1('Unsqueeze', [indices(size, ga.qStride), g.i64([1])]);
  const cols = g.op1('Unsqueeze', [indices(sizeKv, ga.kvStride), g.i64([0])]);
  const delta = g.op1('Mul', [g.op1('Sub', [rows, cols]), g.f32(ga.positionMagnitude)]);
  const phase = g.op1('Div', [g.op1('Unsqueeze', [delta, g.i64([2])]), g.f32(freqs, [1, 1, freqs.length])]);
  return g.op1('Concat', [g.op1('Sin', [phase]), g.op1('Cos', [phase])], { axis: int(2) });
}

/** appr_geom_fc(embedding) / sqrt(2) as [1, heads, size, sizeKv, d]. */
function positionFeatures(ctx: ExportContext, ga: GeneralizedAttention, axis: 'x' | 'y', size: Value, sizeKv: Value, path: string): Value {
  const g = ctx.graph;
  const fc = axis === 'x' ? ga.apprGeomFcX! : ga.apprGeomFcY!;
  const weightT = g.withScope(`${path}.appr_geom_fc_${axis}`, () => weightValue(ctx, 'weight_t', fc.weight));
  const features = g.op1('MatMul', [positionEmbedding(g, ga, size, sizeKv), weightT]);
  const perHead = transpose(g, reshape(g, features, [1, size, sizeKv, ga.numHeads, ga.qkEmbedDim]), [0, 3, 1, 2, 4]);
  return g.op1('Div', [perHead, g.f32(Math.SQRT2)]);
}

/** appr_bias or geom_bias viewed as [1, heads, 1, d]. */
function headBias(ctx: ExportContext, ga: GeneralizedAttention, which: 'appr_bias' | 'geom_bias'): Value {
  const variable = which === 'appr_bias' ? ga.apprBias! : ga.geomBias!;
  const data = Float32Array.from(variable.dataSync());
  return ctx.graph.initializer(which, data, [1, ga.numHeads, 1, ga.qkEmbedDim]);
}

/** The relative-position energy, broadcastable to [N, heads, h, w, h_kv, w_kv]. */
function positionEnergy(ctx: ExportContext, ga: GeneralizedAttention, query: Value | undefined, grid: AttentionGrid, path: string): Value {
  const g = ctx.graph;
  const posX = positionFeatures(ctx, ga, 'x', grid.w, grid.wKv, path); // [1, heads, w, w_kv, d]
  const posY = positionFeatures(ctx, ga, 'y', grid.h, grid.hKv, path); // [1, heads, h, h_kv, d]
  const heads = ga.numHeads;
  const d = ga.qkEmbedDim;
  if (!ga.terms.appearancePosition) {
    const bias = transpose(g, headBias(ctx, ga, 'geom_bias'), [0, 1, 3, 2]); // [1, heads, d, 1]
    const energyX = g.op1('MatMul', [reshape(g, posX, [1, heads, -1, d]), bias]);
    const energyY = g.op1('MatMul', [reshape(g, posY, [1, heads, -1, d]), bias]);
    return g.op1('Add', [reshape(g, energyX, [1, heads, 1, grid.w, 1, grid.wKv]), reshape(g, energyY, [1, heads, grid.h, 1, grid.hKv, 1])]);
  }
  const withBias = ga.geomBias ? g.op1('Add', [query!, headBias(ctx, ga, 'geom_bias')]) : query!;
  const q5 = reshape(g, withBias, [grid.n, heads, grid.h, grid.w, d]);
  const energyX = transpose(g, g.op1('MatMul', [transpose(g, q5, [0, 1, 3, 2, 4]), transpose(g, posX, [0, 1, 2, 4, 3])]), [0, 1, 3, 2, 4]);
  const energyY = g.op1('MatMul', [q5, transpose(g, posY, [0, 1, 2, 4, 3])]);
  return g.op1('Add', [g.op1('Unsqueeze', [energyX, g.i64([4])]), g.op1('Unsqueeze', [energyY, g.i64([5])])]);
}

/** The attention logits [N, heads, Pq, Pkv] ([N, heads, 1, Pkv] when only bias . key is on). */
function attentionEnergy(ctx: ExportContext, ga: GeneralizedAttention, xQ: Value, xKv: Value, grid: AttentionGrid, path: string): Value {
  const g = ctx.graph;
  const heads = ga.numHeads;
  const d = ga.qkEmbedDim;
  const query = ga.queryConv ? transpose(g, reshape(g, ctx.emit1(ga.queryConv, xQ, `${path}.query_conv`), [0, heads, d, -1]), [0, 1, 3, 2]) : undefined;
  const key = ga.keyConv ? reshape(g, ctx.emit1(ga.keyConv, xKv, `${path}.key_conv`), [0, heads, d, -1]) : undefined;
  if (ga.saliencyOnly) return g.op1('MatMul', [headBias(ctx, ga, 'appr_bias'), key!]);
  const full = [grid.n, heads, grid.h, grid.w, grid.hKv, grid.wKv];
  let energy: Value | undefined;
  if (ga.terms.appearance) {
    const withBias = ga.apprBias ? g.op1('Add', [query!, headBias(ctx, ga, 'appr_bias')]) : query!;
    energy = reshape(g, g.op1('MatMul', [withBias, key!]), full);
  } else if (ga.terms.biasAppearance) {
    energy = reshape(g, g.op1('MatMul', [headBias(ctx, ga, 'appr_bias'), key!]), [grid.n, heads, 1, 1, grid.hKv, grid.wKv]);
  }
  if (ga.usesPosition) {
    const positional = positionEnergy(ctx, ga, query, grid, path);
    energy = energy ? g.op1('Add', [energy, positional]) : positional;
  }
  const fullShape = g.op1('Concat', full.map((v) => (typeof v === 'number' ? g.i64([v]) : v)), { axis: int(0) });
  return reshape(g, g.op1('Expand', [energy!, fullShape]), [0, heads, g.op1('Mul', [grid.h, grid.w]), g.op1('Mul', [grid.hKv, grid.wKv])]);
}

/** Logits outside each query's window set to -inf (mmcv's masked_fill_ with local_constraint_map). */
function localConstraint(ctx: ExportContext, ga: GeneralizedAttention, energy: Value, grid: AttentionGrid, path: string): Value {
  const g = ctx.graph;
  const map = ga.localConstraintMap!;
  const mapValue = g.withScope(path, () => g.initializer('local_constraint_map', Uint8Array.from(map.dataSync()), map.shape, 'bool'));
  const [h, w] = ga.saliencyOnly ? [g.i64([1]), g.i64([1])] : [grid.h, grid.w];
  const ends = g.op1('Concat', [h, w, grid.hKv, grid.wKv], { axis: int(0) });
  const window = g.op1('Slice', [mapValue, g.i64([0, 0, 0, 0]), ends]);
  const outside = reshape(g, window, [1, 1, g.op1('Mul', [h, w]), g.op1('Mul', [grid.hKv, grid.wKv])]);
  return g.op1('Where', [outside, g.f32(-Infinity), energy]);
}

registerOnnxExporter(GeneralizedAttention, (ctx, ga, [x], path) => {
  const g = ctx.graph;
  const xQ = strided(g, x!, ga.qStride);
  const xKv = strided(g, x!, ga.kvStride);
  const grid: AttentionGrid = { n: dimOf(g, xQ, 0), h: dimOf(g, xQ, 2), w: dimOf(g, xQ, 3), hKv: dimOf(g, xKv, 2), wKv: dimOf(g, xKv, 3) };
  let energy = attentionEnergy(ctx, ga, xQ, xKv, grid, path);
  if (ga.localConstraintMap) energy = localConstraint(ctx, ga, energy, grid, path);
  const attention = g.op1('Softmax', [energy], { axis: int(3) });
  const value = transpose(g, reshape(g, ctx.emit1(ga.valueConv, xKv, `${path}.value_conv`), [0, ga.numHeads, ga.vDim, -1]), [0, 1, 3, 2]);
  const attended = transpose(g, g.op1('MatMul', [attention, value]), [0, 1, 3, 2]);
  const [outH, outW] = ga.saliencyOnly ? [1, 1] : [grid.h, grid.w];
  let out = ctx.emit1(ga.projConv, reshape(g, attended, [0, ga.vDim * ga.numHeads, outH, outW]), `${path}.proj_conv`);
  if (ga.qStride > 1) {
    const sizes = g.op1('Shape', [x!]);
    out = g.op1('Resize', [out, '', '', sizes], { mode: str('linear'), coordinate_transformation_mode: str('pytorch_half_pixel') });
  }
  const gamma = g.withScope(path, () => weightValue(ctx, 'gamma', ga.gamma));
  return [g.op1('Add', [g.op1('Mul', [gamma, out]), x!])];
});

// ---------------------------------------------------------------- NonLocal2d

registerOnnxExporter(MaxPool2d, (ctx, pool, [x]) => [ctx.graph.op1('MaxPool', [x!], { kernel_shape: ints(pool.kernelSize), strides: ints(pool.kernelSize) })]);

registerOnnxExporter(PooledConv, (ctx, seq, [x], path) => [ctx.emit1(seq.pool, ctx.emit1(seq.conv, x!, `${path}.0`), `${path}.1`)]);

/** [N, C, H, W] -> [N, C, H * W]. */
const flatten = (g: GraphBuilder, x: Value): Value => reshape(g, x, [0, 0, -1]);

/** mmcv's pairwise_weight [N, P, P'] for the block's mode. */
function pairwiseWeight(ctx: ExportContext, block: NonLocal2d, x: Value, path: string): Value {
  const g = ctx.graph;
  if (block.mode === 'gaussian') {
    const theta = transpose(g, flatten(g, x), [0, 2, 1]);
    const phi = flatten(g, block.phi ? ctx.emit1(block.phi, x, `${path}.phi`) : x);
    return g.op1('Softmax', [g.op1('MatMul', [theta, phi])], { axis: int(-1) });
  }
  const thetaMap = flatten(g, ctx.emit1(block.theta!, x, `${path}.theta`)); // [N, inter, P]
  const phiMap = flatten(g, ctx.emit1(block.phi!, x, `${path}.phi`)); // [N, inter, P']
  if (block.mode === 'concatenation') return concatenationWeight(ctx, block, thetaMap, phiMap, path);
  const product = g.op1('MatMul', [transpose(g, thetaMap, [0, 2, 1]), phiMap]);
  if (block.mode === 'dot_product') return g.op1('Div', [product, g.op1('Cast', [dimOf(g, product, 2)], { to: int(1) })]);
  const logits = block.useScale ? g.op1('Div', [product, g.f32(Math.sqrt(block.interChannels))]) : product;
  return g.op1('Softmax', [logits], { axis: int(-1) });
}

/** concat_project([theta_i, phi_j]) over every pair, divided by P'. */
function concatenationWeight(ctx: ExportContext, block: NonLocal2d, theta: Value, phi: Value, path: string): Value {
  const g = ctx.graph;
  const p = dimOf(g, theta, 2);
  const pKv = dimOf(g, phi, 2);
  const grid = g.op1('Concat', [g.op1('Slice', [g.op1('Shape', [theta]), g.i64([0]), g.i64([2])]), p, pKv], { axis: int(0) });
  const thetaGrid = g.op1('Expand', [g.op1('Unsqueeze', [theta, g.i64([3])]), grid]);
  const phiGrid = g.op1('Expand', [g.op1('Unsqueeze', [phi, g.i64([2])]), grid]);
  const projected = ctx.emit1(block.concatProject!, g.op1('Concat', [thetaGrid, phiGrid], { axis: int(1) }), `${path}.concat_project`);
  return g.op1('Div', [g.op1('Squeeze', [projected, g.i64([1])]), g.op1('Cast', [pKv], { to: int(1) })]);
}

registerOnnxExporter(NonLocal2d, (ctx, block, [x], path) => {
  const g = ctx.graph;
  const gX = transpose(g, flatten(g, ctx.emit1(block.g, x!, `${path}.g`)), [0, 2, 1]); // [N, P', inter]
  const y = g.op1('MatMul', [pairwiseWeight(ctx, block, x!, path), gX]); // [N, P, inter]
  const shape = g.op1('Concat', [g.op1('Slice', [g.op1('Shape', [x!]), g.i64([0]), g.i64([1])]), g.i64([block.interChannels]), g.op1('Slice', [g.op1('Shape', [x!]), g.i64([2]), g.i64([4])])], { axis: int(0) });
  const yMap = g.op1('Reshape', [transpose(g, y, [0, 2, 1]), shape]);
  return [g.op1('Add', [x!, ctx.emit1(block.convOut, yMap, `${path}.conv_out`)])];
});

// ---------------------------------------------------------------- DropBlock

registerOnnxExporter(DropBlock, (ctx, block, [x], path) => {
  if (block.training) ctx.fail(path, 'DropBlock in training mode draws random masks; export the model in eval mode (where it is the identity)');
  return [ctx.graph.op1('Identity', [x!])];
});
