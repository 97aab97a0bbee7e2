/**
 * npm run bench -- [--workload NAME ...] [--backend wasm] [--threads 2] [--runs 5] [--warmup 2] [--json] [--no-torch]
 *                  [--runtime tfjs|onnx] [--size HxW] [--no-profile]
 * npm run bench -- --workload r50_800x1216_train r50_800x1216_train_cp --max-side
 *
 * --max-side finds, for each 800x1216 workload, the largest square input (side a multiple of 32)
 * whose step still runs within the wasm heap: a binary search, each probe one step in a child
 * process (running out of the heap aborts the wasm module, which cannot be caught in-process).
 *
 * --runtime onnx exports the same model (same random weights) to ONNX and times it on
 * onnxruntime-node (r50_224, r50_800x1216, frcnn_800x1216); GFLOP/s and tensor memory are tfjs
 * figures and are left out there.
 *
 * Speed and memory of tsdet's workloads, each with warm-up and the median of timed runs, and the
 * same workload in PyTorch measured in the same command when /usr/bin/python3 has torch
 * (../shared/bench/torch_reference.py), so ratios compare like with like on this machine.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import { exitAfter, initBackend, loadConfig, MODELS, parseLosses, startBufferMeter, WINOGRAD_KERNEL, type BackendInfo, type BackendName } from '@tsdet/core';
import { Linear, registerModels, type ResNet } from '@tsdet/models';
import type { TwoStageDetector } from '@tsdet/models';

interface Workload {
  /** Runs once; returns nothing that holds tensors. */
  step(): void;
  train: boolean;
  dispose(): void;
}

interface Result {
  workload: string;
  backend: string;
  threads: number;
  median_ms: number;
  min_ms: number;
  runs: number;
  gflops: number;
  /** tf.profile's peak: counts a buffer once per tensor viewing it (the tape's saved clones twice). */
  peak_tensor_mb: number;
  /** Peak of the buffers a step allocates beyond what existed before it, each counted once. */
  peak_step_buffer_mb?: number;
  wasm_heap_mb?: number;
  peak_rss_mb: number;
  torch_median_ms?: number;
  ratio?: number;
  note?: string;
}

const TORCH_SCRIPT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'shared', 'bench', 'torch_reference.py');

function resnet50(extra: Record<string, unknown>): ResNet {
  return MODELS.build<ResNet>({ type: 'ResNet', depth: 50, ...extra }, { path: 'bench.model' });
}

/** Convolution and matMul multiply-accumulates of the kernels `profile` recorded. */
function kernelMacs(profile: Awaited<ReturnType<typeof tf.profile>>): number {
  let macs = 0;
  for (const k of profile.kernels) {
    const out = k.outputShapes[0];
    const filter = k.inputShapes[1];
    if (!out || !filter) continue;
    if (k.name === 'Conv2D' || k.name === 'FusedConv2D') macs += product(out) * filter[0]! * filter[1]! * filter[2]!;
    // Counted as the direct 3x3 conv it replaces (inputs x, u0..u15: u0 is [1, 1, C, K]), so that
    // GFLOP/s compares with PyTorch's; Winograd itself multiplies 16/36 of that.
    if (k.name === WINOGRAD_KERNEL) macs += product(out) * 9 * filter[2]!;
    // A matMul's reduction length is the last axis of a (the kernel sees 2-D inputs as batch 1).
    const a = k.inputShapes[0];
    if ((k.name === 'BatchMatMul' || k.name === '_FusedMatMul') && a) macs += product(out) * a[a.length - 1]!;
  }
  return macs;
}

function forwardWorkload(input: [number, number, number, number], withHead: boolean): Workload {
  const model = resnet50({}).eval();
  const fc = withHead ? new Linear({ inFeatures: 2048, outFeatures: 1000 }) : undefined;
  const x = tf.randomNormal(input) as tf.Tensor4D;
  const run = () =>
    tf.tidy(() => {
      const outs = model.forward(x);
      const last = outs[outs.length - 1]!;
      const result = fc ? fc.forward(tf.mean(last, [1, 2]) as tf.Tensor2D) : last;
      result.dataSync();
    });
  return { step: run, train: false, dispose: () => (model.dispose(), fc?.dispose(), x.dispose()) };
}

