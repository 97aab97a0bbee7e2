/**
 * A small ONNX graph builder: nodes, initializers (weights and constants), graph inputs and
 * outputs, with unique value names scoped by module path (`backbone.layer1.0/Conv_12`), and
 * serialisation to a ModelProto through onnx-buf. Values are plain names; shapes are not
 * tracked here (ONNX Runtime infers them), so exporters compute shape-dependent things with
 * Shape/Gather nodes, which ORT folds away when the input shape is fixed.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataType,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { attributeProto, type Attributes } from './attributes.js';

/** A tensor in the graph, by name. */
export type Value = string;

/** A dimension of a graph input or output: a size, or a symbolic name for a dynamic one. */
export type Dim = number | string;

export type ElementType = 'float32' | 'int64' | 'bool' | 'int32';

const ELEMENT_TYPES: Record<ElementType, TensorProto_DataType> = {
  float32: TensorProto_DataType.FLOAT,
  int64: TensorProto_DataType.INT64,
  bool: TensorProto_DataType.BOOL,
  int32: TensorProto_DataType.INT32,
};

/** ONNX opset the exporters target: RoiAlign's half_pixel needs 16, LayerNormalization 17. */
export const OPSET = 17;
/** IR version 8 goes with opset 17 (ONNX 1.12+); ONNX Runtime 1.30 reads it. */
const IR_VERSION = 8n;

/** Makes names unique across a graph and its subgraphs. */
class NameAllocator {
  readonly #used = new Set<string>();

  has(name: string): boolean {
    return this.#used.has(name);
  }

  take(wanted: string): string {
    let name = wanted;
    for (let k = 1; this.#used.has(name); k++) name = `${wanted}_${k}`;
    this.#used.add(name);
    return name;
  }
}

/** Initializers are shared with subgraphs (an If branch may read any outer value). */
interface SharedState {
  names: NameAllocator;
  initializers: TensorProto[];
  /** Small constants by content, so `1` or `[0]` is one initializer, not hundreds. */
  constants: Map<string, Value>;
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  readonly #state: SharedState;
  #scope = '';

  constructor(state?: SharedState) {
    this.#state = state ?? { names: new NameAllocator(), initializers: [], constants: new Map() };
  }

