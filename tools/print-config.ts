/**
 * Prints a fully resolved config: `_base_` chain merged and `--cfg-options` applied. With `--sources`, every leaf
 * is shown with the file or override that set it, which answers "where does this value come from?".
 *
 *   npx tsx --conditions=source tools/print-config.ts CONFIG [--cfg-options k=v ...] [--sources] [--json]
 */
import { Command } from 'commander';
import { ConfigError, ConfigValidationError, loadConfig, prepareLoadedConfig, RegistryError, type Config } from '@tsdet/core';
import { registerData } from '@tsdet/data';
import { registerModels } from '@tsdet/models';
import { registerEngine } from '@tsdet/engine';

interface PrintOptions {
  cfgOptions?: string[];
  validate: boolean;
  sources?: boolean;
  json?: boolean;
}

function render(config: Config, options: PrintOptions): string {
  if (!options.sources) return config.dump();
  if (!options.json) return config.dumpWithSources();
  const sources = Object.fromEntries(config.leaves().map((leaf) => [leaf.path, leaf.source ?? null]));
  return JSON.stringify({ config: config.data, sources }, null, 2);
}

const program = new Command()
  .name('print-config')
  .description('Print a config with its _base_ chain merged and overrides applied.')
  .argument('<config>', 'config file (.json or .json5)')
  // Variadic and repeatable: `--cfg-options a=1 b=2 --cfg-options c=3` gives all three, in order.
  .option('--cfg-options <key=value...>', 'override settings, e.g. model.backbone.depth=101')
  .option('--sources', 'show every leaf with the file or override that set it')
  .option('--json', 'with --sources: print {"config": ..., "sources": {path: source}} instead of lines')
  .option('--no-validate', 'print without checking the config against the registered component schemas')
  .action(async (file: string, options: PrintOptions) => {
    const config = loadConfig(file, { cfgOptions: options.cfgOptions ?? [] });
    if (options.validate) {
      registerModels();
      registerData();
      registerEngine();
      await prepareLoadedConfig(config);
    }
    process.stdout.write(`${render(config, options)}\n`);
  });

try {
  await program.parseAsync();
} catch (error) {
  // A config mistake is the user's to fix: its message, no stack trace. Anything else is a bug and keeps its stack.
  if (!(error instanceof ConfigError || error instanceof ConfigValidationError || error instanceof RegistryError)) throw error;
  process.stderr.write(`print-config: ${error.message}\n`);
  process.exitCode = 1;
}
