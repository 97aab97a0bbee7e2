/**
 * The contract between ResNet blocks and attention plugins (mmcv's build_plugin_layer).
 *
 * A plugin is any MODELS component whose schema accepts `in_channels` (set by the block, never
 * by the config) and whose module maps an NHWC tensor to one of the same shape. The child name
 * is the plugin's abbreviation plus the optional `postfix` of its config (`context_block1`).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { MODELS, Module, type ComponentConfig, type ConfigSchema } from '@tsdet/core';

/** What a plugin's builder must return. */
export interface PluginModule extends Module {
  forward(x: tf.Tensor4D): tf.Tensor4D;
}

/** The schema of a plugin config: its own properties plus `in_channels` (injected) and `postfix`. */
export function pluginSchema(properties: Record<string, unknown>, required: string[] = []): ConfigSchema {
  return {
    properties: {
      in_channels: { type: 'integer', minimum: 1, description: 'set by the block the plugin sits in' },
      postfix: { type: ['string', 'integer'], description: 'appended to the child name, to tell two plugins of one type apart' },
      ...properties,
    },
    required: ['in_channels', ...required],
  };
}

/** mmcv's infer_abbr fallback: CamelCase type name to snake_case. */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
}

/** Builds one plugin for a block: returns its child name and module. */
export function buildPlugin(cfg: ComponentConfig, inChannels: number, path: string): [string, PluginModule] {
  const descriptor = MODELS.get(cfg.type, `${path}.type`);
  const properties = (descriptor.schema['properties'] ?? {}) as Record<string, unknown>;
  if (!('in_channels' in properties)) {
    throw new Error(`${path}: plugin '${cfg.type}' does not accept in_channels, so it cannot sit in a ResNet block (declare its schema with pluginSchema())`);
  }
  const { postfix, ...rest } = cfg as ComponentConfig & { postfix?: string | number };
  const module = MODELS.build<unknown>({ ...rest, in_channels: inChannels }, { path });
  if (!(module instanceof Module) || typeof (module as unknown as Partial<PluginModule>).forward !== 'function') {
    throw new Error(`${path}: plugin '${cfg.type}' must build a Module with a forward(x) method`);
  }
  return [`${descriptor.abbreviation ?? snakeCase(cfg.type)}${postfix ?? ''}`, module as PluginModule];
}

/** Runs a plugin and checks it kept the shape the block needs. */
export function runPlugin(name: string, plugin: PluginModule, x: tf.Tensor4D, blockPath: string): tf.Tensor4D {
  const y = plugin.forward(x);
  if (y.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(`${blockPath}.${name} (${plugin.typeName}): a plugin must return its input's shape [${x.shape.join(', ')}] (NHWC), got [${y.shape.join(', ')}]`);
  }
  return y;
}
