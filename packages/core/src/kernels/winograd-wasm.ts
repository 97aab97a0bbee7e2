/**
 * The two data transforms of Winograd's F(2x2, 3x3) convolution as wasm SIMD kernels working in
 * place on tfjs-wasm's heap (four channels per vector, channels innermost as in NHWC).
 *
 * Input transform: each 4x4 input tile d (stride 2, zero outside the image) becomes V = Bᵀ d B,
 * written as 16 planes [tiles, C]. Output transform: each 4x4 tile M of the 16 GEMM products
 * [tiles, K] becomes the 2x2 output block Aᵀ M A, plus bias, optionally ReLU.
 *
 *   Bᵀ = | 1  0 -1  0 |     Aᵀ = | 1  1  1  0 |
 *        | 0  1  1  0 |          | 0  1 -1 -1 |
 *        | 0 -1  1  0 |
 *        | 0  1  0 -1 |
 */
import type { FunctionBuilder, Local } from './wasm-emitter.js';

/** Rows of Bᵀ as (a, sign, b): row i combines input rows a and b as d[a] ± d[b]. */
const INPUT_COMBOS: readonly (readonly [number, 1 | -1, number])[] = [
  [0, -1, 2],
  [1, 1, 2],
  [2, -1, 1],
  [1, -1, 3],
];

/** Rows of Aᵀ as signed terms over the four tile rows. */
const OUTPUT_COMBOS: readonly (readonly [number, 1 | -1][])[] = [
  [[0, 1], [1, 1], [2, 1]],
  [[1, 1], [2, -1], [3, -1]],
];

/** Parameters of `inputTransform`, in order (all i32; byte pointers and counts). */
const INPUT_PARAMS = ['x', 'zero', 'height', 'width', 'channelBytes', 'tilesWide', 'padTop', 'padLeft', 'tileRowBegin', 'tileRowEnd', 'tileBase'] as const;
/** Parameters of `outputTransform*`, in order, before the 16 plane pointers. */
const OUTPUT_PARAMS = ['y', 'dummy', 'bias', 'height', 'width', 'channelBytes', 'tilesWide', 'tileRowBegin', 'tileRowEnd', 'tileBase'] as const;

type Params<Names extends readonly string[]> = Record<Names[number], Local>;

function namedParams<Names extends readonly string[]>(fn: FunctionBuilder, names: Names): [Params<Names>, Local[]] {
  const named = Object.fromEntries(names.map((name, i) => [name, fn.params[i]])) as Params<Names>;
  return [named, fn.params.slice(names.length)];
}

/** origin + i for the tile index t: 2 t - pad + i (pad omitted: 0). */
function emitLine(fn: FunctionBuilder, t: Local, pad: Local | undefined, i: number): FunctionBuilder {
  fn.get(t).i32(2).mul();
  if (pad) fn.get(pad).sub();
  return fn.i32(i).add();
}

/**
 * For the tile rows (input rows 2 ty - pad + i, or output rows 2 ty + i): ok[i] = the row lies in
 * 0..height-1 (one unsigned compare, negative rows included), ptr[i] = base + row * rowStride.
 */
function emitRows(fn: FunctionBuilder, a: { ty: Local; pad?: Local; height: Local; base: Local; rowStride: Local; ptr: Local[]; ok: Local[]; scratch: Local }): void {
  a.ptr.forEach((ptr, i) => {
    emitLine(fn, a.ty, a.pad, i).set(a.scratch);
    fn.get(a.scratch).get(a.height).ltU().set(a.ok[i]!);
    fn.get(a.base).get(a.scratch).get(a.rowStride).mul().add().set(ptr);
  });
}

