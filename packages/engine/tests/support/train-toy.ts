/**
 * A tiny training run in its own process, for the kill-and-resume test:
 *   tsx train-toy.ts WORK_DIR [--resume] [--epochs N]
 * prints `LOSS <iteration> <loss as JSON>` after every iteration and `SAVED <file>` after every
 * checkpoint, so the parent can kill it right after the first checkpoint.
 */
import { exitAfter, initBackend } from '@tsdet/core';
import { toyConfig, toyRunner } from './toy-runner.js';

const [workDir, ...flags] = process.argv.slice(2);
const epochs = Number(flags[flags.indexOf('--epochs') + 1] ?? 4) || 4;
const resume = flags.includes('--resume');

async function main(): Promise<void> {
  await initBackend({ backend: 'cpu', verbose: false });
  const { runner } = await toyRunner(workDir!, toyConfig({ epochs, samples: 32, extra: resume ? { resume: true } : {} }));
  runner.registerHook({
    name: 'report',
    priority: 95, // after CheckpointHook (VERY_LOW = 90)
    afterTrainIter: (r, _batchIdx, _batch, outputs) => void process.stdout.write(`LOSS ${r.iter} ${JSON.stringify(outputs.logVars['loss'])}\n`),
    afterTrainEpoch: (r) => {
      process.stdout.write(`SAVED ${r.lastCheckpoint() ?? ''}\n`);
      // Training this toy takes milliseconds: pause so that the parent's kill lands in this run.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    },
  });
  await runner.train();
}

main().then(
  () => exitAfter(0),
  (error: unknown) => {
    console.error(error);
    exitAfter(1);
  },
);
