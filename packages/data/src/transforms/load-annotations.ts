import { defineComponent } from '@tsdet/core';
import type { DetInstance, DetResults, Transform } from './types.js';

export interface LoadAnnotationsConfig {
  with_bbox: boolean;
  with_label: boolean;
  /** Masks and segmentation maps are not ported: only `false` is accepted. */
  with_mask: false;
  with_seg: false;
  box_type: 'hbox';
  backend_args?: null;
}

const DEFAULTS: LoadAnnotationsConfig = { with_bbox: true, with_label: true, with_mask: false, with_seg: false, box_type: 'hbox' };

/**
 * mmdet LoadAnnotations: turns the dataset's `instances` into `gt_bboxes` (N x 4 float32),
 * `gt_ignore_flags` and `gt_bboxes_labels`. Labels are int32 (mmdet: int64), the widest integer
 * type tfjs has.
 */
export class LoadAnnotations implements Transform {
  readonly cfg: LoadAnnotationsConfig;

  constructor(cfg: Partial<LoadAnnotationsConfig> = {}) {
    this.cfg = { ...DEFAULTS, ...cfg };
  }

  transform(results: DetResults): DetResults {
    const instances = results.instances ?? [];
    instances.forEach(checkInstance);
    let out: DetResults = results;
    if (this.cfg.with_bbox) out = { ...out, gt_bboxes: Float32Array.from(instances.flatMap((i) => i.bbox)), gt_ignore_flags: Uint8Array.from(instances, (i) => i.ignore_flag ?? 0) };
    if (this.cfg.with_label) out = { ...out, gt_bboxes_labels: Int32Array.from(instances, (i) => i.bbox_label) };
    return out;
  }
}

function checkInstance(instance: DetInstance, index: number): void {
  const { bbox, bbox_label: label } = instance;
  if (!Array.isArray(bbox) || bbox.length !== 4 || !bbox.every(Number.isFinite)) {
    throw new Error(`LoadAnnotations: instances[${index}].bbox must be 4 finite numbers (x1, y1, x2, y2), got ${JSON.stringify(bbox)}`);
  }
  if (!Number.isInteger(label) || label < 0) throw new Error(`LoadAnnotations: instances[${index}].bbox_label must be an integer >= 0, got ${JSON.stringify(label)}`);
}

export const loadAnnotationsDescriptor = defineComponent<LoadAnnotationsConfig, LoadAnnotations>({
  type: 'LoadAnnotations',
  description: "read the sample's instances into gt_bboxes, gt_bboxes_labels and gt_ignore_flags",
  schema: {
    properties: {
      with_bbox: { type: 'boolean', default: DEFAULTS.with_bbox },
      with_label: { type: 'boolean', default: DEFAULTS.with_label },
      with_mask: { const: false, default: false, description: 'instance masks are not supported' },
      with_seg: { const: false, default: false, description: 'segmentation maps are not supported' },
      box_type: { enum: ['hbox'], default: DEFAULTS.box_type },
      backend_args: { type: 'null' },
    },
  },
  build: (cfg) => new LoadAnnotations(cfg),
});
