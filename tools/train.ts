/**
 * tools/train.ts CONFIG [--work-dir DIR] [--resume [CHECKPOINT]] [--cfg-options key=value...]
 *                [--backend auto|wasm|cpu|tensorflow] [--threads N] [--seed N] [--auto-scale-lr]
 *
 * mmdetection's tools/train.py: builds the run from the config through the registries and
 * trains it, writing logs and checkpoints to the work dir (default work_dirs/<config name>).
 * --resume without a path continues from work_dir/last_checkpoint; with one, from that file.
 * See docs/engine.md.
 */
import { Command, Option } from 'commander';
import { BACKEND_NAMES, exitAfter, type BackendName } from '@tsdet/core';
import { buildRunner } from '@tsdet/engine';
import { dataLoaderFactory, runTool, workDirOf, loadRunConfig, nonNegativeInteger, positiveInteger, startBackend } from './train-common.js';

interface TrainOptions {
  workDir?: string;
  resume?: boolean | string;
  cfgOptions?: string[];
  backend?: BackendName;
  threads?: number;
  seed?: number;
  autoScaleLr?: boolean;
}

const program = new Command()
  .name('train')
  .description('Train a detector from a config (mmdetection tools/train.py).')
  .argument('<config>', 'config file (.json)')
  .option('--work-dir <dir>', 'where logs and checkpoints go (default: work_dir in the config, else work_dirs/<config name>)')
  .option('--resume [checkpoint]', 'resume training: from CHECKPOINT, or from the newest checkpoint in the work dir')
  .option('--cfg-options <key=value...>', 'override config settings, e.g. train_cfg.max_epochs=2')
  .addOption(new Option('--backend <name>', 'compute backend (default: the config, then TSDET_BACKEND, then auto)').choices(BACKEND_NAMES))
  .option('--threads <n>', 'wasm threads (default: TSDET_THREADS, then every core)', positiveInteger)
  .option('--seed <n>', 'random seed (overrides randomness.seed)', nonNegativeInteger)
  .option('--auto-scale-lr', 'scale the lr by batch size / auto_scale_lr.base_batch_size')
  .exitOverride((error) => exitAfter(error.exitCode))
  .parse();

const [configFile] = program.processedArgs as [string];
const options = program.opts<TrainOptions>();

async function main(): Promise<number> {
  const { resolved: config } = await loadRunConfig(configFile, options.cfgOptions);
  const backend = await startBackend(config, options);
  const runner = await buildRunner(config, {
    mode: 'train',
    workDir: workDirOf(config, configFile, options.workDir),
    seed: options.seed,
    autoScaleLr: options.autoScaleLr,
    resume: options.resume,
    buildDataLoader: dataLoaderFactory(),
    backend,
  });
  await runner.train();
  return 0;
}

runTool('train', main);
