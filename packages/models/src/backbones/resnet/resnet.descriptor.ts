import { defineComponent, loadPretrained, type ConfigSchema } from '@tsdet/core';
import { ResNet } from './resnet.js';
import { resnetSchema, type ResNetConfig } from './resnet.schema.js';

/** Builds a ResNet and applies its Pretrained init, if any, after construction (mmdet's init order). */
function buildResNet(cfg: ResNetConfig, path: string): ResNet {
  const model = new ResNet(cfg, path);
  const checkpoint = cfg.init_cfg?.checkpoint ?? cfg.pretrained;
  if (checkpoint) {
    if (cfg.pretrained) console.warn(`${path}.pretrained is deprecated (as in mmdet): use init_cfg: {type: 'Pretrained', checkpoint}`);
    loadPretrained(model, { checkpoint, prefix: cfg.init_cfg?.prefix, configPath: `${path}.init_cfg` });
  }
  return model;
}

/** A schema whose `forced` keys are fixed by the variant: setting them in a config is an error. */
function variantSchema(forced: Partial<ResNetConfig>): ConfigSchema {
  const schema = resnetSchema();
  const properties = { ...(schema['properties'] as Record<string, unknown>) };
  for (const key of Object.keys(forced)) delete properties[key];
  return { ...schema, properties };
}

function variant(type: string, forced: Partial<ResNetConfig>, description: string) {
  return defineComponent<ResNetConfig, ResNet>({
    type,
    description,
    schema: variantSchema(forced),
    build: (cfg, ctx) => buildResNet({ ...cfg, ...forced }, ctx.path),
  });
}

export const resnetDescriptor = defineComponent<ResNetConfig, ResNet>({
  type: 'ResNet',
  description: 'ResNet backbone (depths 18-152), mmdetection semantics',
  schema: resnetSchema(),
  build: (cfg, ctx) => buildResNet(cfg, ctx.path),
});

/** mmsegmentation/mmpretrain's ResNetV1c: the deep 3x3 stem, plain 1x1 strided shortcuts. */
export const resnetV1cDescriptor = variant('ResNetV1c', { deep_stem: true, avg_down: false }, 'ResNet with a deep stem (three 3x3 convs)');

/** mmdet's ResNetV1d: deep stem and average-pool shortcuts (Bag of Tricks). */
export const resnetV1dDescriptor = variant('ResNetV1d', { deep_stem: true, avg_down: true }, 'ResNet with a deep stem and avg-pool downsampling');
