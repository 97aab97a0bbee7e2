/**
 * tools/infer.ts on ONNX Runtime: the config's test pipeline and drawing as on tfjs, the
 * detector an exported model (OnnxDetector). Mirrors @tsdet/data's inferImage step for step;
 * the only difference is that ORT's test step is asynchronous.
 */
import fs from 'node:fs';
import { writeFileAtomic, type PreparedConfig } from '@tsdet/core';
import {
  collateDetSamples,
  detectionRecord,
  displayPath,
  drawDetections,
  formatRecord,
  InferencePipeline,
  numClassesOf,
  outputFiles,
  resolveClassNames,
  testPipelineConfig,
  type ClassNames,
  type ImageOutputOptions,
  type InferredImage,
  type Timing,
} from '@tsdet/data';
import { OnnxDetector } from './onnx-detector.js';
import type { OrtSessionOptions } from './ort-session.js';

export interface OnnxInferenceSession {
  readonly detector: OnnxDetector;
  readonly pipeline: InferencePipeline;
  readonly classNames: ClassNames;
  /** The .onnx file that was loaded. */
  readonly checkpointFile: string;
  dispose(): Promise<void>;
}

/** The config's test pipeline and class names with an exported detector (`model.onnx` + `.json`). */
export async function createOnnxInferenceSession(prepared: PreparedConfig, modelFile: string, options: OrtSessionOptions = {}): Promise<OnnxInferenceSession> {
  const configFile = prepared.config.filename ?? 'config';
  const sourceOf = (path: string) => prepared.config.sourceOf(path);
  const pipeline = new InferencePipeline(testPipelineConfig(prepared.resolved, displayPath(configFile)), { sourceOf, file: displayPath(configFile) });
  const detector = await OnnxDetector.load(modelFile, options);
  const numClasses = numClassesOf(prepared.resolved) ?? detector.info.num_classes;
  if (numClasses !== detector.info.num_classes) {
    await detector.dispose();
    throw new Error(`${modelFile} was exported for ${detector.info.num_classes} classes, config ${displayPath(configFile)} has ${numClasses}`);
  }
  // The export kept the names it resolved (checkpoint meta first, as for tfjs); else the config's.
  const kept = detector.info.class_names;
  const classNames: ClassNames = kept
    ? { names: kept, source: `${displayPath(modelFile)}.json (at export: ${detector.info.class_names_source ?? 'unknown'})` }
    : resolveClassNames({ config: prepared.resolved, numClasses });
  return { detector, pipeline, classNames, checkpointFile: modelFile, dispose: () => detector.dispose() };
}

/** One image: pipeline, ORT, drawing, `<stem>.png` and `<stem>.json` (the tfjs tool's formats). */
export async function inferImageOnnx(session: OnnxInferenceSession, imagePath: string, options: ImageOutputOptions, imgId = 0): Promise<InferredImage> {
  const start = performance.now();
  const prepared = await session.pipeline.run(imagePath, imgId);
  const loaded = performance.now();
  const [detections] = await session.detector.testStep(collateDetSamples([prepared.packed]));
  if (!detections) throw new Error(`${imagePath}: the detector returned no result for the image`);
  const drawStart = performance.now();
  const png = await drawDetections(prepared.original, detections, session.classNames.names, { scoreThreshold: options.scoreThreshold, palette: session.classNames.palette });
  const end = performance.now();
  const timing: Timing = { pipeline_ms: loaded - start, model_ms: drawStart - loaded, draw_ms: end - drawStart, total_ms: end - start };
  const record = detectionRecord({ imagePath, image: prepared.original, detections, classNames: session.classNames.names, scoreThreshold: options.scoreThreshold, timing });
  const files = outputFiles(options.outDir, options.stem);
  fs.mkdirSync(options.outDir, { recursive: true });
  writeFileAtomic(files.png, png);
  writeFileAtomic(files.json, formatRecord(record));
  return { record, files };
}
