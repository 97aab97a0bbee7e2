/**
 * tools/infer.ts CONFIG CHECKPOINT IMAGE_OR_DIR... --out DIR [--score-thr 0.3] [--backend auto|wasm|cpu|tensorflow]
 *                [--threads N] [--runtime tfjs|onnx] [--cfg-options key=value...]
 *
 * Detects objects in images with a detector config and its checkpoint (an mmdetection .pth loads
 * unchanged) and writes, per image, `<name>.png` (detections drawn) and `<name>.json` (boxes,
 * scores, labels, class names, image size, timings) to --out. Folders stand for their
 * .jpg/.jpeg/.png/.webp files. An image that cannot be read gets one line and the run goes on;
 * the exit status is 1 if any image failed. See docs/inference.md. With --runtime onnx, CHECKPOINT
 * is a model written by tools/export-onnx.ts (with its .json) and runs on onnxruntime-node
 * (docs/onnx.md); the config still gives the test pipeline and class names.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import fs from 'node:fs';
import { BACKEND_NAMES, exitAfter, initBackend, prepareConfig, type BackendName } from '@tsdet/core';
import {
  checkOutputsSpareInputs,
  createInferenceSession,
  displayPath,
  expandImageInputs,
  IMAGE_EXTENSIONS,
  inferImage,
  outputStems,
  resolveCheckpointArgument,
  registerData,
  type ImageOutputOptions,
  type InferenceSession,
} from '@tsdet/data';
import { registerModels } from '@tsdet/models';
import { registerEngine } from '@tsdet/engine';

interface InferOptions {
  runtime: 'tfjs' | 'onnx';
  out: string;
  scoreThr: number;
  backend?: BackendName;
  threads?: number;
  cfgOptions?: string[];
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected an integer >= 1');
  return n;
}

function probability(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a number from 0 to 1');
  return n;
}

const program = new Command()
  .name('infer')
  .description('Detect objects in images and write drawn PNGs and JSON results.')
  .argument('<config>', 'detector config (.json)')
  .argument('<checkpoint>', 'weights: .pth (mmdetection) or .safetensors; open-mmlab://NAME or a model-zoo URL are looked for in $TSDET_CHECKPOINT_DIR')
  .argument('<images...>', `image files or folders (their ${IMAGE_EXTENSIONS.join(' ')} files)`)
  .requiredOption('--out <dir>', 'folder for <name>.png and <name>.json')
  .option('--score-thr <p>', 'draw detections scoring at least this (the JSON lists all)', probability, 0.3)
  .addOption(new Option('--backend <name>', 'compute backend (default: the config, then TSDET_BACKEND, then auto)').choices(BACKEND_NAMES))
  .option('--threads <n>', 'wasm threads (default: TSDET_THREADS, then every core)', positiveInteger)
  .addOption(new Option('--runtime <name>', 'tfjs (tsdet) or onnx (CHECKPOINT is an exported .onnx, run on onnxruntime-node)').choices(['tfjs', 'onnx']).default('tfjs'))
  .option('--cfg-options <key=value...>', 'override config settings, e.g. model.test_cfg.rcnn.score_thr=0.5')
  .parse();

const [configFile, checkpointArg, imageArgs] = program.processedArgs as [string, string, string[]];
const options = program.opts<InferOptions>();

/**
 * A cli-progress bar on stderr. When stderr is not a terminal (CI logs, pipes) it prints one plain
 * line per finished image (noTTYOutput; the 10 s schedule only matters for very slow images).
 */
class ProgressBar {
  readonly #bar: SingleBar;
  readonly #terminal = process.stderr.isTTY === true;
  #done = 0;
  #failed = 0;

