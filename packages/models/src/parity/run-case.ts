/**
 * Dispatches a fixture case folder to the runner of its kind. Each kind (module cases here;
 * task utilities, RoIAlign/NMS and detectors in their own files) is a CaseRunner listed in
 * CASE_RUNNERS; a case no runner claims is an error, never skipped silently.
 */
import type { Comparison } from './compare.js';
import { readFixtureCase, type FixtureCase } from './fixture-case.js';
import { buildCaseModule, runEvalCase, runTrainCase } from './module-case.js';

export interface CaseReport {
  name: string;
  dir: string;
  description: string;
  comparisons: Comparison[];
  ok: boolean;
}

export interface CaseRunner {
  /** Short name shown in errors, e.g. 'module', 'anchors_coder'. */
  kind: string;
  /** Whether this runner handles the case (by its component keys, files and tensors). */
  matches(c: FixtureCase): boolean;
  run(c: FixtureCase): Comparison[];
}

/** Backbones and necks: `component.type`, weights, `input`/`input.i` -> `output.i` (and train tensors). */
export const moduleCaseRunner: CaseRunner = {
  kind: 'module',
  matches: (c) => typeof c.json.component['type'] === 'string' && c.weights !== undefined && (c.io.has('input') || c.io.has('input.0')) && c.io.has('output.0'),
  run: (c) => {
    const model = buildCaseModule(c);
    try {
      return c.json.mode === 'train' ? runTrainCase(c, model) : runEvalCase(c, model);
    } finally {
      model.dispose();
    }
  },
};

const CASE_RUNNERS: CaseRunner[] = [moduleCaseRunner];

/** Adds a runner for another case kind (task modules, detectors); the first match wins. */
export function registerCaseRunner(runner: CaseRunner): void {
  if (CASE_RUNNERS.some((r) => r.kind === runner.kind)) throw new Error(`parity: a runner for '${runner.kind}' cases is already registered`);
  CASE_RUNNERS.push(runner);
}

export interface RunCaseOptions {
  /** Keys merged into the case's component config, e.g. `{with_cp: true}` to check checkpointing. */
  componentOverrides?: Record<string, unknown>;
}

export function runCase(dir: string, options: RunCaseOptions = {}): CaseReport {
  const read = readFixtureCase(dir);
  const c = options.componentOverrides ? { ...read, json: { ...read.json, component: { ...read.json.component, ...options.componentOverrides } } } : read;
  const runner = CASE_RUNNERS.find((r) => r.matches(c));
  if (!runner) {
    const kinds = CASE_RUNNERS.map((r) => r.kind).join(', ');
    throw new Error(`${dir}: no parity runner handles this case (component keys ${JSON.stringify(Object.keys(c.json.component))}; runners: ${kinds})`);
  }
  const comparisons = runner.run(c);
  return { name: c.name, dir, description: c.json.description, comparisons, ok: comparisons.length > 0 && comparisons.every((r) => r.ok) };
}
