/**
 * Runs a module case (backbone or neck; eval or train) from the shared fixtures: builds the
 * component from the registry, loads the mmdet weights, runs the input and compares outputs
 * and, in train mode, the loss, every gradient and every BN buffer after the forward.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadStateDict, MODELS, stateDictOf, tfjsToTorch, toFloat32, type Module } from '@tsdet/core';
import { compareArrays, missing, type Comparison } from './compare.js';
import { inputKeys, ioTensor, nchwToNhwc, outputKeys, type FixtureCase } from './fixture-case.js';

/** The forward of a module case: one NHWC tensor, or a list of them (FPN's C2..C5). */
interface ForwardModule extends Module {
  forward(x: tf.Tensor4D | tf.Tensor4D[]): tf.Tensor4D | tf.Tensor4D[];
}

export function buildCaseModule(c: FixtureCase): ForwardModule {
  const model = MODELS.build<ForwardModule>(c.json.component, { path: `${c.name}/case.json:component` });
  if (c.weights) loadStateDict(model, c.weights, { strict: true, source: `${c.dir}/weights.safetensors` });
  return c.json.mode === 'train' ? model.train() : model.eval();
}

function forwardOutputs(model: ForwardModule, inputs: tf.Tensor4D[]): tf.Tensor4D[] {
  const out = model.forward(inputs.length === 1 ? inputs[0]! : inputs);
  return Array.isArray(out) ? out : [out];
}

function compareOutputs(c: FixtureCase, outputs: tf.Tensor4D[]): Comparison[] {
  const { tolerance } = c.json;
  const keys = outputKeys(c);
  const results = keys.map((key, i) => {
    const tol = { atol: tolerance.per_output_atol?.[i] ?? tolerance.atol, rtol: tolerance.rtol };
    const ours = outputs[i];
    if (!ours) return missing(key, `the module returned ${outputs.length} outputs`, tol);
    const ref = ioTensor(c, key);
    const nchw = tf.tidy(() => tf.transpose(ours, [0, 3, 1, 2]));
    const shapeOk = nchw.shape.every((d, j) => d === ref.shape[j]);
    const result = shapeOk ? compareArrays(key, nchw.dataSync(), toFloat32(ref), tol) : missing(key, `shape [${nchw.shape.join(', ')}], expected [${ref.shape.join(', ')}] (NCHW)`, tol);
    nchw.dispose();
    return result;
  });
  if (outputs.length > keys.length) results.push(missing('outputs', `the module returned ${outputs.length} outputs, the case has ${keys.length}`));
  return results;
}

/** Eval case: outputs only. */
export function runEvalCase(c: FixtureCase, model: ForwardModule): Comparison[] {
  const inputs = inputKeys(c).map((k) => nchwToNhwc(ioTensor(c, k)));
  const outputs = tf.tidy(() => forwardOutputs(model, inputs));
  const results = compareOutputs(c, outputs);
  tf.dispose([...inputs, ...outputs]);
  return results;
}

/** Train case: one forward in train mode, loss = sum_i sum(output_i * proj_i), its gradients, buffers after. */
export function runTrainCase(c: FixtureCase, model: ForwardModule): Comparison[] {
  const inputs = inputKeys(c).map((k) => nchwToNhwc(ioTensor(c, k)));
  const projections = outputKeys(c).map((_, i) => nchwToNhwc(ioTensor(c, `proj.${i}`)));
  const params = model.namedParameters().filter(([, p]) => p.requiresGrad);
  let outputs: tf.Tensor4D[] = [];
  const { value, grads } = tf.variableGrads(() => {
    outputs = forwardOutputs(model, inputs).map((o) => tf.keep(o));
    return tf.addN(outputs.map((o, i) => tf.sum(tf.mul(o, projections[i]!)))) as tf.Scalar;
  }, params.map(([, p]) => p.variable));
  const results = [...compareOutputs(c, outputs), compareLoss(c, value), ...compareGrads(c, params, grads), ...compareBuffers(c, model)];
  tf.dispose([...inputs, ...projections, ...outputs, value, ...Object.values(grads)]);
  return results;
}

function compareLoss(c: FixtureCase, loss: tf.Scalar): Comparison {
  const ref = toFloat32(ioTensor(c, 'loss'));
  // The loss sums every output element: its float32 noise scales with the magnitude.
  return compareArrays('loss', loss.dataSync(), ref, { atol: c.json.tolerance.atol, rtol: c.json.tolerance.rtol });
}

function compareGrads(c: FixtureCase, params: ReturnType<Module['namedParameters']>, grads: tf.NamedTensorMap): Comparison[] {
  const { tolerance } = c.json;
  const refKeys = [...c.io.keys()].filter((k) => k.startsWith('grad.')).map((k) => k.slice('grad.'.length));
  const ours = new Set(params.map(([name]) => name));
  const results: Comparison[] = [];
  for (const name of refKeys.filter((k) => !ours.has(k))) results.push(missing(`grad.${name}`, 'the reference trains this parameter, ours is frozen'));
  for (const [name, p] of params) {
    const tol = { atol: tolerance.grad_atol_per_param?.[name] ?? tolerance.grad_atol ?? tolerance.atol, rtol: tolerance.grad_rtol ?? tolerance.rtol };
    const ref = c.io.get(`grad.${name}`);
    if (!ref) {
      results.push(missing(`grad.${name}`, 'ours trains this parameter, the reference has it frozen (no grad.* entry)', tol));
      continue;
    }
    const grad = grads[p.variable.name];
    if (!grad) {
      results.push(missing(`grad.${name}`, 'no gradient reached this parameter', tol));
      continue;
    }
    const torch = tfjsToTorch(p.layout, { shape: grad.shape, data: grad.dataSync() as Float32Array });
    results.push(compareArrays(`grad.${name}`, torch.data, toFloat32(ref), tol));
  }
  return results;
}

function compareBuffers(c: FixtureCase, model: Module): Comparison[] {
  const tol = { atol: c.json.tolerance.buffer_atol ?? c.json.tolerance.atol, rtol: 0 };
  const state = stateDictOf(model);
  return [...c.io.keys()]
    .filter((k) => k.startsWith('buffer_after.'))
    .map((key) => {
      const name = key.slice('buffer_after.'.length);
      const ours = state.get(name);
      if (!ours) return missing(key, 'the module has no such buffer', tol);
      return compareArrays(key, toFloat32(ours), toFloat32(ioTensor(c, key)), tol);
    });
}
