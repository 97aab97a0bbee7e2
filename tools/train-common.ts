/**
 * What tools/train.ts and tools/test.ts share: registering every package, loading and validating
 * the config, choosing the backend and work_dir, and finding @tsdet/data's dataloader builder.
 */
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { exitAfter, initBackend, prepareConfig, type BackendName, type PreparedConfig } from '@tsdet/core';
import * as data from '@tsdet/data';
import { registerEngine, type DataLoaderFactory } from '@tsdet/engine';
import { registerModels } from '@tsdet/models';

export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected an integer >= 1');
  return n;
}

export function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError('expected an integer from 0 to 4294967295');
  return n;
}

/** --work-dir, else the config's work_dir, else mmdet's default work_dirs/<config file name without extension>. */
export function workDirOf(config: Record<string, unknown>, configFile: string, option: string | undefined): string {
  return option ?? (config['work_dir'] as string | undefined) ?? path.join('work_dirs', path.basename(configFile).replace(/\.json5?$/, ''));
}

/** Registers every package, then loads and validates the config (the resolved dict and its provenance). */
export async function loadRunConfig(configFile: string, cfgOptions: readonly string[] | undefined): Promise<PreparedConfig> {
  registerModels();
  data.registerData();
  registerEngine();
  return prepareConfig(configFile, { cfgOptions });
}

/** --backend, then the config's backend key, then TSDET_BACKEND, then auto (as tools/infer.ts). */
export async function startBackend(config: Record<string, unknown>, options: { backend?: BackendName; threads?: number }): Promise<string> {
  const info = await initBackend({ backend: options.backend ?? (config['backend'] as BackendName | undefined), threads: options.threads });
  return info.name;
}

/** The engine builds its dataloaders with @tsdet/data's buildDataLoader. */
export function dataLoaderFactory(): DataLoaderFactory {
  return (cfg, { path: configPath, seed }) => data.buildDataLoader(cfg, { path: configPath, seed });
}

/** A failure as one message (config and checkpoint mistakes carry their paths), no stack trace. */
export function describeFailure(tool: string, error: unknown): string {
  return `${tool}: ${error instanceof Error ? error.message : String(error)}`;
}

/** Runs a tool's main and exits with its code; a failure is one line on stderr and exit code 1. */
export function runTool(tool: string, main: () => Promise<number>): void {
  main()
    .then((code) => exitAfter(code))
    .catch((error: unknown) => {
      console.error(describeFailure(tool, error));
      exitAfter(1);
    });
}
