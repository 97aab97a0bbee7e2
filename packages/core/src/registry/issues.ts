/** One problem found in a config: where, what, and which file set the value. */
export interface ConfigIssue {
  /** Dotted config path, e.g. `model.backbone.depth`; '' for the root. */
  readonly path: string;
  readonly message: string;
  /** The file (or `--cfg-options ...`) that set the value, when known. */
  readonly source?: string;
}

/** Maps a dotted config path to the file that set it (a Config's `sourceOf`). */
export type SourceLookup = (path: string) => string | undefined;

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.path || '(config root)';
  return `${where}: ${issue.message}${issue.source ? ` (set in ${issue.source})` : ''}`;
}

/** Every problem of a config at once, each naming its path (and file when known). */
export class ConfigValidationError extends Error {
  override name = 'ConfigValidationError';
  constructor(
    readonly issues: readonly ConfigIssue[],
    context = 'config',
  ) {
    super(`${context} has ${issues.length} problem${issues.length === 1 ? '' : 's'}:\n${issues.map((i) => `  - ${formatIssue(i)}`).join('\n')}`);
  }
}

export function joinPath(path: string, key: string | number): string {
  return path ? `${path}.${key}` : String(key);
}
