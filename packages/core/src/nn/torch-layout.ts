/**
 * PyTorch stores weights in its own layouts; tfjs computes NHWC. Each parameter remembers how its
 * PyTorch state-dict tensor maps onto the tfjs tensor, so checkpoints load (and save) unchanged.
 */
export type TorchLayout =
  /** same shape and order (biases, norm vectors, most buffers). */
  | 'same'
  /** conv weight OIHW (torch) <-> HWIO (tfjs conv2d filter). */
  | 'conv2d'
  /** linear weight [out, in] (torch, y = x W^T) <-> dense kernel [in, out]. */
  | 'linear'
  /** [C, 1, 1] (torch, channel-first) <-> [1, 1, C] (channel-last); same data order. */
  | 'channel-vector';

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** The tfjs shape a torch-layout shape becomes. */
export function tfjsShapeOf(layout: TorchLayout, torchShape: readonly number[]): number[] {
  const s = [...torchShape];
  switch (layout) {
    case 'same':
      return s;
    case 'conv2d':
      return [s[2]!, s[3]!, s[1]!, s[0]!];
    case 'linear':
      return [s[1]!, s[0]!];
    case 'channel-vector':
      return [...s.slice(1), s[0]!];
  }
}

/** The torch shape of a tfjs-layout shape (inverse of tfjsShapeOf). */
export function torchShapeOf(layout: TorchLayout, tfShape: readonly number[]): number[] {
  const s = [...tfShape];
  switch (layout) {
    case 'same':
      return s;
    case 'conv2d':
      return [s[3]!, s[2]!, s[0]!, s[1]!];
    case 'linear':
      return [s[1]!, s[0]!];
    case 'channel-vector':
      return [s[s.length - 1]!, ...s.slice(0, -1)];
  }
}

/** Converts torch-layout data to tfjs layout (a copy when the order changes). */
export function torchToTfjs(layout: TorchLayout, t: HostTensor): HostTensor {
  const shape = tfjsShapeOf(layout, t.shape);
  if (layout === 'conv2d') return { shape, data: permute(t.data, t.shape, [2, 3, 1, 0]) };
  if (layout === 'linear') return { shape, data: permute(t.data, t.shape, [1, 0]) };
  return { shape, data: t.data };
}

/** Converts tfjs-layout data back to torch layout. */
export function tfjsToTorch(layout: TorchLayout, t: HostTensor): HostTensor {
  const shape = torchShapeOf(layout, t.shape);
  if (layout === 'conv2d') return { shape, data: permute(t.data, t.shape, [3, 2, 0, 1]) };
  if (layout === 'linear') return { shape, data: permute(t.data, t.shape, [1, 0]) };
  return { shape, data: t.data };
}

/** Row-major transpose of `data` (shape `shape`) by axis permutation `perm`. */
export function permute(data: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = stridesOf(shape);
  const stridesInOutOrder = perm.map((p) => inStrides[p]!);
  const out = new Float32Array(data.length);
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += index[d]! * stridesInOutOrder[d]!;
    out[o] = data[src]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d]! < outShape[d]!) break;
      index[d] = 0;
    }
  }
  return out;
}

function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= shape[d]!;
  }
  return strides;
}