/** A train step with SGD momentum 0.9 (lr 0.01) over every trainable parameter. */
function sgdStep(variables: tf.Variable[], loss: () => tf.Scalar, momenta: tf.Variable[]): void {
  tf.tidy(() => {
    const { value, grads } = tf.variableGrads(loss, variables);
    variables.forEach((v, i) => {
      const buf = momenta[i]!;
      buf.assign(tf.add(tf.mul(buf, 0.9), grads[v.name]!));
      v.assign(tf.sub(v, tf.mul(buf, 0.01)));
    });
    value.dataSync();
  });
}

/** Input size of the detection-size workloads: 800x1216 unless --size HxW. */
let detectionSize: [number, number] = [800, 1216];

function trainWorkload(kind: 'cls224' | 'backbone800', withCp: boolean, frozenStages = -1): Workload {
  // As torch_reference.py: BN uses batch statistics; every parameter trains unless frozen_stages.
  const model = resnet50({ norm_eval: false, frozen_stages: frozenStages, with_cp: withCp }).train();
  const fc = kind === 'cls224' ? new Linear({ inFeatures: 2048, outFeatures: 1000 }) : undefined;
  const x = tf.randomNormal(kind === 'cls224' ? [2, 224, 224, 3] : [1, ...detectionSize, 3]) as tf.Tensor4D;
  const labels = tf.oneHot(tf.tensor1d([3, 7], 'int32'), 1000);
  const variables = [...model.trainableVariables(), ...(fc?.trainableVariables() ?? [])];
  const momenta = variables.map((v) => tf.variable(tf.zerosLike(v), false));
  const loss = (): tf.Scalar => {
    const outs = model.forward(x);
    if (fc) return tf.losses.softmaxCrossEntropy(labels, fc.forward(tf.mean(outs[3]!, [1, 2]) as tf.Tensor2D)) as tf.Scalar;
    return tf.addN(outs.map((o) => tf.square(tf.mean(o)))) as tf.Scalar;
  };
  return {
    step: () => sgdStep(variables, loss, momenta),
    train: true,
    dispose: () => (model.dispose(), fc?.dispose(), tf.dispose([x, labels, ...momenta])),
  };
}

const FASTER_RCNN_CONFIG = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'configs', 'faster_rcnn', 'faster-rcnn_r50_fpn_1x_coco.json');

/**
 * Faster R-CNN R50-FPN inference as torch_reference.py's frcnn_800x1216 (torchvision's
 * fasterrcnn_resnet50_fpn): the mmdet config with its test_cfg, random weights (no pretrained
 * backbone), one normalised 1x800x1216 input (or --size), predict with rescale: backbone, FPN,
 * RPN proposals and NMS, RoI head, per-class NMS. predict does not run the data_preprocessor,
 * so none is built.
 */
function fasterRcnnWorkload(): Workload {
  registerModels();
  const config = loadConfig(FASTER_RCNN_CONFIG, { cfgOptions: ['model.backbone.init_cfg=null', 'model.data_preprocessor=null'] });
  const model = MODELS.build<TwoStageDetector>(config.data['model'], { path: 'model' }).eval();
  const [height, width] = detectionSize;
  const x = tf.randomNormal([1, height, width, 3]) as tf.Tensor4D;
  const meta = { img_shape: [height, width], ori_shape: [height, width], pad_shape: [height, width], batch_input_shape: [height, width], scale_factor: [1, 1] } as const;
  return { step: () => void model.predict(x, [meta], { rescale: true }), train: false, dispose: () => (model.dispose(), x.dispose()) };
}

/**
 * One Faster R-CNN R50-FPN training iteration as torch_reference.py's frcnn_800x1216_train
 * (torchvision's model in train mode, two ground-truth boxes, SGD lr 0.001 momentum 0.9): the mmdet
 * config (frozen stem and layer1, norm_eval, train_cfg samplers), random weights, one normalised
 * 1x800x1216 input (or --size), loss = parse_losses total, backward, SGD update. `withCp` sets the
 * backbone's with_cp.
 */