  constructor(readonly total: number) {
    this.#bar = new SingleBar({
      format: 'infer [{bar}] {value}/{total} images, {failed} failed',
      barCompleteChar: '=',
      barIncompleteChar: '-',
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 10_000,
      // On a terminal the bar gives way to messages and to the summary; in a log, stop() would
      // otherwise add an empty line after the last progress line.
      clearOnComplete: true,
      stream: process.stderr,
    });
    this.#start();
  }

  #start(): void {
    this.#bar.start(this.total, this.#done, { failed: this.#failed });
  }

  /** One image done (or failed); in a log, one line for it (the last one comes from stop()). */
  advance(failed: boolean): void {
    this.#done++;
    if (failed) this.#failed++;
    this.#bar.update(this.#done, { failed: this.#failed });
    if (!this.#terminal && this.#done < this.total) this.#bar.render();
  }

  /**
   * A line of its own. On a terminal the bar is cleared, the line written where it stood and the
   * bar started again below (cli-progress restores the cursor to where the bar began, so writing
   * under a running bar would be overwritten).
   */
  say(line: string): void {
    if (this.#terminal) this.#bar.stop();
    process.stderr.write(`${line}\n`);
    if (this.#terminal) this.#start();
  }

  stop(): void {
    this.#bar.stop();
  }
}

/** Messages are one line: a multi-line reason (from a decoder, say) is joined. */
function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ');
}

/** What both runtimes offer the loop: the class names, the model file, one image, disposal. */
interface Session extends Pick<InferenceSession, 'classNames' | 'checkpointFile'> {
  infer(image: string, output: ImageOutputOptions, index: number): Promise<unknown>;
  dispose(): void | Promise<void>;
}

/** Registers the components, reads the config, starts the backend, builds the detector with its weights. */
async function prepareSession(): Promise<Session> {
  registerModels();
  registerData();
  registerEngine();
  const prepared = await prepareConfig(configFile, { cfgOptions: options.cfgOptions });
  if (options.runtime === 'onnx') {
    // ORT does the work; tfjs is not needed for the pipeline or the drawing.
    const { createOnnxInferenceSession, inferImageOnnx } = await import('@tsdet/onnx');
    const session = await createOnnxInferenceSession(prepared, checkpointArg, { threads: options.threads });
    const fixed = (options.cfgOptions ?? []).filter((o) => o.startsWith('model.'));
    if (fixed.length) console.log(`note: ${fixed.join(' ')}: model settings are part of the exported graph; export again (tools/export-onnx.ts --cfg-options) to change them`);
    console.log(`runtime: onnxruntime-node, ${options.threads ?? 'all'} thread(s)`);
    return { ...session, infer: (image, output, index) => inferImageOnnx(session, image, output, index) };
  }
  // Precedence as in the other tools: --backend, the config's backend key, TSDET_BACKEND, auto.
  await initBackend({ backend: options.backend ?? (prepared.resolved['backend'] as BackendName | undefined), threads: options.threads });
  const session = createInferenceSession(prepared, resolveCheckpointArgument(checkpointArg));
  return { ...session, infer: (image, output, index) => inferImage(session, image, output, index), dispose: () => session.dispose() };
}

function describeSession(session: Session): void {
  const { classNames } = session;
  console.log(`model ${displayPath(configFile)} with weights ${displayPath(session.checkpointFile)}`);
  console.log(`class names (${classNames.names.length}): ${classNames.source}`);
  if (classNames.warning) console.log(`note: ${classNames.warning}`);
}

/** Up front, so that an unusable --out is one error rather than one per image. */
function createOutputFolder(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new Error(`--out ${dir}: cannot create the folder (${oneLine(error)})`, { cause: error });
  }
}

/** Runs every image, one line per failure; returns how many failed. */
async function inferAll(session: Session, images: readonly string[]): Promise<number> {
  const stems = outputStems(images);
  checkOutputsSpareInputs(options.out, images, stems);
  createOutputFolder(options.out);
  const progress = new ProgressBar(images.length);
  let failed = 0;
  for (const [index, image] of images.entries()) {
    try {
      await session.infer(image, { outDir: options.out, stem: stems[index]!, scoreThreshold: options.scoreThr }, index);
      progress.advance(false);
    } catch (error) {
      failed++;
      const message = oneLine(error);
      // Image load errors name the file already; anything else gets it in front.
      progress.say(`infer: ${message.includes(image) ? message : `${image}: ${message}`}`);
      progress.advance(true);
    }
  }
  progress.stop();
  return failed;
}

async function main(): Promise<number> {
  const { images, emptyFolders } = expandImageInputs(imageArgs);
  for (const folder of emptyFolders) console.error(`infer: folder ${folder} has no ${IMAGE_EXTENSIONS.join('/')} files`);
  if (!images.length) throw new Error('no images to detect on');
  const session = await prepareSession();
  try {
    describeSession(session);
    const start = performance.now();
    const failed = await inferAll(session, images);
    const perImage = (performance.now() - start) / images.length / 1000;
    const done = images.length - failed;
    console.log(`infer: ${done} of ${images.length} images done, ${failed} failed; results in ${options.out} (${perImage.toFixed(2)} s per image)`);
    return failed ? 1 : 0;
  } finally {
    await session.dispose();
  }
}

main()
  .then((code) => exitAfter(code))
  .catch((error: unknown) => {
    // Config, checkpoint and argument mistakes: their message only, no stack trace.
    console.error(`infer: ${error instanceof Error ? error.message : String(error)}`);
    exitAfter(1);
  });
