/**
 * The exporter registry: one function per module class that emits that module's ONNX nodes.
 * Lookup walks the class chain, so FasterRCNN uses TwoStageDetector's exporter and a subclass
 * of a plugin inherits its base's unless it registers its own. A third-party module registers
 * its exporter the same way (`registerOnnxExporter(MyPlugin, (ctx, m, [x]) => [...])`); a module
 * without one is an error naming its path in the model.
 */
import type { Module } from '@tsdet/core';
import type { GraphBuilder, Value } from '../graph/graph-builder.js';

/** Emits `module`'s nodes for `inputs` (NCHW values) and returns its output values. */
export type ModuleExporter<M extends Module = Module> = (ctx: ExportContext, module: M, inputs: readonly Value[], path: string) => Value[];

/** What an exporter may know about the export it is part of. */
export interface ExportSettings {
  /** Input spatial sizes are symbolic: nothing may be derived from a concrete size at export time. */
  readonly dynamic: boolean;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- constructors of any signature
type ModuleClass<M extends Module> = abstract new (...args: any[]) => M;

const EXPORTERS = new Map<unknown, ModuleExporter>();

/** Registers (or replaces) the exporter of a module class. */
export function registerOnnxExporter<M extends Module>(moduleClass: ModuleClass<M>, exporter: ModuleExporter<M>): void {
  EXPORTERS.set(moduleClass, exporter as ModuleExporter);
}

/** The exporter of `module`'s class or of its nearest registered base class. */
export function exporterFor(module: Module): ModuleExporter | undefined {
  for (let proto: unknown = Object.getPrototypeOf(module); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    const exporter = EXPORTERS.get((proto as { constructor: unknown }).constructor);
    if (exporter) return exporter;
  }
  return undefined;
}

export class OnnxExportError extends Error {
  override name = 'OnnxExportError';
}

/** The graph being built and the module walk: exporters call `emit` for their children. */
export class ExportContext {
  constructor(
    readonly graph: GraphBuilder,
    readonly settings: ExportSettings,
  ) {}

  /** Emits a child module under its own path; an unregistered module type is an error naming the path. */
  emit(module: Module, inputs: readonly Value[], path: string): Value[] {
    const exporter = exporterFor(module);
    if (!exporter) {
      throw new OnnxExportError(
        `ONNX export: no exporter for ${module.typeName} (class ${module.constructor.name}) at '${path}'; register one with registerOnnxExporter(${module.constructor.name}, (ctx, module, inputs, path) => outputs) from @tsdet/onnx`,
      );
    }
    return this.graph.withScope(path, () => exporter(this, module, inputs, path));
  }

  /** Like emit, for modules with a single input and output. */
  emit1(module: Module, input: Value, path: string): Value {
    const outputs = this.emit(module, [input], path);
    if (outputs.length !== 1) throw new OnnxExportError(`ONNX export: ${module.typeName} at '${path}' produced ${outputs.length} outputs where one was expected`);
    return outputs[0]!;
  }

  /** An error naming the module path, for exporters that meet a setting they cannot express. */
  fail(path: string, message: string): never {
    throw new OnnxExportError(`ONNX export: ${path}: ${message}`);
  }
}
