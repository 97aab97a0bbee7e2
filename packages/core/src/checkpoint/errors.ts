/**
 * Thrown for every problem reading or interpreting a checkpoint: missing file, unknown format,
 * corrupt or truncated data, unsupported content. `file` is the path (or the caller's label when
 * reading from memory); `key` names the tensor or entry at fault when there is one.
 */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
  readonly file: string;
  readonly key: string | undefined;

  constructor(file: string, message: string, options: { key?: string; cause?: unknown } = {}) {
    const where = options.key === undefined ? file : `${file} [${options.key}]`;
    super(`${where}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.file = file;
    this.key = options.key;
  }
}

/** The message of anything thrown, for wrapping third-party errors. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
