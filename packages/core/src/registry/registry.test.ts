import { expect } from 'chai';
import { ContainerModule } from 'inversify';
import { closestMatches, editDistance } from './closest.js';
import { registerConfigSection, validateConfig } from './config-sections.js';
import { defineComponent, type ComponentConfig } from './descriptor.js';
import { ConfigValidationError } from './issues.js';
import { kindToken } from './kinds.js';
import { loadComponents, MODELS, RegistryError, TASK_UTILS } from './registry.js';
import { componentList, componentRef } from './validator.js';

interface ToyBackboneCfg {
  depth: 18 | 50;
  out_indices: number[];
  norm_cfg: { type: string; requires_grad: boolean };
  frozen_stages: number;
}
class ToyBackbone {
  constructor(readonly cfg: ToyBackboneCfg) {}
}
class ToyDetector {
  constructor(
    readonly backbone: ToyBackbone,
    readonly heads: unknown[],
  ) {}
}

MODELS.register(
  defineComponent<ToyBackboneCfg, ToyBackbone>({
    type: 'RegistryTestBackbone',
    schema: {
      properties: {
        depth: { enum: [18, 50] },
        out_indices: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 3 }, default: [0, 1, 2, 3] },
        frozen_stages: { type: 'integer', minimum: -1, maximum: 4, default: -1 },
        norm_cfg: {
          type: 'object',
          properties: { type: { enum: ['BN', 'GN'] }, requires_grad: { type: 'boolean', default: true } },
          additionalProperties: false,
          default: { type: 'BN' },
        },
      },
      required: ['depth'],
    },
    build: (cfg) => new ToyBackbone(cfg),
  }),
);
MODELS.register(
  defineComponent<{ backbone: ComponentConfig; heads: ComponentConfig[] }, ToyDetector>({
    type: 'RegistryTestDetector',
    schema: { properties: { backbone: componentRef('MODELS'), heads: componentList('TASK_UTILS', 'heads'), num_classes: { type: 'integer', minimum: 1 } }, required: ['backbone'] },
    build: (cfg, ctx) => new ToyDetector(ctx.build<ToyBackbone>('MODELS', cfg.backbone, 'backbone'), (cfg.heads ?? []).map((h, i) => ctx.build('TASK_UTILS', h, `heads.${i}`))),
  }),
);
TASK_UTILS.register({ type: 'RegistryTestHead', schema: { properties: { size: { type: 'number', exclusiveMinimum: 0 } } }, build: (cfg: { size?: number }) => cfg.size ?? 1 });
TASK_UTILS.register({
  type: 'RegistryTestFailingHead',
  schema: {},
  build: () => {
    throw new Error('cannot build this');
  },
});

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.issues.map((i) => `${i.path}: ${i.message}${i.source ? ` @${i.source}` : ''}`);
    throw error;
  }
  throw new Error('expected a ConfigValidationError');
}

