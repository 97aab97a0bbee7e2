/**
 * Build-time checks that a detector's parts fit together: the neck's in_channels against the
 * backbone's outputs, and the heads against the levels they read (channels, count, strides).
 * Each problem names both config paths, and every problem is reported at once, so a config
 * mistake surfaces before any forward pass.
 */
import { ConfigValidationError, type ConfigIssue } from '@tsdet/core';
import type { FeatureShape } from '../backbones/resnet/resnet.js';
import type { RPNHead } from '../dense-heads/rpn-head/rpn-head.js';
import type { StandardRoIHead } from '../roi-heads/standard-roi-head/standard-roi-head.js';

/** Feature levels and the config path that produces them (`model.neck` or `model.backbone`). */
export interface LevelSource {
  shapes: readonly FeatureShape[];
  path: string;
}

function describeLevels(shapes: readonly FeatureShape[]): string {
  return shapes.map((s) => `${s.name} ${s.channels}ch/stride ${s.stride}`).join(', ');
}

function throwIfAny(issues: ConfigIssue[], context: string): void {
  if (issues.length) throw new ConfigValidationError(issues, context);
}

/** The neck config's `in_channels` (one entry per backbone output, lowest first) against the backbone. */
export function checkNeckInputs(neckInChannels: unknown, backbone: LevelSource, neckPath: string, context: string): void {
  if (!Array.isArray(neckInChannels)) return;
  const issues: ConfigIssue[] = [];
  const at = `${neckPath}.in_channels`;
  if (neckInChannels.length !== backbone.shapes.length) {
    issues.push({ path: at, message: `has ${neckInChannels.length} entries, but ${backbone.path} outputs ${backbone.shapes.length} levels (${describeLevels(backbone.shapes)}); check ${backbone.path}.out_indices` });
  } else {
    neckInChannels.forEach((channels, i) => {
      const level = backbone.shapes[i]!;
      if (channels !== level.channels) issues.push({ path: `${at}.${i}`, message: `is ${String(channels)}, but ${backbone.path} output ${i} (${level.name}) has ${level.channels} channels` });
    });
  }
  throwIfAny(issues, context);
}

/** The RPN's in_channels and anchor strides against the levels it reads (all of them). */
export function rpnIssues(rpn: RPNHead, levels: LevelSource, rpnPath: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const wrongChannels = levels.shapes.find((s) => s.channels !== rpn.inChannels);
  if (wrongChannels) issues.push({ path: `${rpnPath}.in_channels`, message: `is ${rpn.inChannels}, but ${levels.path} outputs ${wrongChannels.channels} channels (${describeLevels(levels.shapes)})` });
  const strides = rpn.anchorGenerator.strides;
  const stridesPath = `${rpnPath}.anchor_generator.strides`;
  if (strides.length !== levels.shapes.length) {
    issues.push({ path: stridesPath, message: `has ${strides.length} levels, but ${levels.path} outputs ${levels.shapes.length} (${describeLevels(levels.shapes)})` });
  } else {
    strides.forEach(([sw, sh], i) => {
      const stride = levels.shapes[i]!.stride;
      if (sw !== stride || sh !== stride) issues.push({ path: `${stridesPath}.${i}`, message: `is ${sw === sh ? sw : `[${sw}, ${sh}]`}, but ${levels.path} output ${i} (${levels.shapes[i]!.name}) has stride ${stride}` });
    });
  }
  return issues;
}

/** The RoI extractor's out_channels and featmap_strides against the first levels it reads. */
export function roiIssues(roi: StandardRoIHead, levels: LevelSource, roiPath: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const extractor = roi.bboxRoiExtractor;
  const extractorPath = `${roiPath}.bbox_roi_extractor`;
  const read = levels.shapes.slice(0, extractor.numInputs);
  const wrongChannels = read.find((s) => s.channels !== extractor.outChannels);
  if (wrongChannels) issues.push({ path: `${extractorPath}.out_channels`, message: `is ${extractor.outChannels}, but ${levels.path} outputs ${wrongChannels.channels} channels (${describeLevels(levels.shapes)})` });
  if (extractor.numInputs > levels.shapes.length) {
    issues.push({ path: `${extractorPath}.featmap_strides`, message: `names ${extractor.numInputs} levels, but ${levels.path} outputs ${levels.shapes.length} (${describeLevels(levels.shapes)})` });
  } else {
    extractor.featmapStrides.forEach((stride, i) => {
      if (stride !== read[i]!.stride) issues.push({ path: `${extractorPath}.featmap_strides.${i}`, message: `is ${stride}, but ${levels.path} output ${i} (${read[i]!.name}) has stride ${read[i]!.stride}` });
    });
  }
  return issues;
}

/** Both heads against the levels, reported together. */
export function checkHeadInputs(parts: { rpn?: RPNHead; roi?: StandardRoIHead }, levels: LevelSource, path: string, context: string): void {
  const issues = [...(parts.rpn ? rpnIssues(parts.rpn, levels, `${path}.rpn_head`) : []), ...(parts.roi ? roiIssues(parts.roi, levels, `${path}.roi_head`) : [])];
  throwIfAny(issues, context);
}
