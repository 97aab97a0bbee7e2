/**
 * tools/make-shapes-dataset.ts [--out data/shapes] [--train 800] [--val 100] [--seed 0]
 *
 * Generates the synthetic shapes dataset (circle, square, triangle, star; COCO format) that the
 * README's training command uses: <out>/annotations/{train,val}.json and <out>/{train,val}/*.png.
 * The same seed gives byte-identical files; a folder that already holds the dataset with the same
 * parameters is left alone. See docs/data.md.
 */
import { Command, InvalidArgumentError } from 'commander';
import { exitAfter } from '@tsdet/core';
import { makeShapesDataset, ShapesDatasetError } from '@tsdet/data';

function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected an integer >= 0');
  return n;
}

const program = new Command()
  .name('make-shapes-dataset')
  .description('Generate the synthetic shapes detection dataset (COCO format).')
  .option('--out <dir>', 'output folder', 'data/shapes')
  .option('--train <n>', 'training images', nonNegativeInteger, 800)
  .option('--val <n>', 'validation images', nonNegativeInteger, 100)
  .option('--seed <n>', 'seed (same seed, same bytes)', nonNegativeInteger, 0)
  .parse();

const options = program.opts<{ out: string; train: number; val: number; seed: number }>();

makeShapesDataset(options)
  .then((result) => {
    if (result.generated) console.log(`wrote ${result.images} images (${result.objects} objects) to ${options.out} in ${result.seconds.toFixed(1)} s`);
    else console.log(`${options.out} already holds the shapes dataset with these parameters (train ${options.train}, val ${options.val}, seed ${options.seed}); nothing to do`);
    exitAfter(0);
  })
  .catch((error: unknown) => {
    console.error(`error: ${error instanceof ShapesDatasetError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    exitAfter(1);
  });
