import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const DATA = 'packages/core/tests-data/config';

/** Runs the CLI as a user would, from the repository root. */
function printConfig(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return runPrintConfig('--no-validate', ...args);
}

/** The CLI with validation on (its default): these configs use only registered components. */
function runPrintConfig(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('npx', ['tsx', '--conditions=source', 'tools/print-config.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('tools/print-config', () => {
  it('validates by default: every problem with its path and file, exit status 1', () => {
    const { status, stdout, stderr } = runPrintConfig('tests/third-party/bad_plugin_config.json');
    expect(status).to.equal(1);
    expect(stdout).to.equal('');
    expect(stderr).to.contain("model.plugins.0.cfg.ratoi: unknown key for SqueezeExcitation (did you mean 'ratio'?) (set in tests/third-party/bad_plugin_config.json)");
    expect(stderr).to.contain('model.plugins.0.position: must be one of');
  });

  it('prints a valid config after validating it', () => {
    const { status, stdout } = runPrintConfig('configs/resnet/resnet50_frozen1_cp.json');
    expect(status).to.equal(0);
    expect((JSON.parse(stdout) as { model: { with_cp: boolean; frozen_stages: number } }).model).to.include({ with_cp: true, frozen_stages: 1 });
  });

  it('prints the merged config as pretty JSON', () => {
    const { status, stdout, stderr } = printConfig(`${DATA}/faster-rcnn_r101_voc.json`);
    expect(stderr).to.equal('');
    expect(status).to.equal(0);
    const config = JSON.parse(stdout) as { model: { backbone: { depth: number; frozen_stages: number } } };
    expect(config.model.backbone).to.include({ depth: 101, frozen_stages: 1 });
    expect(stdout).to.contain('\n  "model": {');
  });

  it('applies --cfg-options, repeated flags accumulating in order', () => {
    const { status, stdout } = printConfig(
      `${DATA}/faster-rcnn_r101_voc.json`,
      '--cfg-options',
      'model.backbone.depth=18',
      'train_cfg.max_epochs=24',
      '--cfg-options',
      'model.backbone.depth=34',
    );
    expect(status).to.equal(0);
    const config = JSON.parse(stdout) as { model: { backbone: { depth: number } }; train_cfg: { max_epochs: number } };
    expect(config.model.backbone.depth).to.equal(34);
    expect(config.train_cfg.max_epochs).to.equal(24);
  });

  it('with --sources prints each leaf with the file or override that set it', () => {
    const { status, stdout } = printConfig(`${DATA}/faster-rcnn_r101_voc.json`, '--sources', '--cfg-options', 'train_cfg.max_epochs=24');
    expect(status).to.equal(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines.find((line) => line.startsWith('model.backbone.depth = 101'))).to.match(/# packages\/core\/tests-data\/config\/faster-rcnn_r101_voc\.json$/);
    expect(lines.find((line) => line.startsWith('model.backbone.frozen_stages = 1'))).to.match(/# .*_base_\/models\/faster-rcnn_r50\.json$/);
    expect(lines.find((line) => line.startsWith('train_cfg.max_epochs = 24'))).to.match(/# --cfg-options train_cfg\.max_epochs=24$/);
  });

  it('with --sources --json prints the config and a path → source map', () => {
    const { status, stdout } = printConfig(`${DATA}/faster-rcnn_r101_voc.json`, '--sources', '--json');
    expect(status).to.equal(0);
    const parsed = JSON.parse(stdout) as { config: { model: unknown }; sources: Record<string, string> };
    expect(parsed.config.model).to.be.an('object');
    expect(parsed.sources['model.backbone.depth']).to.equal(path.join(ROOT, DATA, 'faster-rcnn_r101_voc.json'));
  });

  it('reports a missing file in one line on stderr and exits 1', () => {
    const { status, stdout, stderr } = printConfig(`${DATA}/no-such-config.json`);
    expect(status).to.equal(1);
    expect(stdout).to.equal('');
    expect(stderr).to.equal(`print-config: config file not found: ${DATA}/no-such-config.json\n`);
  });

  it('reports a config error in one line without a stack trace', () => {
    const { status, stderr } = printConfig(`${DATA}/faster-rcnn_r50_coco.json`, '--cfg-options', 'train_pipeline.7.scale=(1,1)');
    expect(status).to.equal(1);
    expect(stderr.trimEnd().split('\n')).to.deep.equal([
      'print-config: --cfg-options train_pipeline.7.scale=(1,1): index 7 is out of range for train_pipeline, a list of length 5',
    ]);
  });
});
