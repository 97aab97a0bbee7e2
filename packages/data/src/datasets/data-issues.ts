/**
 * Bad data is never skipped silently: every annotation or image a dataset leaves out for a
 * problem in the data gets a message naming the file and the annotation or image id, and a count
 * per reason that the data loader exposes (`skipped`) for the training log.
 */

/** Why an annotation or an image was left out, and what that means, for messages and docs. */
export const SKIP_REASONS = {
  malformed_annotation: 'annotation without a bbox of four finite numbers [x, y, w, h]',
  degenerate_box: 'box narrower or lower than 1 pixel, or with area <= 0',
  box_outside_image: 'box entirely outside its image',
  unknown_category: "category_id not among the annotation file's categories",
  unknown_image: "image_id not among the annotation file's images",
  image_without_size: 'image entry without a positive width and height',
  missing_image: 'image file not found',
  unreadable_image: 'image file that cannot be read or decoded',
  dropped_by_pipeline: 'a transform returned no sample (e.g. LoadImageFromFile ignore_empty)',
} as const;

export type SkipReason = keyof typeof SKIP_REASONS;

/** How many annotations or images were left out, per reason (reasons that never occurred are absent). */
export type SkipCounts = Readonly<Partial<Record<SkipReason, number>>>;

export type DataWarningHandler = (message: string) => void;

let warningHandler: DataWarningHandler = (message) => console.warn(message);

/**
 * Where data warnings go (default console.warn); returns the previous handler. The engine points
 * it at its logger; tests capture it.
 */
export function setDataWarningHandler(handler: DataWarningHandler): DataWarningHandler {
  const previous = warningHandler;
  warningHandler = handler;
  return previous;
}

/** Messages printed per reason before the rest are only counted (a bad file can have thousands). */
const MESSAGES_PER_REASON = 10;

/** Counts problems per reason and prints the first few of each with a common prefix. */
export class DataIssueLog {
  readonly #counts = new Map<SkipReason, number>();

  constructor(readonly prefix: string) {}

  report(reason: SkipReason, message: string): void {
    const count = (this.#counts.get(reason) ?? 0) + 1;
    this.#counts.set(reason, count);
    if (count <= MESSAGES_PER_REASON) warningHandler(`${this.prefix}: ${message}`);
    if (count === MESSAGES_PER_REASON) warningHandler(`${this.prefix}: further '${reason}' problems are counted but not printed`);
  }

  /** A snapshot of the counts. */
  counts(): SkipCounts {
    return Object.fromEntries(this.#counts);
  }

  /** One line for the end of loading, or undefined when nothing was skipped. */
  summary(): string | undefined {
    if (this.#counts.size === 0) return undefined;
    const parts = [...this.#counts].map(([reason, count]) => `${count} ${reason}`);
    return `${this.prefix}: skipped ${parts.join(', ')}`;
  }

  /** Prints the summary line, if any. */
  warnSummary(): void {
    const line = this.summary();
    if (line) warningHandler(line);
  }
}
