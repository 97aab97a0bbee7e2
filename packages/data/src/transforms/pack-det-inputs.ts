import { defineComponent } from '@tsdet/core';
import { boxCount } from '../boxes/boxes.js';
import { requireImage } from './require.js';
import type { DetMetaInfo, DetResults, InstanceData, PackedDetInputs, Transform } from './types.js';

export interface PackDetInputsConfig {
  meta_keys: string[];
}

export const DEFAULT_META_KEYS: readonly string[] = ['img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction'];

/**
 * mmdet PackDetInputs: the image becomes `inputs`; boxes and labels are split by ignore flag into
 * `gt_instances` and `ignored_instances`; `meta_keys` are copied into the metainfo, and a missing
 * one is an error (as mmdet asserts), which catches a pipeline that lacks a step.
 */
export class PackDetInputs implements Transform {
  readonly cfg: PackDetInputsConfig;

  constructor(cfg: Partial<PackDetInputsConfig> = {}) {
    this.cfg = { meta_keys: [...(cfg.meta_keys ?? DEFAULT_META_KEYS)] };
  }

  transform(results: DetResults): PackedDetInputs {
    const inputs = requireImage(results, 'PackDetInputs');
    const ignored = results.gt_ignore_flags;
    return {
      inputs,
      data_samples: {
        metainfo: this.#metainfo(results),
        gt_instances: selectInstances(results, ignored ? (i) => ignored[i] === 0 : () => true),
        ignored_instances: selectInstances(results, ignored ? (i) => ignored[i] === 1 : () => false),
      },
    };
  }

  #metainfo(results: DetResults): DetMetaInfo {
    const missing = this.cfg.meta_keys.filter((key) => !(key in results) || results[key] === undefined);
    if (missing.length) {
      throw new Error(`PackDetInputs: meta key(s) ${missing.map((k) => `'${k}'`).join(', ')} not found in the results (they have: ${Object.keys(results).join(', ')})`);
    }
    return Object.fromEntries(this.cfg.meta_keys.map((key) => [key, results[key]]));
  }
}

/** The boxes and labels whose index passes `keep`; empty arrays when none were loaded. */
function selectInstances(results: DetResults, keep: (index: number) => boolean): InstanceData {
  const boxes = results.gt_bboxes ?? new Float32Array(0);
  const labels = results.gt_bboxes_labels ?? new Int32Array(0);
  const indices = [...Array(boxCount(boxes)).keys()].filter(keep);
  return {
    bboxes: Float32Array.from(indices.flatMap((i) => [...boxes.subarray(i * 4, i * 4 + 4)])),
    labels: labels.length ? Int32Array.from(indices, (i) => labels[i]!) : new Int32Array(0),
  };
}

/** Narrows a pipeline's output to what PackDetInputs emits. */
export function isPackedDetInputs(value: unknown): value is PackedDetInputs {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record['inputs'] === 'object' && record['inputs'] !== null && typeof record['data_samples'] === 'object' && record['data_samples'] !== null;
}

export const packDetInputsDescriptor = defineComponent<PackDetInputsConfig, PackDetInputs>({
  type: 'PackDetInputs',
  description: 'pack the image, the ground truth and the meta keys into {inputs, data_samples}',
  schema: {
    properties: {
      meta_keys: { type: 'array', items: { type: 'string' }, uniqueItems: true, default: [...DEFAULT_META_KEYS] },
    },
  },
  build: (cfg) => new PackDetInputs(cfg),
});
