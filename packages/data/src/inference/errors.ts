import path from 'node:path';

/**
 * A mistake in what the user asked for (files, folders, a checkpoint that does not fit the
 * config): tools print its message as one line, without a stack trace.
 */
export class InferenceError extends Error {
  override name = 'InferenceError';
}

/** A file path as a person reads it in a message: relative to the working directory when inside it. */
export function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), path.resolve(file));
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}
