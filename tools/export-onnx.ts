/**
 * tools/export-onnx.ts CONFIG CHECKPOINT --out model.onnx [--input-shape 800,1216 | --dynamic]
 *                      [--part detector|backbone|features] [--no-preprocess] [--cfg-options key=value...]
 *
 * Writes the detector of CONFIG with the weights of CHECKPOINT (an mmdetection .pth loads
 * unchanged) as an ONNX model, with no Python: the whole Faster R-CNN with pre- and
 * post-processing by default, or only the backbone (`backbone`) or backbone + neck
 * (`features`). Beside a detector goes `<out>.json` (input size, preprocessing, class names,
 * the test pipeline's resize) for OnnxDetector and the browser example. The model is then
 * loaded once in onnxruntime-node, which must accept it without a warning. See docs/onnx.md.
 */
import fs from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { exitAfter, initBackend, prepareConfig } from '@tsdet/core';
import { createInferenceSession, displayPath, registerData, resolveCheckpointArgument, testPipelineConfig } from '@tsdet/data';
import { registerModels, TwoStageDetector } from '@tsdet/models';
import { registerEngine } from '@tsdet/engine';
import { createOrtSession, detectorInfoFile, exportDetector, exportFeatures, type DetectorModelInfo, type ExportedModel } from '@tsdet/onnx';

interface ExportOptions {
  out: string;
  inputShape?: [number, number];
  dynamic?: boolean;
  part: 'detector' | 'backbone' | 'features';
  preprocess: boolean;
  cfgOptions?: string[];
}

/** `H,W`, `HxW` or `1,3,H,W` (NCHW; batch 1, 3 channels). */
function inputShape(value: string): [number, number] {
  const dims = value.split(/[x,]/).map((d) => Number(d.trim()));
  if (dims.some((d) => !Number.isInteger(d) || d < 1)) throw new InvalidArgumentError('expected H,W or 1,3,H,W (positive integers)');
  if (dims.length === 4 && dims[0] === 1 && dims[1] === 3) return [dims[2]!, dims[3]!];
  if (dims.length === 2) return [dims[0]!, dims[1]!];
  throw new InvalidArgumentError('expected H,W or 1,3,H,W (one image, 3 channels)');
}

const program = new Command()
  .name('export-onnx')
  .description('Export a tsdet detector (or its backbone / features) to ONNX.')
  .argument('<config>', 'detector config (.json)')
  .argument('<checkpoint>', 'weights: .pth (mmdetection) or .safetensors')
  .requiredOption('--out <file>', 'the .onnx file to write')
  .option('--input-shape <shape>', 'fixed padded input size H,W (or 1,3,H,W); a multiple of pad_size_divisor', inputShape)
  .option('--dynamic', 'any input size (the default without --input-shape)')
  .option('--part <part>', 'detector (default), backbone, or features (backbone + neck)', 'detector')
  .option('--no-preprocess', 'leave normalisation and channel swap out of the graph (its input is then the normalised tensor)')
  .option('--cfg-options <key=value...>', 'override config settings, e.g. model.test_cfg.rcnn.score_thr=0.5')
  .parse();

const [configFile, checkpointArg] = program.processedArgs as [string, string];
const options = program.opts<ExportOptions>();

/** The test pipeline's Resize scale, for viewers that resize images themselves. */
function resizeOf(resolved: Readonly<Record<string, unknown>>): DetectorModelInfo['resize'] {
  try {
    const steps = testPipelineConfig(resolved, configFile).steps as Record<string, unknown>[];
    const resize = steps.find((s) => s['type'] === 'Resize');
    const scale = resize?.['scale'];
    return Array.isArray(scale) && scale.length === 2 ? { scale: [Number(scale[0]), Number(scale[1])], keep_ratio: resize!['keep_ratio'] === true } : null;
  } catch {
    return null;
  }
}

function exportPart(detector: TwoStageDetector, dynamic: boolean): ExportedModel & { info?: DetectorModelInfo } {
  const size = options.inputShape;
  if (options.part === 'detector') return exportDetector(detector, { inputSize: size, dynamic, preprocess: options.preprocess ? undefined : null });
  if (options.part !== 'backbone' && options.part !== 'features') throw new Error(`--part: expected detector, backbone or features, got '${options.part}'`);
  return exportFeatures(detector, { withNeck: options.part === 'features', inputSize: size, dynamic });
}

async function main(): Promise<number> {
  registerModels();
  registerData();
  registerEngine();
  await initBackend({ backend: 'cpu' });
  const prepared = await prepareConfig(configFile, { cfgOptions: options.cfgOptions });
  const session = createInferenceSession(prepared, resolveCheckpointArgument(checkpointArg));
  try {
    const detector = session.detector;
    if (!(detector instanceof TwoStageDetector)) throw new Error(`config ${configFile}: model.type is not a two-stage detector; the ONNX exporter covers TwoStageDetector / FasterRCNN`);
    const dynamic = options.dynamic === true || !options.inputShape;
    const start = performance.now();
    const exported = exportPart(detector, dynamic);
    fs.writeFileSync(options.out, exported.bytes);
    console.log(`wrote ${displayPath(options.out)} (${(exported.bytes.length / 2 ** 20).toFixed(1)} MB, ${options.part}, ${dynamic ? 'dynamic input size' : `input ${options.inputShape!.join('x')}`}) in ${((performance.now() - start) / 1000).toFixed(1)} s`);
    console.log(`  inputs ${exported.inputNames.join(', ')}; outputs ${exported.outputNames.join(', ')}`);
    if (exported.info) {
      const info: DetectorModelInfo = { ...exported.info, class_names: [...session.classNames.names], class_names_source: session.classNames.source, resize: resizeOf(prepared.resolved) };
      fs.writeFileSync(detectorInfoFile(options.out), `${JSON.stringify(info, null, 2)}\n`);
      console.log(`wrote ${displayPath(detectorInfoFile(options.out))} (how to feed the model; class names from ${session.classNames.source})`);
    }
    const loadStart = performance.now();
    const ort = await createOrtSession(options.out, { threads: 1 });
    await ort.release();
    console.log(`onnxruntime-node loads it in ${((performance.now() - loadStart) / 1000).toFixed(2)} s`);
    return 0;
  } finally {
    session.dispose();
  }
}

main()
  .then((code) => exitAfter(code))
  .catch((error: unknown) => {
    console.error(`export-onnx: ${error instanceof Error ? error.message : String(error)}`);
    exitAfter(1);
  });
