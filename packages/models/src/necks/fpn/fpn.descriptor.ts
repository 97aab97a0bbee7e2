import { defineComponent } from '@tsdet/core';
import { FPN } from './fpn.js';
import { fpnSchema, type FPNConfig } from './fpn.schema.js';

/** mmdet's FPN neck; cross-key checks (level bookkeeping) run in the constructor, naming the config path. */
export const fpnDescriptor = defineComponent<FPNConfig, FPN>({
  type: 'FPN',
  description: 'Feature Pyramid Network neck (lateral + top-down + extra levels), mmdetection semantics',
  schema: fpnSchema(),
  build: (cfg, ctx) => new FPN(cfg, ctx.path),
});
