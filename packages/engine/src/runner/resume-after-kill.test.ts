/**
 * A training process killed with SIGKILL right after its first checkpoint, then resumed with
 * --resume semantics (work_dir/last_checkpoint), reaches bit-identical losses to an uninterrupted
 * run on the same backend; every checkpoint file on disk is complete.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCheckpoint } from '@tsdet/core';

const SCRIPT = path.resolve(import.meta.dirname, '../../tests/support/train-toy.ts');

interface ChildRun {
  /** loss by iteration (0-based) */
  losses: Map<number, number>;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function runChild(workDir: string, args: string[], killAfterFirstSave = false): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    // node itself (not the tsx CLI, which runs the script in a grandchild a kill would miss).
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', SCRIPT, workDir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const losses = new Map<number, number>();
    let buffered = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [kind, a, b] = line.split(' ');
        if (kind === 'LOSS') losses.set(Number(a), JSON.parse(b!) as number);
        if (kind === 'SAVED' && killAfterFirstSave) child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ losses, code, signal, stderr }));
  });
}

describe('resume after SIGKILL (separate processes)', function () {
  this.timeout(240_000);

  it('continues with bit-identical losses, and no checkpoint on disk is half-written', async () => {
    const fullDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdet-full-'));
    const full = await runChild(fullDir, ['--epochs', '4']);
    expect(full.code, full.stderr).to.equal(0);
    expect(full.losses.size).to.equal(32);

    const killedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdet-killed-'));
    const killed = await runChild(killedDir, ['--epochs', '4'], true);
    expect(killed.signal).to.equal('SIGKILL');
    const checkpoints = fs.readdirSync(killedDir).filter((f) => f.endsWith('.pth'));
    expect(checkpoints.length).to.be.at.least(1);
    for (const file of checkpoints) expect(loadCheckpoint(path.join(killedDir, file)).stateDict.size).to.equal(2);
    const last = fs.readFileSync(path.join(killedDir, 'last_checkpoint'), 'utf8');
    expect(fs.existsSync(last)).to.equal(true);

    const resumed = await runChild(killedDir, ['--epochs', '4', '--resume']);
    expect(resumed.code, resumed.stderr).to.equal(0);
    const first = Math.min(...resumed.losses.keys());
    expect(first % 8).to.equal(0); // an epoch boundary (8 batches per epoch)
    expect(first).to.be.at.least(8);
    for (const [iteration, loss] of resumed.losses) expect(loss, `iteration ${iteration}`).to.equal(full.losses.get(iteration));
    expect(Math.max(...resumed.losses.keys())).to.equal(31);
  });
});
