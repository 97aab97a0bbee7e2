import { expect } from 'chai';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config } from './config.js';
import { importCustomModules } from './custom-imports.js';
import { ConfigError } from './errors.js';
import { loadConfig } from './loader.js';

const CUSTOM = fileURLToPath(new URL('../../tests-data/config/custom/', import.meta.url));
const probe = (): unknown => (globalThis as { tsdetCustomImportProbe?: unknown }).tsdetCustomImportProbe;

async function rejectionOf(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('importCustomModules', () => {
  it('imports paths relative to the config file and package specifiers, and returns them', async () => {
    const config = loadConfig(path.join(CUSTOM, 'with-imports.json'));
    expect(await importCustomModules(config)).to.deep.equal(['./probe-module.mjs', 'node:path']);
    expect(probe()).to.be.a('number');
  });

  it('does nothing without custom_imports', async () => {
    expect(await importCustomModules(Config.fromObject({ model: {} }))).to.deep.equal([]);
  });

  it('fails on a module that cannot be imported, naming the entry, the config file and the cause', async () => {
    const file = path.join(CUSTOM, 'failing-imports.json');
    const error = await rejectionOf(importCustomModules(loadConfig(file)));
    expect(error.message).to.contain('./no-such-module.mjs').and.to.contain('failing-imports.json').and.to.match(/Cannot find module/i);
    expect(error.file).to.equal(file);
    expect(error.cause).to.be.instanceOf(Error);
  });

  it('warns once per failing entry and goes on when allow_failed_imports is true', async () => {
    const warnings: string[] = [];
    const config = loadConfig(path.join(CUSTOM, 'allowed-failures.json'));
    const loaded = await importCustomModules(config, { warn: (message) => warnings.push(message) });
    expect(loaded).to.deep.equal(['./probe-module.mjs']);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.contain('./no-such-module.mjs').and.to.contain('allowed-failures.json');
  });

  it('accepts a single string, as mmengine does', async () => {
    const config = Config.fromObject({ custom_imports: { imports: 'node:os' } });
    expect(await importCustomModules(config)).to.deep.equal(['node:os']);
  });

  it('rejects a malformed custom_imports, naming the path', async () => {
    const notAList = Config.fromObject({ custom_imports: { imports: [1] } }, path.join(CUSTOM, 'inline.json'));
    const error = await rejectionOf(importCustomModules(notAList));
    expect(error.configPath).to.equal('custom_imports.imports');
    expect(error.message).to.contain('inline.json');
    const badFlag = Config.fromObject({ custom_imports: { imports: [], allow_failed_imports: 'yes' } });
    expect((await rejectionOf(importCustomModules(badFlag))).configPath).to.equal('custom_imports.allow_failed_imports');
  });
});
