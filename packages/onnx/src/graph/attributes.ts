/**
 * Typed ONNX node attributes. A plain number cannot say whether it is an INT or a FLOAT
 * attribute (alpha 1 vs axis 1), so every attribute is built with one of these helpers.
 */
import { create } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType, AttributeProtoSchema, type AttributeProto, type GraphProto } from 'onnx-buf';

export type Attribute =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'graph'; value: GraphProto };

export type Attributes = Readonly<Record<string, Attribute>>;

export const int = (value: number): Attribute => ({ kind: 'int', value });
export const float = (value: number): Attribute => ({ kind: 'float', value });
export const str = (value: string): Attribute => ({ kind: 'string', value });
export const ints = (value: readonly number[]): Attribute => ({ kind: 'ints', value });
export const floats = (value: readonly number[]): Attribute => ({ kind: 'floats', value });
export const graph = (value: GraphProto): Attribute => ({ kind: 'graph', value });

const encoder = new TextEncoder();

export function attributeProto(name: string, attribute: Attribute): AttributeProto {
  switch (attribute.kind) {
    case 'int':
      return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(attribute.value) });
    case 'float':
      return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.FLOAT, f: attribute.value });
    case 'string':
      return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.STRING, s: encoder.encode(attribute.value) });
    case 'ints':
      return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INTS, ints: attribute.value.map((v) => BigInt(v)) });
    case 'floats':
      return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.FLOATS, floats: [...attribute.value] });
    case 'graph':
      return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.GRAPH, g: attribute.value });
  }
}
