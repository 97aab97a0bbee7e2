import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** The file-system calls an atomic write makes; replaceable so tests can inject failures. */
export interface AtomicWriteFs {
  openSync(path: string, flags: string, mode?: number): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
  statSync(path: string): { mode: number };
  fchmodSync(fd: number, mode: number): void;
}

const nodeFs: AtomicWriteFs = fs;

// Written in bounded chunks: writeSync may write less than asked, and huge single writes are
// slower to fail on full disks.
const CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * Replace `path` with `data` so that readers (and a crash at any moment) see either the old file
 * or the complete new one, never a partial file: write a temp file in the same directory (rename
 * is only atomic within one file system), fsync it, then rename it over the destination. On any
 * error the temp file is removed and the error rethrown. An existing file's permissions are kept.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  writeFileAtomicWith(nodeFs, path, data);
}

/** {@link writeFileAtomic} with explicit file-system calls (for tests). */
export function writeFileAtomicWith(fsCalls: AtomicWriteFs, path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const target = resolve(path);
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const existingMode = modeOf(fsCalls, target);
  // 'wx': fail rather than follow/clobber something that already sits at the temp name.
  const fd = fsCalls.openSync(temp, 'wx', 0o666);
  let open = true;
  try {
    if (existingMode !== undefined) fsCalls.fchmodSync(fd, existingMode);
    writeAll(fsCalls, fd, bytes);
    fsCalls.fsyncSync(fd);
    open = false;
    fsCalls.closeSync(fd);
    fsCalls.renameSync(temp, target);
  } catch (error) {
    if (open) ignoreErrors(() => fsCalls.closeSync(fd));
    ignoreErrors(() => fsCalls.unlinkSync(temp));
    throw error;
  }
}

function writeAll(fsCalls: AtomicWriteFs, fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.byteLength) {
    const length = Math.min(CHUNK_BYTES, bytes.byteLength - offset);
    offset += fsCalls.writeSync(fd, bytes, offset, length);
  }
}

function modeOf(fsCalls: AtomicWriteFs, path: string): number | undefined {
  try {
    return fsCalls.statSync(path).mode & 0o7777;
  } catch {
    return undefined; // no existing file: keep the default (umask-filtered) mode
  }
}

function ignoreErrors(action: () => void): void {
  try {
    action();
  } catch {
    // cleanup after a failure must not mask the original error
  }
}