function fasterRcnnTrainWorkload(withCp: boolean): Workload {
  registerModels();
  const config = loadConfig(FASTER_RCNN_CONFIG, { cfgOptions: ['model.backbone.init_cfg=null', 'model.data_preprocessor=null', `model.backbone.with_cp=${withCp}`] });
  const model = MODELS.build<TwoStageDetector>(config.data['model'], { path: 'model' }).train();
  const [height, width] = detectionSize;
  const x = tf.randomNormal([1, height, width, 3]) as tf.Tensor4D;
  const scale = (v: number, size: number, base: number): number => (v * size) / base;
  const boxes = Float32Array.from([100, 120, 400, 500, 600, 200, 900, 700].map((v, i) => scale(v, i % 2 ? height : width, i % 2 ? 800 : 1216)));
  const metainfo = { img_shape: [height, width], ori_shape: [height, width], pad_shape: [height, width], batch_input_shape: [height, width], scale_factor: [1, 1] };
  const samples = [{ metainfo, gt_instances: { bboxes: boxes, labels: Int32Array.of(1, 2) } }];
  const variables = model.trainableVariables();
  const momenta = variables.map((v) => tf.variable(tf.zerosLike(v), false));
  const loss = (): tf.Scalar => parseLosses(model.loss(x, samples)).total;
  return { step: () => sgdStep(variables, loss, momenta), train: true, dispose: () => (model.dispose(), tf.dispose([x, ...momenta])) };
}

/** An ONNX workload: the model exported and loaded, one run per call. */
interface OnnxWorkload {
  step(): Promise<void>;
  dispose(): Promise<void>;
}

/** ResNet-50 (+ global mean and the FC head at 224²) or Faster R-CNN, exported and on ORT with `threads`. */
async function onnxWorkload(name: string, threads: number): Promise<OnnxWorkload> {
  const onnx = await import('@tsdet/onnx');
  const size: [number, number] = name === 'r50_224' ? [224, 224] : detectionSize;
  let bytes: Uint8Array;
  const feeds: Record<string, unknown> = {};
  if (name === 'frcnn_800x1216') {
    registerModels();
    const config = loadConfig(FASTER_RCNN_CONFIG, { cfgOptions: ['model.backbone.init_cfg=null', 'model.data_preprocessor=null'] });
    const model = MODELS.build<TwoStageDetector>(config.data['model'], { path: 'model' }).eval();
    bytes = onnx.exportDetector(model, { inputSize: size, preprocess: null }).bytes;
    model.dispose();
    feeds['img_shape'] = new onnx.ort.Tensor('float32', Float32Array.from(size), [2]);
    feeds['scale_factor'] = new onnx.ort.Tensor('float32', Float32Array.of(1, 1), [2]);
  } else if (name === 'r50_224' || name === 'r50_800x1216') {
    const model = resnet50({}).eval();
    const fc = name === 'r50_224' ? new Linear({ inFeatures: 2048, outFeatures: 1000 }) : undefined;
    const graph = new onnx.GraphBuilder();
    const ctx = new onnx.ExportContext(graph, { dynamic: false });
    const outs = ctx.emit(model, [graph.input('image', 'float32', [1, 3, ...size])], 'backbone');
    const last = outs[outs.length - 1]!;
    const result = fc ? ctx.emit1(fc, graph.op1('ReduceMean', [last], { axes: onnx.ints([2, 3]), keepdims: onnx.int(0) }), 'fc') : last;
    graph.output(result, 'output', 'float32');
    bytes = onnx.serializeModel(graph.toGraph(name));
    model.dispose();
    fc?.dispose();
  } else {
    throw new Error(`--runtime onnx: ${name} has no ONNX workload (r50_224, r50_800x1216, frcnn_800x1216)`);
  }
  feeds['image'] = new onnx.ort.Tensor('float32', Float32Array.from({ length: 3 * size[0] * size[1] }, () => Math.random() * 2 - 1), [1, 3, ...size]);
  const session = await onnx.createOrtSession(bytes, { threads });
  return { step: async () => void (await session.run(feeds as Record<string, InstanceType<typeof onnx.ort.Tensor>>)), dispose: () => session.release() };
}

