/**
 * One inference run's fixed parts (detector with its weights, test pipeline, class names) and
 * what it does per image: pipeline, detector, drawing, and the two result files. Tools and tests
 * go through `inferImage`, so what the tests measure (results, tensor leaks) is what runs.
 */
import fs from 'node:fs';
import type { PreparedConfig } from '@tsdet/core';
import { writeFileAtomic } from '@tsdet/core';
import { collateDetSamples } from '../preprocessor/det-data-preprocessor.js';
import { drawDetections } from '../visualization/draw-detections.js';
import { numClassesOf, resolveClassNames, type ClassNames } from './class-names.js';
import { detectionRecord, formatRecord, type DetectionRecord, type Timing } from './detection-record.js';
import { buildInferenceDetector, loadDetectorCheckpoint, type DetectionResult, type InferenceDetector } from './detector.js';
import { displayPath } from './errors.js';
import { outputFiles } from './image-inputs.js';
import { InferencePipeline, testPipelineConfig, type PreparedImage } from './inference-pipeline.js';

export interface InferenceSession {
  readonly detector: InferenceDetector;
  readonly pipeline: InferencePipeline;
  readonly classNames: ClassNames;
  /** The checkpoint file that was loaded. */
  readonly checkpointFile: string;
  /** Frees the detector's tensors. */
  dispose(): void;
}

/**
 * Builds the detector of a prepared config, loads the checkpoint strictly and switches to eval
 * mode (after loading, so that the folded inference weights are made from the loaded ones).
 * The detector's components and the transforms must be registered.
 */
export function createInferenceSession(prepared: PreparedConfig, checkpointFile: string): InferenceSession {
  const configFile = prepared.config.filename ?? 'config';
  const sourceOf = (path: string) => prepared.config.sourceOf(path);
  const pipeline = new InferencePipeline(testPipelineConfig(prepared.resolved, displayPath(configFile)), { sourceOf, file: displayPath(configFile) });
  const detector = buildInferenceDetector(prepared.resolved, displayPath(configFile));
  try {
    const checkpoint = loadDetectorCheckpoint(detector, checkpointFile, configFile);
    detector.eval();
    const classNames = resolveClassNames({ checkpointMeta: checkpoint.meta, config: prepared.resolved, numClasses: numClassesOf(prepared.resolved) });
    return { detector, pipeline, classNames, checkpointFile: checkpoint.file, dispose: () => detector.dispose() };
  } catch (error) {
    detector.dispose();
    throw error;
  }
}

export interface DetectedImage {
  readonly prepared: PreparedImage;
  readonly detections: DetectionResult;
  readonly timing: Pick<Timing, 'pipeline_ms' | 'model_ms'>;
}

/** Pipeline and detector on one image file; no tensor outlives the call. */
export async function detectImage(session: InferenceSession, imagePath: string, imgId = 0): Promise<DetectedImage> {
  const start = performance.now();
  const prepared = await session.pipeline.run(imagePath, imgId);
  const loaded = performance.now();
  const [detections] = session.detector.testStep(collateDetSamples([prepared.packed]));
  if (!detections) throw new Error(`${imagePath}: the detector returned no result for the image`);
  return { prepared, detections, timing: { pipeline_ms: loaded - start, model_ms: performance.now() - loaded } };
}

export interface ImageOutputOptions {
  readonly outDir: string;
  /** File name without extension for the .png and .json. */
  readonly stem: string;
  /** Detections scoring below are not drawn (all are listed in the JSON). */
  readonly scoreThreshold: number;
}

export interface InferredImage {
  readonly record: DetectionRecord;
  readonly files: { readonly png: string; readonly json: string };
}

/** Detects on one image and writes `<stem>.png` (drawn detections) and `<stem>.json` to outDir. */
export async function inferImage(session: InferenceSession, imagePath: string, options: ImageOutputOptions, imgId = 0): Promise<InferredImage> {
  const start = performance.now();
  const detected = await detectImage(session, imagePath, imgId);
  const drawStart = performance.now();
  const png = await drawDetections(detected.prepared.original, detected.detections, session.classNames.names, { scoreThreshold: options.scoreThreshold, palette: session.classNames.palette });
  const end = performance.now();
  const timing: Timing = { ...detected.timing, draw_ms: end - drawStart, total_ms: end - start };
  const record = detectionRecord({ imagePath, image: detected.prepared.original, detections: detected.detections, classNames: session.classNames.names, scoreThreshold: options.scoreThreshold, timing });
  const files = outputFiles(options.outDir, options.stem);
  fs.mkdirSync(options.outDir, { recursive: true });
  writeFileAtomic(files.png, png);
  writeFileAtomic(files.json, formatRecord(record));
  return { record, files };
}
