/**
 * Loads every parity runner beyond module cases. Each import registers its runner with
 * registerCaseRunner; add one line per case kind.
 */
import '../task-modules/parity-runners.js';
import '../detectors/parity-runner.js';
import '../detectors/train-parity-runner.js';

export {};
