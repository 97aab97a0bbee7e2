/**
 * `npm start`: tsdet's main job on its embedded default, with no download.
 *
 *  1. generates the synthetic shapes dataset into data/shapes (a no-op when it is up to date);
 *  2. trains configs/faster_rcnn/faster-rcnn_r18_fpn_shapes.json from scratch (logs and
 *     checkpoints in work_dirs/faster-rcnn_r18_fpn_shapes), validating with COCO mAP at the end;
 *  3. draws the trained detector's predictions on validation images into <work_dir>/predictions;
 *  4. prints the metrics, the training throughput and where everything went.
 *
 * Any other training config works too (`npm start -- --config FILE`); the shapes dataset is only
 * generated for configs that read data/shapes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { BACKEND_NAMES, type BackendName } from '@tsdet/core';
import { createInferenceSession, inferImage, makeShapesDataset, type InferenceSession } from '@tsdet/data';
import { buildRunner } from '@tsdet/engine';
import { dataLoaderFactory, runTool, workDirOf, loadRunConfig, positiveInteger, startBackend } from './train-common.js';

const SHAPES = { out: 'data/shapes', train: 800, val: 100, seed: 0 } as const;

interface MainOptions {
  config: string;
  workDir?: string;
  backend?: BackendName;
  threads?: number;
  cfgOptions?: string[];
  pictures: number;
  scoreThr: number;
}

const program = new Command()
  .name('tsdet')
  .description('Generate the shapes dataset, train the embedded default detector on it, evaluate it and draw its predictions.')
  .option('--config <file>', 'training config', 'configs/faster_rcnn/faster-rcnn_r18_fpn_shapes.json')
  .option('--work-dir <dir>', 'logs, checkpoints and pictures (default: work_dirs/<config name>)')
  .addOption(new Option('--backend <name>', 'compute backend (default: the config, then TSDET_BACKEND, then auto)').choices(BACKEND_NAMES))
  .option('--threads <n>', 'wasm threads (default: TSDET_THREADS, then every core)', positiveInteger)
  .option('--cfg-options <key=value...>', 'override config settings, e.g. train_cfg.max_epochs=2')
  .option('--pictures <n>', 'validation images to draw predictions on', positiveInteger, 8)
  .option('--score-thr <x>', 'lowest score drawn', Number, 0.3)
  .parse();
const options = program.opts<MainOptions>();

/** The image files of a COCO split, in annotation order. */
function splitImages(annFile: string, imgDir: string): string[] {
  const coco = JSON.parse(fs.readFileSync(annFile, 'utf8')) as { images: { file_name: string }[] };
  return coco.images.map((image) => path.join(imgDir, image.file_name));
}

/** The dataset section of a dataloader config as the file paths it reads. */
function datasetFiles(config: Record<string, unknown>, loaderKey: string): { annFile: string; imgDir: string } {
  const dataset = (config[loaderKey] as { dataset: { data_root?: string; ann_file: string; data_prefix?: { img?: string } } }).dataset;
  const root = dataset.data_root ?? '';
  return { annFile: path.join(root, dataset.ann_file), imgDir: path.join(root, dataset.data_prefix?.img ?? '') };
}

async function drawPredictions(session: InferenceSession, images: readonly string[], outDir: string): Promise<number> {
  let drawn = 0;
  for (const [index, image] of images.entries()) {
    const { record } = await inferImage(session, image, { outDir, stem: path.basename(image, path.extname(image)), scoreThreshold: options.scoreThr }, index);
    drawn += record.drawn;
  }
  return drawn;
}

async function main(): Promise<number> {
  const start = performance.now();
  const prepared = await loadRunConfig(options.config, options.cfgOptions);
  const config = prepared.resolved;
  const train = datasetFiles(config, 'train_dataloader');
  if (path.resolve(train.annFile).startsWith(path.resolve(SHAPES.out) + path.sep)) {
    const made = await makeShapesDataset(SHAPES);
    console.log(made.generated ? `shapes dataset: wrote ${made.images} images (${made.objects} objects) to ${SHAPES.out} in ${made.seconds.toFixed(1)} s` : `shapes dataset: ${SHAPES.out} is up to date`);
  }
  const backend = await startBackend(config, options);
  const workDir = workDirOf(config, options.config, options.workDir);
  const runner = await buildRunner(config, { mode: 'train', workDir, buildDataLoader: dataLoaderFactory(), backend });

  const trainStart = performance.now();
  const metrics = (await runner.train()) ?? (await runner.val());
  const trainSeconds = (performance.now() - trainStart) / 1000;
  const batchSize = (config['train_dataloader'] as { batch_size?: number }).batch_size ?? 1;
  const images = runner.iter * batchSize;

  const checkpoint = fs.readFileSync(path.join(runner.workDir, 'last_checkpoint'), 'utf8').trim();
  const session = createInferenceSession(prepared, checkpoint);
  const val = datasetFiles(config, 'val_dataloader');
  const picturesDir = path.join(runner.workDir, 'predictions');
  const pictures = splitImages(val.annFile, val.imgDir).slice(0, options.pictures);
  let boxes: number;
  try {
    boxes = await drawPredictions(session, pictures, picturesDir);
  } finally {
    session.dispose();
  }

  const show = (key: string): string => (typeof metrics[key] === 'number' ? (metrics[key] as number).toFixed(3) : 'n/a');
  console.log(`\n${options.config} on ${backend}:`);
  console.log(`  trained ${runner.iter} iterations (${images} images) in ${(trainSeconds / 60).toFixed(1)} min: ${(images / trainSeconds).toFixed(1)} images/s`);
  console.log(`  validation: bbox_mAP ${show('coco/bbox_mAP')}  bbox_mAP_50 ${show('coco/bbox_mAP_50')}  bbox_mAP_75 ${show('coco/bbox_mAP_75')}`);
  console.log(`  checkpoint: ${path.relative(process.cwd(), checkpoint)}`);
  console.log(`  logs: ${path.relative(process.cwd(), runner.logDir)}`);
  console.log(`  pictures: ${path.relative(process.cwd(), picturesDir)} (${pictures.length} images, ${boxes} boxes with score >= ${options.scoreThr})`);
  console.log(`  total ${((performance.now() - start) / 60000).toFixed(1)} min`);
  return 0;
}

runTool('tsdet', main);
