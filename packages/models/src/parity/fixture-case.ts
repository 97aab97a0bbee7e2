/** A case folder in the shared fixture format (fixtures/README.md): case.json + safetensors files. */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensors, toFloat32, type RawTensor } from '@tsdet/core';

export interface CaseJson {
  component: Record<string, unknown>;
  mode: 'eval' | 'train';
  input_shapes: Record<string, number[]>;
  description: string;
  tolerance: {
    atol: number;
    rtol: number;
    per_output_atol?: number[];
    atol_map?: Record<string, number>;
    grad_atol?: number;
    grad_rtol?: number;
    grad_atol_per_param?: Record<string, number>;
    buffer_atol?: number;
    [key: string]: unknown;
  };
  frozen_params?: string[];
  [key: string]: unknown;
}

export interface FixtureCase {
  name: string;
  dir: string;
  json: CaseJson;
  weights: Map<string, RawTensor> | undefined;
  io: Map<string, RawTensor>;
}

export function readFixtureCase(dir: string): FixtureCase {
  const caseFile = path.join(dir, 'case.json');
  if (!fs.existsSync(caseFile)) throw new Error(`${dir}: not a fixture case (no case.json)`);
  const json = JSON.parse(fs.readFileSync(caseFile, 'utf8')) as CaseJson;
  const weightsFile = path.join(dir, 'weights.safetensors');
  const weights = fs.existsSync(weightsFile) ? readSafetensors(weightsFile).tensors : undefined;
  const io = readSafetensors(path.join(dir, 'io.safetensors')).tensors;
  return { name: path.basename(dir), dir, json, weights, io };
}

/** The tensor `key` of the case's io file, or an error naming the case and key. */
export function ioTensor(c: FixtureCase, key: string): RawTensor {
  const t = c.io.get(key);
  if (!t) throw new Error(`${c.dir}/io.safetensors: no tensor '${key}'`);
  return t;
}

/** An NCHW fixture tensor as an NHWC tfjs tensor. */
export function nchwToNhwc(t: RawTensor): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(toFloat32(t), t.shape as [number, number, number, number]), [0, 2, 3, 1]));
}

/** Inputs `input` or `input.0`, `input.1`, ... in order. */
export function inputKeys(c: FixtureCase): string[] {
  if (c.io.has('input')) return ['input'];
  const keys: string[] = [];
  for (let i = 0; c.io.has(`input.${i}`); i++) keys.push(`input.${i}`);
  return keys;
}

/** Outputs `output.0`, `output.1`, ... in order. */
export function outputKeys(c: FixtureCase): string[] {
  const keys: string[] = [];
  for (let i = 0; c.io.has(`output.${i}`); i++) keys.push(`output.${i}`);
  return keys;
}

/** The default fixtures folder: $TSDET_FIXTURES, else ../shared/fixtures beside the repository. */
export function fixturesDir(repoRoot: string): string {
  return process.env['TSDET_FIXTURES'] ?? path.resolve(repoRoot, '..', 'shared', 'fixtures');
}