  /** A builder for a subgraph (If branch) that shares names and initializers with this one. */
  subgraph(): GraphBuilder {
    const sub = new GraphBuilder(this.#state);
    sub.#scope = this.#scope;
    return sub;
  }

  /** Runs `fn` with node names prefixed by `scope` (a module path). */
  withScope<T>(scope: string, fn: () => T): T {
    const saved = this.#scope;
    this.#scope = scope;
    try {
      return fn();
    } finally {
      this.#scope = saved;
    }
  }

  get scope(): string {
    return this.#scope;
  }

  input(name: string, type: ElementType, dims: readonly Dim[]): Value {
    const taken = this.#state.names.take(name);
    if (taken !== name) throw new Error(`ONNX export: graph input name '${name}' is already used`);
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Declares `value` a graph output called `name` (an Identity renames it when needed). */
  output(value: Value, name: string, type: ElementType, dims?: readonly Dim[]): void {
    let outName = value;
    if (value !== name) {
      const taken = this.#state.names.has(name) ? '' : this.#state.names.take(name);
      if (taken !== name) throw new Error(`ONNX export: graph output name '${name}' is already used`);
      this.nodes.push(create(NodeProtoSchema, { opType: 'Identity', input: [value], output: [name], name: `${name}/Identity` }));
      outName = name;
    }
    this.outputs.push(valueInfo(outName, type, dims));
  }

  /** A weight or constant tensor (float32 or int64), stored as raw little-endian data. */
  initializer(hint: string, data: Float32Array | BigInt64Array | Uint8Array, dims: readonly number[], type?: ElementType): Value {
    const name = this.#state.names.take(this.#qualified(hint));
    const elemType = type ?? (data instanceof Float32Array ? 'float32' : data instanceof BigInt64Array ? 'int64' : 'bool');
    const expected = dims.reduce((a, b) => a * b, 1);
    if (data.length !== expected) throw new Error(`ONNX export: initializer ${name} has ${data.length} values for dims [${dims.join(', ')}]`);
    const rawData = new Uint8Array(data.byteLength);
    rawData.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.#state.initializers.push(create(TensorProtoSchema, { name, dims: dims.map((d) => BigInt(d)), dataType: ELEMENT_TYPES[elemType], rawData }));
    return name;
  }

  /** A float32 constant; a bare number is a scalar. */
  f32(values: number | readonly number[] | Float32Array, dims?: readonly number[]): Value {
    const data = typeof values === 'number' ? Float32Array.of(values) : Float32Array.from(values);
    return this.#constant(data, dims ?? (typeof values === 'number' ? [] : [data.length]), 'float32');
  }

  /** An int64 constant; a bare number is a scalar. */
  i64(values: number | readonly number[], dims?: readonly number[]): Value {
    const data = typeof values === 'number' ? BigInt64Array.of(BigInt(values)) : BigInt64Array.from(values, (v) => BigInt(v));
    return this.#constant(data, dims ?? (typeof values === 'number' ? [] : [data.length]), 'int64');
  }

  /** One node; returns its outputs (named after the op and the current scope). */
  op(type: string, inputs: readonly (Value | '')[], attributes: Attributes = {}, outputCount = 1): Value[] {
    const base = this.#qualified(type);
    const name = this.#state.names.take(base);
    const outputs = Array.from({ length: outputCount }, (_, i) => this.#state.names.take(outputCount === 1 ? `${name}:out` : `${name}:out${i}`));
    const attribute = Object.entries(attributes).map(([key, value]) => attributeProto(key, value));
    this.nodes.push(create(NodeProtoSchema, { opType: type, input: [...inputs], output: outputs, name, attribute }));
    return outputs;
  }

  /** A node with one output. */
  op1(type: string, inputs: readonly (Value | '')[], attributes: Attributes = {}): Value {
    return this.op(type, inputs, attributes, 1)[0]!;
  }

  /** This builder's nodes, inputs and outputs as a GraphProto (with the initializers when `root`). */
  toGraph(name: string, root = true): GraphProto {
    return create(GraphProtoSchema, {
      name,
      node: this.nodes,
      input: this.inputs,
      output: this.outputs,
      initializer: root ? this.#state.initializers : [],
    });
  }

  #qualified(hint: string): string {
    return this.#scope ? `${this.#scope}/${hint}` : hint;
  }

  #constant(data: Float32Array | BigInt64Array, dims: readonly number[], type: ElementType): Value {
    if (data.length > 16) return this.initializer('const', data, dims, type);
    const key = `${type}|${dims.join(',')}|${Array.from(data as ArrayLike<number | bigint>, String).join(',')}`;
    const known = this.#state.constants.get(key);
    if (known) return known;
    const saved = this.#scope;
    this.#scope = '';
    try {
      const name = this.initializer(`const_${type}`, data, dims, type);
      this.#state.constants.set(key, name);
      return name;
    } finally {
      this.#scope = saved;
    }
  }
}

/** A value's declared type: element type and dims (symbolic names for dynamic ones). */
export function valueInfo(name: string, type: ElementType, dims?: readonly Dim[]): ValueInfoProto {
  const shape = dims
    ? create(TensorShapeProtoSchema, {
        dim: dims.map((d) => create(TensorShapeProto_DimensionSchema, { value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d } })),
      })
    : undefined;
  const tensorType = create(TypeProto_TensorSchema, { elemType: ELEMENT_TYPES[type], shape });
  return create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }) });
}

export interface ModelMetadata {
  /** Free-form key/value pairs stored in the model (ModelProto.metadata_props). */
  [key: string]: string;
}

/** Serialises a graph as a ModelProto (IR 8, default-domain opset 17). */
export function serializeModel(graph: GraphProto, metadata: ModelMetadata = {}): Uint8Array {
  const model = create(ModelProtoSchema, {
    irVersion: IR_VERSION,
    producerName: 'tsdet',
    producerVersion: '0.1.0',
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(OPSET) })],
    graph,
    metadataProps: Object.entries(metadata).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
  });
  return toBinary(ModelProtoSchema, model);
}