/** cells[i][j] = row i and column 2 tx - pad + j both inside ? rowPtr[i] + column * channelBytes : fallback. */
function emitCells(fn: FunctionBuilder, a: { tx: Local; pad?: Local; width: Local; channelBytes: Local; rowPtr: Local[]; rowOk: Local[]; fallback: Local; cells: Local[][]; column: Local; columnOk: Local }): void {
  for (let j = 0; j < a.cells[0]!.length; j++) {
    emitLine(fn, a.tx, a.pad, j).set(a.column);
    fn.get(a.column).get(a.width).ltU().set(a.columnOk);
    a.rowPtr.forEach((rowPtr, i) => {
      fn.get(rowPtr).get(a.column).get(a.channelBytes).mul().add();
      fn.get(a.fallback);
      fn.get(a.rowOk[i]!).get(a.columnOk).and();
      fn.select().set(a.cells[i]![j]!);
    });
  }
}

/** offset = ((ty - tileBase) * tilesWide + tx) * channelBytes: the tile's row in every plane. */
function emitTileOffset(fn: FunctionBuilder, ty: Local, tileBase: Local, tilesWide: Local, tx: Local, channelBytes: Local, offset: Local): void {
  fn.get(ty).get(tileBase).sub().get(tilesWide).mul().get(tx).add().get(channelBytes).mul().set(offset);
}

/**
 * inputTransform(x, zero, H, W, C*4, tilesWide, padTop, padLeft, tileRowBegin, tileRowEnd, tileBase, plane0..15)
 * For tile rows [begin, end): tile (ty, tx) reads input rows 2ty - padTop + 0..3 and columns
 * 2tx - padLeft + 0..3 (outside the image: the `zero` buffer, at least C floats of zeros) and writes
 * plane k at ((ty - tileBase) * tilesWide + tx) * C.
 */
function buildInputTransform(fn: FunctionBuilder): void {
  const [p, planes] = namedParams(fn, INPUT_PARAMS);
  const rowStride = fn.local('i32');
  const ty = fn.local('i32');
  const tx = fn.local('i32');
  const ix = fn.local('i32');
  const offset = fn.local('i32');
  const c4 = fn.local('i32');
  const rowPtr = [0, 1, 2, 3].map(() => fn.local('i32'));
  const rowOk = [0, 1, 2, 3].map(() => fn.local('i32'));
  const colOk = fn.local('i32');
  const tile = [0, 1, 2, 3].map(() => [0, 1, 2, 3].map(() => fn.local('i32')));
  const t = [0, 1, 2, 3].map(() => fn.local('v128'));

  fn.get(p.width).get(p.channelBytes).mul().set(rowStride);
  fn.get(p.tileRowBegin).set(ty);
  fn.forLoop(ty, p.tileRowEnd, 1, () => {
    emitRows(fn, { ty, pad: p.padTop, height: p.height, base: p.x, rowStride, ptr: rowPtr, ok: rowOk, scratch: offset });
    fn.i32(0).set(tx);
    fn.forLoop(tx, p.tilesWide, 1, () => {
      emitCells(fn, { tx, pad: p.padLeft, width: p.width, channelBytes: p.channelBytes, rowPtr, rowOk, fallback: p.zero, cells: tile, column: ix, columnOk: colOk });
      emitTileOffset(fn, ty, p.tileBase, p.tilesWide, tx, p.channelBytes, offset);
      fn.i32(0).set(c4);
      fn.forLoop(c4, p.channelBytes, 16, () => {
        INPUT_COMBOS.forEach(([a, sign, b], i) => {
          // t[j] = (Bᵀ d)[i][j] for the four columns j.
          for (let j = 0; j < 4; j++) {
            fn.get(tile[a]![j]!).get(c4).add().v128Load();
            fn.get(tile[b]![j]!).get(c4).add().v128Load();
            fn.f32x4AddSigned(sign).set(t[j]!);
          }
          INPUT_COMBOS.forEach(([ca, csign, cb], j) => {
            fn.get(planes[4 * i + j]!).get(offset).add().get(c4).add();
            fn.get(t[ca]!).get(t[cb]!).f32x4AddSigned(csign).v128Store();
          });
        });
      });
    });
  });
}

