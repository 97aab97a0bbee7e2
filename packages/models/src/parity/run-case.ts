/** Dispatches a fixture case folder to the runner of its kind; later issues add detector kinds. */
import { compareArrays, type Comparison } from './compare.js';
import { readFixtureCase, type FixtureCase } from './fixture-case.js';
import { buildCaseModule, runEvalCase, runTrainCase } from './module-case.js';

export interface CaseReport {
  name: string;
  dir: string;
  description: string;
  comparisons: Comparison[];
  ok: boolean;
}

/** Case kinds this version can run; a case of another kind is reported, not skipped silently. */
function isModuleCase(c: FixtureCase): boolean {
  return typeof c.json.component['type'] === 'string' && c.weights !== undefined && (c.io.has('input') || c.io.has('input.0'));
}

export function runCase(dir: string): CaseReport {
  const c = readFixtureCase(dir);
  if (!isModuleCase(c)) throw new Error(`${dir}: this case kind (component ${JSON.stringify(Object.keys(c.json.component))}) is not supported yet by tools/parity.ts`);
  const model = buildCaseModule(c);
  try {
    const comparisons = c.json.mode === 'train' ? runTrainCase(c, model) : runEvalCase(c, model);
    return { name: c.name, dir, description: c.json.description, comparisons, ok: comparisons.every((r) => r.ok) };
  } finally {
    model.dispose();
  }
}

export { compareArrays };
