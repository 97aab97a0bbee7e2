import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (three levels above this package's src/testing folder). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
