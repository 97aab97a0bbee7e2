/**
 * Exports a backbone, neck or any registered module with NCHW tensor inputs and outputs (a
 * fixture case's `input` / `input.i` -> `output.i`) as an ONNX model.
 */
import type { Module } from '@tsdet/core';
import type { TwoStageDetector } from '@tsdet/models';
import { GraphBuilder, serializeModel, type Dim } from '../graph/graph-builder.js';
import { ExportContext } from './registry.js';
import './exporters.js';

export interface ModuleExportOptions {
  /** One NCHW shape per input ([N, C, H, W]). */
  inputShapes: readonly (readonly number[])[];
  /** Input names (default `input` for one input, else `input.0`, `input.1`, ...). */
  inputNames?: readonly string[];
  /** Batch and spatial sizes symbolic: the model accepts any N, H, W (default false). */
  dynamic?: boolean;
  /** The module's path, named in errors and in node names (default 'model'). */
  path?: string;
}

export interface ExportedModel {
  /** The serialised ModelProto. */
  bytes: Uint8Array;
  inputNames: string[];
  outputNames: string[];
}

function defaultInputNames(count: number): string[] {
  return count === 1 ? ['input'] : Array.from({ length: count }, (_, i) => `input.${i}`);
}

/** The symbolic or fixed dims of input `index`. */
function inputDims(shape: readonly number[], index: number, dynamic: boolean): Dim[] {
  if (!dynamic) return [...shape];
  return shape.map((d, axis) => (axis === 1 ? d : `${['batch', '', 'height', 'width'][axis]}_${index}`));
}

/** Walks `module` through the exporter registry; outputs are named `output.0`, `output.1`, ... */
export function exportModule(module: Module, options: ModuleExportOptions): ExportedModel {
  const dynamic = options.dynamic ?? false;
  const graph = new GraphBuilder();
  const ctx = new ExportContext(graph, { dynamic });
  const inputNames = [...(options.inputNames ?? defaultInputNames(options.inputShapes.length))];
  const inputs = options.inputShapes.map((shape, i) => graph.input(inputNames[i]!, 'float32', inputDims(shape, i, dynamic)));
  const outputs = ctx.emit(module, inputs, options.path ?? 'model');
  const outputNames = outputs.map((_, i) => `output.${i}`);
  outputs.forEach((value, i) => graph.output(value, outputNames[i]!, 'float32'));
  const bytes = serializeModel(graph.toGraph(module.typeName), { 'tsdet.kind': 'module', 'tsdet.module': module.typeName });
  return { bytes, inputNames, outputNames };
}

export interface FeatureExportOptions {
  /** Backbone then neck (true), or the backbone alone. */
  withNeck: boolean;
  /** Fixed [H, W] of the (normalised, padded) input; symbolic when dynamic or absent. */
  inputSize?: readonly [number, number];
  dynamic?: boolean;
}

/** A detector's backbone (and neck): `input` [1, 3, H, W] -> `output.i` per level (NCHW). */
export function exportFeatures(detector: TwoStageDetector, options: FeatureExportOptions): ExportedModel {
  const dynamic = options.dynamic ?? !options.inputSize;
  const graph = new GraphBuilder();
  const ctx = new ExportContext(graph, { dynamic });
  const channels = (detector.backbone as unknown as { cfg?: { in_channels?: number } }).cfg?.in_channels ?? 3;
  const input = graph.input('input', 'float32', dynamic ? ['batch', channels, 'height', 'width'] : [1, channels, ...options.inputSize!]);
  const backbone = ctx.emit(detector.backbone, [input], 'backbone');
  const outputs = options.withNeck && detector.neck ? ctx.emit(detector.neck, backbone, 'neck') : backbone;
  const outputNames = outputs.map((_, i) => `output.${i}`);
  outputs.forEach((value, i) => graph.output(value, outputNames[i]!, 'float32'));
  const bytes = serializeModel(graph.toGraph(options.withNeck ? 'features' : 'backbone'), { 'tsdet.kind': options.withNeck ? 'features' : 'backbone' });
  return { bytes, inputNames: ['input'], outputNames };
}
