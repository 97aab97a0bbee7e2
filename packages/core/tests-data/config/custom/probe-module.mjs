// Stands in for a module that registers components on import: it leaves a trace the tests can see.
globalThis.tsdetCustomImportProbe = (globalThis.tsdetCustomImportProbe ?? 0) + 1;
