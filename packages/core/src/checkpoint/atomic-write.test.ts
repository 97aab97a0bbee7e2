import fs, { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'chai';

import { writeFileAtomic, writeFileAtomicWith, type AtomicWriteFs } from './atomic-write.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

class InjectedFailure extends Error {}

/** Real fs calls, with `overrides` replacing some of them. */
function fsWith(overrides: Partial<AtomicWriteFs>): AtomicWriteFs {
  return { ...(fs as AtomicWriteFs), ...overrides };
}

describe('checkpoint/atomic-write', () => {
  let dir: string;
  let target: string;
  const OLD = 'old complete content\n';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsdet-atomic-'));
    target = join(dir, 'model.safetensors');
    writeFileSync(target, OLD);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const expectOldFileAndNoTemp = () => {
    expect(readFileSync(target, 'utf8')).to.equal(OLD);
    expect(readdirSync(dir)).to.deep.equal(['model.safetensors']);
  };

  it('replaces the file with bytes or a string and leaves no temp file', () => {
    writeFileAtomic(target, Uint8Array.from([1, 2, 3]));
    expect([...readFileSync(target)]).to.deep.equal([1, 2, 3]);
    writeFileAtomic(target, 'text ✓');
    expect(readFileSync(target, 'utf8')).to.equal('text ✓');
    writeFileAtomic(join(dir, 'new.bin'), new Uint8Array(0));
    expect(readdirSync(dir).sort()).to.deep.equal(['model.safetensors', 'new.bin']);
  });

  it("keeps an existing file's permissions", () => {
    fs.chmodSync(target, 0o640);
    writeFileAtomic(target, 'new');
    expect(statSync(target).mode & 0o777).to.equal(0o640);
  });

  it('a write that fails midway (after a short write) leaves the old file intact and no temp file', () => {
    const bigger = new Uint8Array(1000).fill(7);
    let calls = 0;
    const failingSecondWrite = fsWith({
      writeSync(fd, buffer, offset, length) {
        calls++;
        if (calls > 1) throw new InjectedFailure('ENOSPC: no space left on device');
        // A short write of half the bytes really reaches the temp file first.
        return fs.writeSync(fd, buffer, offset, Math.ceil(length / 2));
      },
    });
    expect(() => writeFileAtomicWith(failingSecondWrite, target, bigger)).to.throw(InjectedFailure, /ENOSPC/);
    expect(calls).to.equal(2);
    expectOldFileAndNoTemp();
  });

  it('keeps writing after short writes until everything is written', () => {
    const data = Uint8Array.from({ length: 100 }, (_, i) => i);
    const shortWrites = fsWith({ writeSync: (fd, buffer, offset, length) => fs.writeSync(fd, buffer, offset, Math.min(length, 7)) });
    writeFileAtomicWith(shortWrites, target, data);
    expect([...readFileSync(target)]).to.deep.equal([...data]);
  });

  it('a failing fsync leaves the old file intact and no temp file', () => {
    const failingFsync = fsWith({
      fsyncSync() {
        throw new InjectedFailure('EIO');
      },
    });
    expect(() => writeFileAtomicWith(failingFsync, target, 'new content')).to.throw(InjectedFailure);
    expectOldFileAndNoTemp();
  });

  it('a failing rename (destination is a directory) removes the temp file and rethrows', () => {
    const directory = join(dir, 'occupied');
    mkdirSync(join(directory, 'child'), { recursive: true });
    expect(() => writeFileAtomic(directory, 'data')).to.throw(/EISDIR|ENOTEMPTY|EEXIST|EPERM/);
    expect(readdirSync(dir).sort()).to.deep.equal(['model.safetensors', 'occupied']);
    expect(readdirSync(directory)).to.deep.equal(['child']);
  });

  it('a missing directory fails before anything is written', () => {
    expect(() => writeFileAtomic(join(dir, 'missing', 'x.bin'), 'data')).to.throw(/ENOENT/);
    expectOldFileAndNoTemp();
  });

  it('writeSafetensors goes through the atomic path: invalid input never touches the old file', () => {
    writeSafetensors(target, { w: { dtype: 'float32', shape: [1], data: Float32Array.from([1]) } });
    const before = readFileSync(target);
    expect(() => writeSafetensors(target, { w: { dtype: 'float32', shape: [2], data: new Float32Array(1) } })).to.throw();
    expect(readFileSync(target).equals(before)).to.equal(true);
    expect(readSafetensors(target).tensors.get('w')!.data[0]).to.equal(1);
    expect(readdirSync(dir)).to.deep.equal(['model.safetensors']);
  });
});