async function measureOnnx(name: string, threads: number, opts: { warmup: number; runs: number }): Promise<Result> {
  const workload = await onnxWorkload(name, threads);
  try {
    for (let i = 0; i < opts.warmup; i++) await workload.step();
    const times: number[] = [];
    for (let i = 0; i < opts.runs; i++) {
      const start = performance.now();
      await workload.step();
      times.push(performance.now() - start);
    }
    const med = median(times);
    return { workload: name, backend: 'onnxruntime-node', threads, median_ms: round(med), min_ms: round(Math.min(...times)), runs: opts.runs, gflops: 0, peak_tensor_mb: 0, peak_rss_mb: round(process.resourceUsage().maxRSS / 1024) };
  } finally {
    await workload.dispose();
  }
}

const WORKLOADS: Record<string, () => Workload> = {
  r50_224: () => forwardWorkload([1, 224, 224, 3], true),
  r50_800x1216: () => forwardWorkload([1, ...detectionSize, 3], false),
  r50_224_train: () => trainWorkload('cls224', false),
  r50_224_train_cp: () => trainWorkload('cls224', true),
  r50_800x1216_train: () => trainWorkload('backbone800', false),
  r50_800x1216_train_cp: () => trainWorkload('backbone800', true),
  frcnn_800x1216: fasterRcnnWorkload,
  frcnn_800x1216_train: () => fasterRcnnTrainWorkload(false),
  frcnn_800x1216_train_cp: () => fasterRcnnTrainWorkload(true),
  // The Faster R-CNN setting: stem and layer1 frozen (mmdet frozen_stages 1).
  r50_800x1216_train_frozen1: () => trainWorkload('backbone800', false, 1),
  r50_800x1216_train_frozen1_cp: () => trainWorkload('backbone800', true, 1),
};

/** The workloads whose input size --size (and --max-side) set. */
const SIZED_WORKLOADS = new Set(Object.keys(WORKLOADS).filter((name) => name.includes('800x1216')));

/** The torch workload a tsdet workload is compared with (the _cp variants against plain torch). */
function torchWorkload(name: string): string {
  return name.replace(/_cp$/, '').replace(/_frozen1$/, '');
}

