/**
 * tools/test.ts CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options key=value...]
 *               [--backend auto|wasm|cpu|tensorflow] [--threads N] [--runtime tfjs|onnx]
 *
 * mmdetection's tools/test.py: evaluates CHECKPOINT (a tsdet or mmdetection .pth, or
 * .safetensors) on the config's test_dataloader with its test_evaluator and prints the metrics
 * (also logged under the work dir). With --runtime onnx, CHECKPOINT is a model written by
 * tools/export-onnx.ts and runs on onnxruntime-node (the config still gives the data, the
 * pipeline and the metric). See docs/engine.md and docs/onnx.md.
 */
import { Command, Option } from 'commander';
import fs from 'node:fs';
import { BACKEND_NAMES, exitAfter, type BackendName } from '@tsdet/core';
import { buildRunner } from '@tsdet/engine';
import { dataLoaderFactory, runTool, workDirOf, loadRunConfig, positiveInteger, startBackend } from './train-common.js';

interface TestOptions {
  workDir?: string;
  cfgOptions?: string[];
  backend?: BackendName;
  threads?: number;
  runtime: 'tfjs' | 'onnx';
}

const program = new Command()
  .name('test')
  .description('Evaluate a checkpoint on the test set of a config (mmdetection tools/test.py).')
  .argument('<config>', 'config file (.json)')
  .argument('<checkpoint>', 'weights: .pth (tsdet or mmdetection) or .safetensors')
  .option('--work-dir <dir>', 'where the log goes (default: work_dir in the config, else work_dirs/<config name>)')
  .option('--cfg-options <key=value...>', 'override config settings, e.g. test_evaluator.classwise=true')
  .addOption(new Option('--backend <name>', 'compute backend (default: the config, then TSDET_BACKEND, then auto)').choices(BACKEND_NAMES))
  .option('--threads <n>', 'wasm threads (default: TSDET_THREADS, then every core); ONNX Runtime threads with --runtime onnx', positiveInteger)
  .addOption(new Option('--runtime <name>', 'tfjs (tsdet) or onnx (CHECKPOINT is an exported .onnx, run on onnxruntime-node)').choices(['tfjs', 'onnx']).default('tfjs'))
  .exitOverride((error) => exitAfter(error.exitCode))
  .parse();

const [configFile, checkpoint] = program.processedArgs as [string, string];
const options = program.opts<TestOptions>();

async function main(): Promise<number> {
  if (!fs.existsSync(checkpoint)) throw new Error(`checkpoint ${checkpoint}: file not found`);
  const { resolved: config } = await loadRunConfig(configFile, options.cfgOptions);
  const backend = await startBackend(config, options);
  const runner = await buildRunner(config, {
    mode: 'test',
    workDir: workDirOf(config, configFile, options.workDir),
    loadFrom: checkpoint,
    buildDataLoader: dataLoaderFactory(),
    backend,
    quiet: true,
  });
  let metrics;
  if (options.runtime === 'onnx') {
    const { OnnxDetector } = await import('@tsdet/onnx');
    const onnx = await OnnxDetector.load(checkpoint, { threads: options.threads });
    try {
      metrics = await runner.test(onnx);
    } finally {
      await onnx.dispose();
    }
  } else {
    metrics = await runner.test();
  }
  for (const [name, value] of Object.entries(metrics)) console.log(`${name}: ${typeof value === 'number' ? value.toFixed(4) : value}`);
  return 0;
}

runTool('test', main);