/**
 * outputTransform(y, dummy, bias, Ho, Wo, K*4, tilesWide, tileRowBegin, tileRowEnd, tileBase, plane0..15)
 * Writes output rows 2ty + 0..1, columns 2tx + 0..1 (those past the output go to `dummy`, at least K
 * floats of scratch) from plane k at ((ty - tileBase) * tilesWide + tx) * K.
 */
function buildOutputTransform(relu: boolean) {
  return (fn: FunctionBuilder): void => {
    const [p, planes] = namedParams(fn, OUTPUT_PARAMS);
    const rowStride = fn.local('i32');
    const ty = fn.local('i32');
    const tx = fn.local('i32');
    const ox = fn.local('i32');
    const offset = fn.local('i32');
    const k4 = fn.local('i32');
    const colOk = fn.local('i32');
    const rowPtr = [0, 1].map(() => fn.local('i32'));
    const rowOk = [0, 1].map(() => fn.local('i32'));
    const out = [0, 1].map(() => [0, 1].map(() => fn.local('i32')));
    const bias = fn.local('v128');
    const zero = fn.local('v128');
    const s = [0, 1, 2, 3].map(() => fn.local('v128'));

    fn.f32(0).f32x4Splat().set(zero);
    fn.get(p.width).get(p.channelBytes).mul().set(rowStride);
    fn.get(p.tileRowBegin).set(ty);
    fn.forLoop(ty, p.tileRowEnd, 1, () => {
      emitRows(fn, { ty, height: p.height, base: p.y, rowStride, ptr: rowPtr, ok: rowOk, scratch: offset });
      fn.i32(0).set(tx);
      fn.forLoop(tx, p.tilesWide, 1, () => {
        emitCells(fn, { tx, width: p.width, channelBytes: p.channelBytes, rowPtr, rowOk, fallback: p.dummy, cells: out, column: ox, columnOk: colOk });
        emitTileOffset(fn, ty, p.tileBase, p.tilesWide, tx, p.channelBytes, offset);
        fn.i32(0).set(k4);
        fn.forLoop(k4, p.channelBytes, 16, () => {
          fn.get(p.bias).get(k4).add().v128Load().set(bias);
          OUTPUT_COMBOS.forEach((rowTerms, i) => {
            // s[b] = (Aᵀ M)[i][b] for the four tile columns b.
            for (let b = 0; b < 4; b++) {
              rowTerms.forEach(([a, sign], n) => {
                fn.get(planes[4 * a + b]!).get(offset).add().get(k4).add().v128Load();
                if (n > 0) fn.f32x4AddSigned(sign);
              });
              fn.set(s[b]!);
            }
            OUTPUT_COMBOS.forEach((colTerms, j) => {
              fn.get(out[i]![j]!).get(k4).add();
              fn.get(bias);
              for (const [b, sign] of colTerms) {
                fn.get(s[b]!).f32x4AddSigned(sign);
              }
              if (relu) fn.get(zero).f32x4Pmax();
              fn.v128Store();
            });
          });
        });
      });
    });
  };
}

export interface WinogradTransforms {
  inputTransform(...args: number[]): void;
  outputTransformLinear(...args: number[]): void;
  outputTransformRelu(...args: number[]): void;
}

const i32s = (n: number) => Array.from({ length: n }, () => 'i32' as const);

/** The module's functions, for kernelModule (wasm-backend.ts). */
export const WINOGRAD_FUNCTIONS = [
  { name: 'inputTransform', params: i32s(INPUT_PARAMS.length + 16), build: buildInputTransform },
  { name: 'outputTransformLinear', params: i32s(OUTPUT_PARAMS.length + 16), build: buildOutputTransform(false) },
  { name: 'outputTransformRelu', params: i32s(OUTPUT_PARAMS.length + 16), build: buildOutputTransform(true) },
];
