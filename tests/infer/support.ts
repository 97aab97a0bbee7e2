/**
 * What the inference tests share: the tiny detector config, random-weight checkpoints written
 * from it, synthetic images made with sharp, and running tools/infer.ts as a subprocess.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { prepareConfig, stateDictOf, writeSafetensors } from '@tsdet/core';
import { buildInferenceDetector, registerData } from '@tsdet/data';
import { registerModels } from '@tsdet/models';
import { registerEngine } from '@tsdet/engine';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '..', '..');
/** Faster R-CNN R50-FPN at base width 8, FPN 16 channels, 3 classes named cat, dog, bird in its metainfo. */
export const TINY_CONFIG = path.join(here, 'faster-rcnn_r50_fpn_tiny.json');
/** The same detector's random weights as mmdetection saves them: {meta: {dataset_meta: {classes: [person, car, dog]}}, state_dict}. See make_mmdet_pth.py. */
export const MMDET_PTH = path.join(here, 'faster-rcnn_r50_fpn_tiny_mmdet.pth');

export function registerAll(): void {
  registerModels();
  registerData();
  registerEngine();
}

/** Writes the random initial weights of TINY_CONFIG (with `cfgOptions` applied) as safetensors. */
export async function writeRandomCheckpoint(file: string, cfgOptions: string[] = []): Promise<void> {
  registerAll();
  const { resolved } = await prepareConfig(TINY_CONFIG, { cfgOptions });
  const model = buildInferenceDetector(resolved, TINY_CONFIG);
  try {
    writeSafetensors(file, stateDictOf(model));
  } finally {
    model.dispose();
  }
}

/** An RGB pattern with a few filled rectangles, so that images are not flat. */
function patternPixels(width: number, height: number, channels: 1 | 3): Buffer {
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inBox = (x > width / 4 && x < width / 2 && y > height / 3) || (x > (2 * width) / 3 && y < height / 2);
      for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = inBox ? 40 + 60 * c : (x * 3 + y * (c + 1)) % 256;
    }
  }
  return data;
}

/** An image file of the given size; `.jpg` / `.png` / `.webp` by the name; grayscale (1 channel) if asked. */
export async function writeImage(file: string, width: number, height: number, options: { grayscale?: boolean } = {}): Promise<void> {
  const channels = options.grayscale ? 1 : 3;
  const image = sharp(patternPixels(width, height, channels), { raw: { width, height, channels } });
  const ext = path.extname(file).toLowerCase();
  const encoded = ext === '.png' ? image.png() : ext === '.webp' ? image.webp() : image.jpeg({ quality: 90 });
  await fs.promises.writeFile(file, await encoded.toBuffer());
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tsdet-${prefix}-`));
}

export interface ToolRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs tools/infer.ts with `args` the way a user would (tsx, from the repository root), wasm on one thread. */
export function runInferTool(args: readonly string[]): Promise<ToolRun> {
  const tool = path.join(REPO_ROOT, 'tools', 'infer.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', tool, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, TSDET_BACKEND: 'wasm', TSDET_THREADS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The lines of `text` that contain `needle`. */
export function linesWith(text: string, needle: string): string[] {
  return text.split('\n').filter((line) => line.includes(needle));
}
