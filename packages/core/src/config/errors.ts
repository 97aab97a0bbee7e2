/** The one error type of the config system: every message names the file and/or the config path at fault. */
import * as path from 'node:path';

export interface ConfigErrorDetails {
  /** Dotted path inside the config, list indices as numbers: `train_pipeline.2.scale`. */
  configPath?: string;
  /** Absolute path of the config file at fault (the one that holds or references the bad value). */
  file?: string;
  cause?: unknown;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly configPath?: string;
  readonly file?: string;

  constructor(message: string, details: ConfigErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    if (details.configPath !== undefined) this.configPath = details.configPath;
    if (details.file !== undefined) this.file = details.file;
  }
}

/** A file path as a human wants to read it in a message: relative to the working directory when inside it. */
export function displayPath(file: string): string {
  if (!path.isAbsolute(file)) return file;
  const relative = path.relative(process.cwd(), file);
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}