function product(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function wasmHeapMb(backend: BackendInfo): number | undefined {
  if (backend.name !== 'wasm') return undefined;
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  return wasm?.HEAPU8 ? wasm.HEAPU8.length / 2 ** 20 : undefined;
}

async function measure(name: string, backend: BackendInfo, opts: { warmup: number; runs: number; profile: boolean }): Promise<Result> {
  const workload = WORKLOADS[name]!();
  try {
    for (let i = 0; i < opts.warmup; i++) workload.step();
    const times: number[] = [];
    for (let i = 0; i < opts.runs; i++) {
      const start = performance.now();
      workload.step();
      times.push(performance.now() - start);
    }
    // One more step under the buffer meter and, unless --no-profile, tf.profile (its kernel list gives the work done).
    const meter = startBufferMeter();
    let profile: Awaited<ReturnType<typeof tf.profile>> | undefined;
    try {
      if (opts.profile) profile = await tf.profile(() => workload.step());
      else workload.step();
    } finally {
      meter.stop();
    }
    const peak = profile?.peakBytes ?? 0;
    const med = median(times);
    const flops = profile ? 2 * kernelMacs(profile) : 0;
    return {
      workload: name,
      backend: backend.name,
      threads: backend.threads,
      median_ms: round(med),
      min_ms: round(Math.min(...times)),
      runs: opts.runs,
      gflops: round(flops / (med / 1000) / 1e9),
      peak_tensor_mb: round(peak / 2 ** 20),
      peak_step_buffer_mb: round(meter.peakBytes / 2 ** 20),
      wasm_heap_mb: wasmHeapMb(backend),
      peak_rss_mb: round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    workload.dispose();
  }
}

function torchFigure(name: string, threads: number, runs: number, warmup: number): { median_ms?: number; note?: string } {
  if (!fs.existsSync('/usr/bin/python3') || !fs.existsSync(TORCH_SCRIPT)) return { note: 'no /usr/bin/python3 or torch_reference.py' };
  const out = spawnSync('/usr/bin/python3', [TORCH_SCRIPT, torchWorkload(name), '--threads', String(threads), '--runs', String(runs), '--warmup', String(warmup)], { encoding: 'utf8' });
  if (out.status !== 0) return { note: `torch unavailable: ${(out.stderr || '').trim().split('\n').pop()}` };
  return { median_ms: (JSON.parse(out.stdout.trim().split('\n').pop()!) as { median_ms: number }).median_ms };
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

function format(r: Result): string {
  if (r.backend === 'onnxruntime-node') {
    const vsTorch = r.torch_median_ms ? `  torch ${r.torch_median_ms} ms  ratio ${r.ratio}x` : r.note ? `  (${r.note})` : '';
    return `${r.workload.padEnd(22)} onnx/${r.threads}t  median ${r.median_ms} ms (min ${r.min_ms})  RSS ${r.peak_rss_mb} MB${vsTorch}`;
  }
  const torch = r.torch_median_ms ? `  torch ${r.torch_median_ms} ms  ratio ${r.ratio}x` : r.note ? `  (${r.note})` : '';
  const heap = r.wasm_heap_mb ? `  wasm heap ${round(r.wasm_heap_mb)} MB` : '';
  return `${r.workload.padEnd(22)} ${r.backend}/${r.threads}t  median ${r.median_ms} ms (min ${r.min_ms})  ${r.gflops} GFLOP/s  peak tensors ${r.peak_tensor_mb} MB  step buffers +${r.peak_step_buffer_mb} MB${heap}  RSS ${r.peak_rss_mb} MB${torch}`;
}

const program = new Command()
  .name('bench')
  .option('--workload <names...>', `any of ${Object.keys(WORKLOADS).join(', ')}`, ['r50_224', 'r50_224_train'])
  .option('--backend <name>', 'wasm | cpu | tensorflow | auto', 'wasm')
  .option('--threads <n>', 'threads (wasm and torch)', (v) => Number.parseInt(v, 10), 2)
  .option('--runs <n>', 'timed runs', (v) => Number.parseInt(v, 10), 5)
  .option('--warmup <n>', 'warm-up runs', (v) => Number.parseInt(v, 10), 2)
  .option('--json', 'one JSON object per workload')
  .option('--no-torch', 'skip the PyTorch reference')
  .option('--runtime <name>', 'tfjs (tsdet) or onnx (the exported model on onnxruntime-node)', 'tfjs')
  .option('--size <HxW>', 'input size of the 800x1216 workloads (to find what fits in the 4 GB wasm heap); no PyTorch comparison then')
  .option('--no-profile', 'skip the profiled step (GFLOP/s and peak tensor bytes)')
  .option('--max-side', 'find the largest square input side (a multiple of 32) at which each 800x1216 workload still runs, one child process per probe')
  .option('--probe-timeout <s>', 'seconds before a --max-side probe counts as failed', (v) => Number.parseInt(v, 10), 600)
  .parse();
const opts = program.opts<{
  workload: string[];
  backend: BackendName;
  threads: number;
  runs: number;
  warmup: number;
  json?: boolean;
  torch: boolean;
  size?: string;
  runtime: string;
  profile: boolean;
  maxSide?: boolean;
  probeTimeout: number;
}>();

/** Sizes --max-side searches between (square sides, multiples of 32). */
const MAX_SIDE_RANGE: [number, number] = [256, 2048];

interface Probe {
  side: number;
  ok: boolean;
  /** wasm heap size after the step (its high-water mark: the heap never shrinks), or why it failed. */
  detail: string;
}

/** One train step at side x side in a fresh process: running out of the wasm heap aborts the module, so it cannot be caught in-process. */
function probe(name: string, side: number): Probe {
  const script = new URL(import.meta.url).pathname;
  const args = [...process.execArgv, script, '--workload', name, '--size', `${side}x${side}`, '--runs', '1', '--warmup', '0', '--no-profile', '--no-torch', '--json', '--backend', opts.backend, '--threads', String(opts.threads)];
  const out = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: opts.probeTimeout * 1000 });
  const line = (out.stdout ?? '').trim().split('\n').pop() ?? '';
  if (out.status === 0 && line.startsWith('{')) {
    const result = JSON.parse(line) as Result;
    return { side, ok: true, detail: `${result.median_ms} ms, wasm heap ${round(result.wasm_heap_mb ?? 0)} MB` };
  }
  const reason = out.error ? `no result within ${opts.probeTimeout} s` : ((out.stderr ?? '').trim().split('\n').find((l) => /Error|Abort/.test(l)) ?? `exit ${out.status}`);
  return { side, ok: false, detail: reason.slice(0, 160) };
}

/** Binary search over sides that are multiples of 32: the largest that runs, and the probes made. */
function largestSide(name: string): { largest?: Probe; probes: Probe[] } {
  const probes: Probe[] = [];
  let [lo, hi] = [MAX_SIDE_RANGE[0] / 32, MAX_SIDE_RANGE[1] / 32];
  let largest: Probe | undefined;
  while (lo <= hi) {
    const mid = Math.floor((lo + hi) / 2);
    const result = probe(name, mid * 32);
    probes.push(result);
    if (!opts.json) console.log(`  ${name} ${mid * 32}x${mid * 32}: ${result.ok ? 'runs' : 'fails'} (${result.detail})`);
    if (result.ok) {
      largest = result;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return { largest, probes };
}

async function main(): Promise<void> {
  const unknown = opts.workload.filter((w) => !WORKLOADS[w]);
  if (unknown.length) throw new Error(`unknown workload(s) ${unknown.join(', ')}; known: ${Object.keys(WORKLOADS).join(', ')}`);
  if (opts.size) {
    const match = /^(\d+)x(\d+)$/.exec(opts.size);
    if (!match) throw new Error(`--size: expected HxW, e.g. 608x928, got '${opts.size}'`);
    detectionSize = [Number(match[1]), Number(match[2])];
    opts.torch = false;
  }
  if (opts.runtime !== 'tfjs' && opts.runtime !== 'onnx') throw new Error(`--runtime: expected tfjs or onnx, got '${opts.runtime}'`);
  if (opts.maxSide) {
    const notSized = opts.workload.filter((w) => !SIZED_WORKLOADS.has(w));
    if (notSized.length) throw new Error(`--max-side: ${notSized.join(', ')} do not take --size (use ${[...SIZED_WORKLOADS].join(', ')})`);
    for (const name of opts.workload) {
      const { largest, probes } = largestSide(name);
      const summary = { workload: name, backend: opts.backend, threads: opts.threads, max_side: largest?.side ?? null, at_max: largest?.detail ?? null, probes };
      console.log(opts.json ? JSON.stringify(summary) : `${name}: largest square side that runs ${largest ? `${largest.side} (${largest.detail})` : `none in ${MAX_SIDE_RANGE.join('-')}`}`);
    }
    return;
  }
  // With ORT, tfjs only holds the weights while exporting: the cpu backend starts at once.
  const backend = await initBackend({ backend: opts.runtime === 'onnx' ? 'cpu' : opts.backend, threads: opts.threads, verbose: !opts.json });
  registerModels();
  for (const name of opts.workload) {
    const result = opts.runtime === 'onnx' ? await measureOnnx(name, opts.threads, opts) : await measure(name, backend, opts);
    if (opts.torch) {
      const torch = torchFigure(name, opts.threads, opts.runs, opts.warmup);
      if (torch.median_ms) Object.assign(result, { torch_median_ms: torch.median_ms, ratio: Number((result.median_ms / torch.median_ms).toFixed(2)) });
      else result.note = torch.note;
    }
    console.log(opts.json ? JSON.stringify(result) : format(result));
  }
}

main()
  .then(() => exitAfter(0))
  .catch((error: unknown) => {
    console.error(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    exitAfter(1);
  });
