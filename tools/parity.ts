/**
 * tools/parity.ts CASE_DIR... [--backend wasm|cpu] [--threads N] [--runtime tfjs|onnx]
 *
 * Runs fixture case folders (the format of ../shared/fixtures/README.md) and prints, per tensor,
 * the max abs/rel error against the case's tolerance. Exit status 1 if any tensor is out of
 * tolerance or missing, or a case cannot run. With --runtime onnx each case's model is exported
 * to ONNX and run on onnxruntime-node instead (docs/onnx.md).
 */
import { Command } from 'commander';
import { exitAfter, initBackend, type BackendName } from '@tsdet/core';
import { registerData } from '@tsdet/data';
import { formatComparison, registerModels, runCase, type CaseReport } from '@tsdet/models';

const program = new Command()
  .name('parity')
  .argument('<case-dirs...>', 'fixture case folders')
  .option('--backend <name>', 'auto | wasm | cpu | tensorflow', 'wasm')
  .option('--threads <n>', 'wasm threads', (v) => Number.parseInt(v, 10))
  .option('--quiet', 'print only failing tensors and the summary line per case')
  .option('--runtime <name>', 'tfjs (tsdet itself) | onnx (exported, on onnxruntime-node)', 'tfjs')
  .parse();

const options = program.opts<{ backend: BackendName; threads?: number; quiet?: boolean; runtime: string }>();

/** One case on the chosen runtime; the ONNX package loads only when asked for. */
async function runOne(dir: string): Promise<CaseReport> {
  if (options.runtime === 'tfjs') return runCase(dir);
  if (options.runtime !== 'onnx') throw new Error(`--runtime: expected tfjs or onnx, got '${options.runtime}'`);
  const { runCaseOnnx } = await import('@tsdet/onnx');
  const report = await runCaseOnnx(dir, { threads: options.threads });
  return { ...report, name: `${report.name} [onnx: ${report.scope}]` };
}

async function main(): Promise<number> {
  await initBackend({ backend: options.backend, threads: options.threads });
  registerModels();
  registerData();
  let failed = 0;
  for (const dir of program.args) {
    try {
      const report = await runOne(dir);
      for (const c of report.comparisons) if (!options.quiet || !c.ok) console.log(`  ${formatComparison(c)}`);
      const bad = report.comparisons.filter((c) => !c.ok).length;
      console.log(`${report.ok ? 'PASS' : 'FAIL'} ${report.name}: ${report.comparisons.length - bad}/${report.comparisons.length} tensors within tolerance`);
      if (!report.ok) failed++;
    } catch (error) {
      console.log(`FAIL ${dir}: ${error instanceof Error ? error.message : String(error)}`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

main()
  .then((code) => exitAfter(code))
  .catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    exitAfter(1);
  });