describe('registry', () => {
  it('builds nested components with schema defaults filled in, leaving the config untouched', () => {
    const cfg = Object.freeze({ type: 'RegistryTestDetector', backbone: Object.freeze({ type: 'RegistryTestBackbone', depth: 50 }), heads: [{ type: 'RegistryTestHead', size: 2 }] });
    const detector = MODELS.build<ToyDetector>(cfg, { path: 'model' });
    expect(detector.backbone.cfg).to.deep.include({ depth: 50, out_indices: [0, 1, 2, 3], frozen_stages: -1 });
    expect(detector.backbone.cfg.norm_cfg).to.deep.equal({ type: 'BN', requires_grad: true });
    expect(Object.isFrozen(detector.backbone.cfg)).to.equal(true);
    expect(detector.heads).to.deep.equal([2]);
    expect(cfg.backbone).to.deep.equal({ type: 'RegistryTestBackbone', depth: 50 });
  });

  it('reports every problem at once with full config paths and the file that set each value', () => {
    const sources: Record<string, string> = { 'model.backbone.depht': 'configs/child.json', 'model.backbone.out_indices.1': 'configs/base.json' };
    const issues = issuesOf(() =>
      MODELS.build(
        { type: 'RegistryTestDetector', num_classes: 0, backbone: { type: 'RegistryTestBackbone', depht: 50, out_indices: [0, 7], norm_cfg: { type: 'SyncBM' } }, heads: [{ type: 'RegistryTestHaed' }] },
        { path: 'model', sourceOf: (p) => sources[p] },
      ),
    );
    expect(issues).to.have.members([
      'model.num_classes: must be >= 1, got 0',
      "model.backbone: missing required key 'depth' for RegistryTestBackbone",
      "model.backbone.depht: unknown key for RegistryTestBackbone (did you mean 'depth'?) @configs/child.json",
      'model.backbone.out_indices.1: must be <= 3, got 7 @configs/base.json',
      'model.backbone.norm_cfg.type: must be one of ["BN","GN"], got "SyncBM"',
      "model.heads.0.type: 'RegistryTestHaed' is not in the TASK_UTILS registry (did you mean 'RegistryTestHead'?)",
    ]);
  });

  it('rejects an unknown type naming the registry, the config path and the closest names', () => {
    expect(() => MODELS.build({ type: 'RegistryTestBackbon', depth: 18 }, { path: 'model.backbone' })).to.throw(
      ConfigValidationError,
      "model.backbone.type: 'RegistryTestBackbon' is not in the MODELS registry (did you mean 'RegistryTestBackbone'?)",
    );
    expect(() => MODELS.get('Nope')).to.throw(RegistryError, /'Nope' is not in the MODELS registry/);
  });

  it('refuses duplicate names unless forced', () => {
    const descriptor = { type: 'RegistryTestDup', schema: {}, build: () => 1 };
    MODELS.register(descriptor);
    expect(() => MODELS.register({ ...descriptor })).to.throw(RegistryError, /already registered/);
    MODELS.register({ ...descriptor, build: () => 2 }, { force: true });
    expect(MODELS.build({ type: 'RegistryTestDup' })).to.equal(2);
    expect(MODELS.types().filter((t) => t === 'RegistryTestDup')).to.have.length(1);
  });

  it('loads descriptors from an inversify ContainerModule and catches duplicates there', () => {
    loadComponents(new ContainerModule(({ bind }) => void bind(kindToken('MODELS')).toConstantValue({ type: 'RegistryTestFromModule', schema: {}, build: () => 'built' })));
    expect(MODELS.build({ type: 'RegistryTestFromModule' })).to.equal('built');
    const again = new ContainerModule(({ bind }) => void bind(kindToken('MODELS')).toConstantValue({ type: 'RegistryTestFromModule', schema: {}, build: () => 'x' }));
    expect(() => loadComponents(again)).to.throw(RegistryError, /registered twice/);
  });

  it("prefixes a builder's own error with the config path and type", () => {
    expect(() => MODELS.build({ type: 'RegistryTestDetector', backbone: { type: 'RegistryTestBackbone', depth: 18 }, heads: [{ type: 'RegistryTestFailingHead' }] }, { path: 'model' })).to.throw(
      'model.heads.0 (RegistryTestFailingHead): cannot build this',
    );
  });

  it('finds component configs nested in plain dicts (a dataloader\'s dataset pipeline)', () => {
    const dataset = { type: 'object', properties: { pipeline: componentList('TASK_UTILS') }, additionalProperties: false };
    registerConfigSection('registry_test_loader', { type: 'object', properties: { dataset }, additionalProperties: false });
    const issues = issuesOf(() => validateConfig({ registry_test_loader: { dataset: { pipeline: [{ type: 'RegistryTestHead' }, { type: 'RegistryTestHaed' }] } } }));
    expect(issues).to.deep.equal(["registry_test_loader.dataset.pipeline.1.type: 'RegistryTestHaed' is not in the TASK_UTILS registry (did you mean 'RegistryTestHead'?)"]);
  });

  it('reports a key named like an Object.prototype member as an unknown key, not a crash', () => {
    expect(issuesOf(() => MODELS.build({ type: 'RegistryTestBackbone', depth: 18, constructor: 1 }, { path: 'model' }))).to.deep.equal(['model.constructor: unknown key for RegistryTestBackbone']);
  });

  it('validates the config root: unknown sections are errors with a suggestion', () => {
    const issues = issuesOf(() => validateConfig({ modle: {}, model: { type: 'RegistryTestBackbone', depth: 18 }, backend: 'gpu' }));
    expect(issues).to.have.members(["modle: unknown key for the config root (did you mean 'model'?)", 'backend: must be one of ["auto","tensorflow","wasm","cpu"], got "gpu"']);
  });
});

describe('registry/closest', () => {
  it('ranks candidates by edit distance, counting a transposition as one edit', () => {
    expect(editDistance('depht', 'depth')).to.equal(1);
    expect(closestMatches('ResNt', ['ResNet', 'ResNetV1d', 'FPN'])).to.deep.equal(['ResNet']);
    expect(closestMatches('ResNet', ['ResNetV1d', 'FPN', 'ResNetV1c'])).to.deep.equal(['ResNetV1c', 'ResNetV1d']);
    expect(closestMatches('zzzz', ['ResNet'])).to.deep.equal([]);
  });
});
