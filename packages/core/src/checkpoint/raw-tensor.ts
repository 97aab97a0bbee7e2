/**
 * Framework-free tensors as stored in checkpoint files: a dtype, a shape and a typed array in
 * row-major (C) order. float16 and bfloat16 keep their raw bits in a Uint16Array because
 * JavaScript has no matching array type; bool is one byte per element (0 or 1).
 */
export type DType =
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'float64'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

export type TensorData =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array;

export interface RawTensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

interface TypedArrayConstructor {
  readonly BYTES_PER_ELEMENT: number;
  new (length: number): TensorData;
  new (buffer: ArrayBuffer, byteOffset?: number, length?: number): TensorData;
}

const ARRAY_TYPE: Record<DType, TypedArrayConstructor> = {
  float32: Float32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

export const DTYPES = Object.keys(ARRAY_TYPE) as DType[];

// Checkpoint files are little-endian; typed arrays use the host order. Every platform Node runs
// on today is little-endian, so instead of byte-swapping we refuse to run elsewhere.
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function bytesPerElement(dtype: DType): number {
  return ARRAY_TYPE[dtype].BYTES_PER_ELEMENT;
}

/** Number of elements of a shape; `[]` (a scalar) has one. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((product, size) => product * size, 1);
}

/** A zero-filled array of the right type for `length` elements of `dtype`. */
export function allocateData(dtype: DType, length: number): TensorData {
  return new ARRAY_TYPE[dtype](length);
}

/** Whether `data` is the array type that `dtype` is stored in. */
export function dataMatchesDType(data: TensorData, dtype: DType): boolean {
  return data.constructor === ARRAY_TYPE[dtype];
}

/**
 * Typed array of `dtype` holding little-endian `bytes`. By default the bytes are copied: the
 * source is often a view into a larger (possibly pooled) buffer that should not be kept alive,
 * and typed arrays need an offset that is a multiple of their element size. With
 * `copy: false` the result views `bytes` when their alignment allows it.
 */
export function dataFromBytes(dtype: DType, bytes: Uint8Array, { copy = true } = {}): TensorData {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('big-endian hosts are not supported');
  const arrayType = ARRAY_TYPE[dtype];
  const itemSize = arrayType.BYTES_PER_ELEMENT;
  if (bytes.byteLength % itemSize !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  const length = bytes.byteLength / itemSize;
  if (!copy && bytes.byteOffset % itemSize === 0 && bytes.buffer instanceof ArrayBuffer) {
    return new arrayType(bytes.buffer, bytes.byteOffset, length);
  }
  // Not bytes.slice(): on a Node Buffer that is a view of the (pooled) parent, not a copy.
  const copied = new Uint8Array(bytes);
  return new arrayType(copied.buffer, 0, length);
}

/** The bytes of a tensor's data, without copying. */
export function dataAsBytes(data: TensorData): Uint8Array {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('big-endian hosts are not supported');
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

const float32Scratch = new Float32Array(1);
const uint32Scratch = new Uint32Array(float32Scratch.buffer);

/** bfloat16 is the upper half of a float32, so decoding is a shift. */
function bfloat16ToFloat32(bits: number): number {
  uint32Scratch[0] = bits << 16;
  return float32Scratch[0]!;
}

/** IEEE 754 half precision: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. */
function float16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/**
 * The values of any tensor as float32. When the tensor already is float32 its own array is
 * returned (no copy), so treat the result as read-only unless you own the tensor.
 */
export function toFloat32(t: RawTensor): Float32Array {
  const { data, dtype } = t;
  if (dtype === 'float32') return data as Float32Array;
  const out = new Float32Array(data.length);
  if (dtype === 'float16' || dtype === 'bfloat16') {
    const decode = dtype === 'float16' ? float16ToFloat32 : bfloat16ToFloat32;
    for (let i = 0; i < data.length; i++) out[i] = decode((data as Uint16Array)[i]!);
  } else if (data instanceof BigInt64Array) {
    for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
  } else {
    out.set(data as Exclude<TensorData, BigInt64Array>);
  }
  return out;
}

/**
 * The values of an integer or bool tensor as int32 (the tensor's own array when it already is
 * int32). int64 values outside the int32 range throw instead of silently wrapping. Float tensors
 * are refused: rounding is a decision the caller should make explicitly.
 */
export function toInt32(t: RawTensor): Int32Array {
  const { data, dtype } = t;
  if (dtype === 'int32') return data as Int32Array;
  if (dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16' || dtype === 'float64') {
    throw new TypeError(`toInt32: refusing to convert a ${dtype} tensor to int32`);
  }
  const out = new Int32Array(data.length);
  if (data instanceof BigInt64Array) {
    for (let i = 0; i < data.length; i++) {
      const value = data[i]!;
      if (value > 2147483647n || value < -2147483648n) {
        throw new RangeError(`toInt32: int64 value ${value} at index ${i} does not fit in int32`);
      }
      out[i] = Number(value);
    }
  } else {
    out.set(data as Int16Array | Int8Array | Uint8Array);
  }
  return out;
}
