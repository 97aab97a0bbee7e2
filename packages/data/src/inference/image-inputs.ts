/**
 * The images an inference run reads, from what the user typed: files as given (a missing one
 * fails later with its own line, so the run goes on), folders expanded to their image files, and
 * for each image the output file stem, unique within the run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InferenceError } from './errors.js';

/** The file types folders are searched for (files named explicitly may be of any type libvips reads). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];

export interface ImageInputs {
  /** Image paths in the order given, each folder's files sorted by name. */
  readonly images: readonly string[];
  /** Folders that held no image file: worth a line, not a failure. */
  readonly emptyFolders: readonly string[];
}

export function expandImageInputs(args: readonly string[]): ImageInputs {
  const images: string[] = [];
  const emptyFolders: string[] = [];
  for (const arg of args) {
    if (!isDirectory(arg)) {
      images.push(arg);
      continue;
    }
    const found = imagesInFolder(arg);
    if (!found.length) emptyFolders.push(arg);
    images.push(...found);
  }
  return { images, emptyFolders };
}

function isDirectory(file: string): boolean {
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/** The folder's image files (not recursive), sorted by name so that runs are reproducible. */
function imagesInFolder(folder: string): string[] {
  return fs
    .readdirSync(folder, { withFileTypes: true })
    .filter((entry) => !entry.isDirectory() && IMAGE_EXTENSIONS.includes(path.extname(entry.name).toLowerCase()))
    .map((entry) => entry.name)
    .sort()
    .map((name) => path.join(folder, name));
}

/**
 * The output stem of each image: its file name without the extension; where two images share
 * a stem (cat.jpg, cat.png) the extension is kept (cat_jpg, cat_png), and where that still
 * collides (the same name in two folders) a counter follows (cat_jpg_2).
 */
export function outputStems(images: readonly string[]): string[] {
  const stemOf = (file: string) => path.basename(file, path.extname(file));
  const stemCounts = countBy(images.map(stemOf));
  const used = new Set<string>();
  return images.map((file) => {
    const stem = stemOf(file);
    const base = stemCounts.get(stem)! > 1 ? `${stem}_${path.extname(file).slice(1) || 'noext'}` : stem;
    let unique = base;
    for (let n = 2; used.has(unique); n++) unique = `${base}_${n}`;
    used.add(unique);
    return unique;
  });
}

function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

/** The .png and .json an image's results go to. */
export function outputFiles(outDir: string, stem: string): { png: string; json: string } {
  return { png: path.join(outDir, `${stem}.png`), json: path.join(outDir, `${stem}.json`) };
}

/** Refuses an output folder where a result would overwrite one of the input images. */
export function checkOutputsSpareInputs(outDir: string, images: readonly string[], stems: readonly string[]): void {
  const inputs = new Set(images.map((file) => path.resolve(file)));
  stems.forEach((stem, i) => {
    for (const output of Object.values(outputFiles(outDir, stem))) {
      if (inputs.has(path.resolve(output))) throw new InferenceError(`--out ${outDir}: the result for ${images[i]} would overwrite the input image ${output}; choose another output folder`);
    }
  });
}
