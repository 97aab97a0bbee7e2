import { ConfigValidationError, componentList, defineComponent, joinPath, TRANSFORMS, type ComponentConfig, type ConfigIssue, type SourceLookup } from '@tsdet/core';
import type { DetResults, Transform, TransformContext } from './types.js';

/** mmcv Compose: runs transforms in order; a transform returning null drops the sample. */
export class Compose implements Transform {
  constructor(readonly transforms: readonly Transform[]) {}

  async transform(results: DetResults, context?: TransformContext): Promise<DetResults | null> {
    let data = results;
    for (const step of this.transforms) {
      const next = await step.transform(data, context);
      if (next === null) return null;
      data = next;
    }
    return data;
  }
}

export interface BuildPipelineOptions {
  /** Dotted config path of the list, named in errors (e.g. `test_pipeline`). Default 'pipeline'. */
  path?: string;
  /** Which file set each value, named in errors. */
  sourceOf?: SourceLookup;
}

/**
 * Builds a pipeline from a list of transform configs through the TRANSFORMS registry. Every
 * problem of every step is reported at once, each with its path (`test_pipeline.2.type: ...`).
 */
export function buildPipeline(configs: unknown, options: BuildPipelineOptions = {}): Compose {
  const path = options.path ?? 'pipeline';
  if (!Array.isArray(configs)) throw new ConfigValidationError([{ path, message: 'must be a list of transform configs', source: options.sourceOf?.(path) }], path);
  const issues: ConfigIssue[] = [];
  const transforms: Transform[] = [];
  configs.forEach((cfg, index) => {
    try {
      transforms.push(TRANSFORMS.build<Transform>(cfg, { path: joinPath(path, index), sourceOf: options.sourceOf }));
    } catch (error) {
      if (!(error instanceof ConfigValidationError)) throw error;
      issues.push(...error.issues);
    }
  });
  if (issues.length) throw new ConfigValidationError(issues, path);
  return new Compose(transforms);
}

export const composeDescriptor = defineComponent<{ transforms: ComponentConfig[] }, Compose>({
  type: 'Compose',
  description: 'a list of transforms run in order',
  schema: { properties: { transforms: componentList('TRANSFORMS', 'the transforms, in order') }, required: ['transforms'] },
  build: (cfg, ctx) => new Compose(cfg.transforms.map((t, i) => ctx.build<Transform>('TRANSFORMS', t, `transforms.${i}`))),
});
