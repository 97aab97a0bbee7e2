/**
 * The detector side of inference, kept structural so that @tsdet/data needs nothing from
 * @tsdet/models: any MODELS component with mmengine's `testStep` (the detector runs its own
 * data_preprocessor, then predicts with rescale) fits. Built as mmdet's init_detector does:
 * the backbone's pretrained init is switched off (the checkpoint replaces every weight, and no
 * ImageNet file needs to be present), the checkpoint is loaded strictly, then eval mode, which
 * also prepares the folded conv-BN weights so that no forward allocates lasting tensors.
 */
import fs from 'node:fs';
import path from 'node:path';
import { checkpointCacheDir, CheckpointError, loadCheckpoint, loadStateDict, Module, MODELS, resolveCheckpointPath, StateDictError, type LoadedCheckpoint, type LoadReport } from '@tsdet/core';
import type { DetDataBatch } from '../preprocessor/det-data-preprocessor.js';
import { displayPath, InferenceError } from './errors.js';

/** One image's detections in its original frame: bboxes [k * 4] (x1, y1, x2, y2), scores [k], labels [k]. */
export interface DetectionResult {
  readonly bboxes: Float32Array;
  readonly scores: Float32Array;
  readonly labels: Int32Array;
}

/** What inference needs of a detector (TwoStageDetector / FasterRCNN fit). */
export interface InferenceDetector extends Module {
  /** mmengine's test_step: the detector's data_preprocessor, then predict with rescale. */
  testStep(batch: DetDataBatch): readonly DetectionResult[];
}

function isInferenceDetector(value: unknown): value is InferenceDetector {
  return value instanceof Module && typeof (value as { testStep?: unknown }).testStep === 'function';
}

type ConfigRecord = Readonly<Record<string, unknown>>;

/**
 * The model config as mmdet's init_detector builds it: backbone init_cfg / pretrained off, and
 * a DetDataPreprocessor with its defaults when the config sets none (mmdet's BaseDataPreprocessor
 * then only casts to float, which is what those defaults do).
 */
export function inferenceModelConfig(model: ConfigRecord): Record<string, unknown> {
  const backbone = model['backbone'] as ConfigRecord | undefined;
  const withoutPretrained = backbone && { ...backbone, ...('init_cfg' in backbone ? { init_cfg: null } : {}), ...('pretrained' in backbone ? { pretrained: null } : {}) };
  return { ...model, ...(withoutPretrained ? { backbone: withoutPretrained } : {}), data_preprocessor: model['data_preprocessor'] ?? { type: 'DetDataPreprocessor' } };
}

/** Builds `config.model` for inference (its components must be registered). */
export function buildInferenceDetector(config: ConfigRecord, file: string): InferenceDetector {
  const modelConfig = config['model'] as ConfigRecord | undefined;
  if (!modelConfig) throw new InferenceError(`config ${file} has no model`);
  const model = MODELS.build<unknown>(inferenceModelConfig(modelConfig), { path: 'model' });
  if (!isInferenceDetector(model)) {
    if (model instanceof Module) model.dispose();
    throw new InferenceError(`config ${file}: model.type '${String(modelConfig['type'])}' is not a detector with testStep (e.g. FasterRCNN)`);
  }
  return model;
}

/**
 * The local file a CHECKPOINT argument names: a path, `open-mmlab://` / `torchvision://`
 * (as in configs), or a model-zoo URL, looked for by its file name in $TSDET_CHECKPOINT_DIR
 * (where mmengine would have downloaded it; tsdet never downloads).
 */
export function resolveCheckpointArgument(arg: string): string {
  if (!/^https?:\/\//.test(arg)) return resolveCheckpointPath(arg);
  const file = path.join(checkpointCacheDir(), path.basename(new URL(arg).pathname));
  if (!fs.existsSync(file)) throw new CheckpointError(file, `tsdet never downloads: fetch ${arg} yourself and put it here (TSDET_CHECKPOINT_DIR sets the folder)`);
  return file;
}

/** How many keys of each kind a mismatch message lists before "(+N more)". */
const KEYS_SHOWN = 3;

/**
 * Loads the checkpoint into the detector strictly: every key must exist on both sides with the
 * same shape. A mismatch is one InferenceError naming both files and the first keys at fault.
 */
export function loadDetectorCheckpoint(detector: InferenceDetector, checkpointFile: string, configFile: string): LoadedCheckpoint {
  const checkpoint = loadCheckpoint(checkpointFile);
  try {
    loadStateDict(detector, checkpoint.stateDict, { strict: true, source: checkpointFile });
  } catch (error) {
    if (error instanceof StateDictError) throw new InferenceError(describeMismatch(error.report, checkpointFile, configFile));
    throw error;
  }
  return checkpoint;
}

export function describeMismatch(report: LoadReport, checkpointFile: string, configFile: string): string {
  const parts: string[] = [];
  if (report.mismatched.length) {
    const shown = report.mismatched.slice(0, KEYS_SHOWN).map((m) => `${m.key} (checkpoint [${m.got.join(', ')}], model [${m.expected.join(', ')}])`);
    parts.push(`shapes differ for ${listWithMore(shown, report.mismatched.length)}`);
  }
  if (report.missing.length) parts.push(`missing from the checkpoint: ${listWithMore(report.missing.slice(0, KEYS_SHOWN), report.missing.length)}`);
  if (report.unexpected.length) parts.push(`not in the model: ${listWithMore(report.unexpected.slice(0, KEYS_SHOWN), report.unexpected.length)}`);
  const head = `checkpoint ${displayPath(checkpointFile)} does not match config ${displayPath(configFile)}`;
  return `${head} (strict load): ${parts.join('; ')}${classCountHint(report)}`;
}

function listWithMore(shown: readonly string[], total: number): string {
  return `${shown.join(', ')}${total > shown.length ? ` (+${total - shown.length} more)` : ''}`;
}

/** The commonest cause, spelled out: a box classifier trained for another number of classes. */
function classCountHint(report: LoadReport): string {
  const fcCls = report.mismatched.find((m) => m.key.endsWith('bbox_head.fc_cls.weight'));
  if (!fcCls) return '';
  // fc_cls has num_classes + 1 rows (background last) in PyTorch layout.
  return ` (the checkpoint was trained for ${fcCls.got[0]! - 1} classes, the config's bbox_head.num_classes is ${fcCls.expected[0]! - 1})`;
}
