/**
 * tools/freeze-report.ts CONFIG [--cfg-options k=v ...] [--mode train|eval]
 *
 * Builds the config's backbone (`model`, or `model.backbone` for detectors) and prints, per
 * stage, which parameters are frozen, which BNs run in eval mode, which blocks checkpoint, and
 * where plugins sit, plus parameter counts.
 */
import { Command } from 'commander';
import { exitAfter, initBackend, MODELS, prepareConfig, type Module } from '@tsdet/core';
import { registerData } from '@tsdet/data';
import { formatFreezeReport, freezeReport, registerModels } from '@tsdet/models';
import { registerEngine } from '@tsdet/engine';

const program = new Command()
  .name('freeze-report')
  .argument('<config>', 'config file')
  .option('--cfg-options <key=value...>', 'override settings')
  .option('--mode <mode>', 'train or eval: the mode the report describes', 'train')
  .parse();

const options = program.opts<{ cfgOptions?: string[]; mode: string }>();

let code = 0;
try {
  await initBackend({ backend: 'cpu', verbose: false });
  registerModels();
  registerData();
  registerEngine();
  const { resolved } = await prepareConfig(program.args[0]!, { cfgOptions: options.cfgOptions });
  const model = resolved['model'] as Record<string, unknown>;
  const [cfg, path] = model['backbone'] ? [model['backbone'], 'model.backbone'] : [model, 'model'];
  const backbone = MODELS.build<Module>(cfg, { path });
  backbone.train(options.mode === 'train');
  console.log(`${path} (${(cfg as { type: string }).type}) in ${options.mode} mode:`);
  console.log(formatFreezeReport(freezeReport(backbone)));
  backbone.dispose();
} catch (error) {
  console.error(`freeze-report: ${error instanceof Error ? error.message : String(error)}`);
  code = 1;
}
exitAfter(code);
