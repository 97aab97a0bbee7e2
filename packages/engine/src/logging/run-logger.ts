/**
 * Where a run's messages go: `<log_dir>/<timestamp>.log` (every line, mmengine's
 * `asctime - name - level - message` format) and the console. On a terminal a cli-progress bar
 * shows the current pass and log lines are printed above it; elsewhere (CI, pipes) only the plain
 * lines are written.
 */
import { SingleBar } from 'cli-progress';
import fs from 'node:fs';
import path from 'node:path';
import { logTimeOf } from './format.js';

export type LogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL';
const LEVEL_RANK: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 };

export interface RunLoggerOptions {
  /** The .log file; none: console only. */
  file?: string;
  level?: LogLevel;
  /** Console stream (default stdout); a bar is shown only when it is a TTY. */
  stream?: NodeJS.WriteStream;
  /** Console output off (tests). */
  quiet?: boolean;
}

export class RunLogger {
  readonly file: string | undefined;
  readonly #level: number;
  readonly #stream: NodeJS.WriteStream;
  readonly #quiet: boolean;
  #bar: SingleBar | undefined;
  #barState: { label: string; value: number; total: number } | undefined;

  constructor(options: RunLoggerOptions = {}) {
    this.file = options.file;
    this.#level = LEVEL_RANK[options.level ?? 'INFO'];
    this.#stream = options.stream ?? process.stdout;
    this.#quiet = options.quiet ?? false;
    if (this.file) fs.mkdirSync(path.dirname(this.file), { recursive: true });
  }

  info(message: string): void {
    this.log('INFO', message);
  }

  warning(message: string): void {
    this.log('WARNING', message);
  }

  error(message: string): void {
    this.log('ERROR', message);
  }

  log(level: LogLevel, message: string): void {
    if (LEVEL_RANK[level] < this.#level) return;
    const line = `${logTimeOf(new Date())} - tsdet - ${level} - ${message}`;
    if (this.file) fs.appendFileSync(this.file, `${line}\n`);
    if (this.#quiet) return;
    this.#pauseBar();
    this.#stream.write(`${line}\n`);
    this.#resumeBar();
  }

  /** Shows (or moves) the progress bar of the current pass; a no-op off a terminal. */
  progress(label: string, value: number, total: number): void {
    if (this.#quiet || !this.#stream.isTTY) return;
    if (!this.#bar || this.#barState?.label !== label || this.#barState.total !== total) {
      this.endProgress();
      this.#bar = new SingleBar({ format: `${label} [{bar}] {value}/{total} | eta {eta_formatted}`, hideCursor: true, clearOnComplete: true, stream: this.#stream });
      this.#bar.start(total, value);
    } else {
      this.#bar.update(value);
    }
    this.#barState = { label, value, total };
  }

  endProgress(): void {
    this.#bar?.stop();
    this.#bar = undefined;
    this.#barState = undefined;
  }

  // cli-progress restores the cursor to where the bar began, so a line written under a running
  // bar would be overwritten: stop it, write, start it again.
  #pauseBar(): void {
    this.#bar?.stop();
  }

  #resumeBar(): void {
    if (this.#bar && this.#barState) this.#bar.start(this.#barState.total, this.#barState.value);
  }
}
