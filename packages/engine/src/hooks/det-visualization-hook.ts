/**
 * mmdet's DetVisualizationHook: with `draw`, it draws the model's predictions on the images
 * they were made for during validation and testing, as mmdet does:
 *  - validation: the first image of every `interval`-th batch, written to
 *    `<log dir>/vis_data/vis_image/<image name>_<iteration>.png` (one picture per checkpoint
 *    moment, so training progress can be compared);
 *  - testing: every image of every `interval`-th batch, to `<log dir>/<test_out_dir>/<image
 *    name>.png`, or to vis_data/vis_image without test_out_dir.
 * Only predictions scoring at least `score_thr` are drawn. Drawing (sharp) is asynchronous; the
 * evaluation loop awaits `flush()` before it reports the epoch, so a failure to draw surfaces there.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '@tsdet/core';
import { drawDetections, loadImage, type RawImage } from '@tsdet/data';
import type { Runner } from '../runner/runner.js';
import type { Hook } from './hook.js';

export interface DetVisualizationHookConfig {
  draw: boolean;
  interval: number;
  score_thr: number;
  test_out_dir: string | null;
  priority: number;
}

interface Prediction {
  readonly bboxes: Float32Array;
  readonly scores: Float32Array;
  readonly labels: Int32Array;
}

export class DetVisualizationHook implements Hook {
  readonly name = 'DetVisualizationHook';
  priority: number;
  readonly #pending: Promise<void>[] = [];

  constructor(readonly cfg: DetVisualizationHookConfig) {
    this.priority = cfg.priority;
  }

  afterValIter(runner: Runner, batchIdx: number, batch: unknown, predictions: readonly unknown[]): void {
    if (!this.cfg.draw || batchIdx % this.cfg.interval !== 0 || predictions.length === 0) return;
    this.#draw(runner, batch, predictions, 0, (stem) => path.join(visImageDir(runner), `${stem}_${runner.iter}.png`));
  }

  afterTestIter(runner: Runner, batchIdx: number, batch: unknown, predictions: readonly unknown[]): void {
    if (!this.cfg.draw || batchIdx % this.cfg.interval !== 0) return;
    const dir = this.cfg.test_out_dir ? path.join(runner.logDir, this.cfg.test_out_dir) : visImageDir(runner);
    predictions.forEach((_, i) => this.#draw(runner, batch, predictions, i, (stem) => path.join(dir, `${stem}.png`)));
  }

  /** Waits for every picture started so far; the first drawing error is thrown here. */
  async flush(): Promise<void> {
    const pending = this.#pending.splice(0);
    await Promise.all(pending);
  }

  #draw(runner: Runner, batch: unknown, predictions: readonly unknown[], index: number, fileFor: (stem: string) => string): void {
    const imagePath = imagePathOf(batch, index);
    const classes = runner.evalDataset?.metainfo?.classes ?? [];
    const prediction = predictions[index] as Prediction;
    const file = fileFor(path.basename(imagePath, path.extname(imagePath)));
    this.#pending.push(drawTo(file, imagePath, prediction, classes, this.cfg.score_thr));
  }
}

function visImageDir(runner: Runner): string {
  return path.join(runner.logDir, 'vis_data', 'vis_image');
}

/** The `img_path` of sample `index` of a collated batch; an error naming what is missing otherwise. */
function imagePathOf(batch: unknown, index: number): string {
  const samples = (batch as { data_samples?: readonly { metainfo?: Record<string, unknown> }[] } | null)?.data_samples;
  const imagePath = samples?.[index]?.metainfo?.['img_path'];
  if (typeof imagePath !== 'string') throw new Error(`DetVisualizationHook: sample ${index} of the batch has no metainfo.img_path to draw on (add 'img_path' to PackDetInputs' meta_keys)`);
  return imagePath;
}

async function drawTo(file: string, imagePath: string, prediction: Prediction, classes: readonly string[], scoreThreshold: number): Promise<void> {
  const image: RawImage = await loadImage(imagePath);
  const png = await drawDetections(image, prediction, classes, { scoreThreshold });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, png);
}
