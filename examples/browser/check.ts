/**
 * npm run check:browser — the browser example against onnxruntime-node, headless in Chromium.
 *
 * Exports the tiny Faster R-CNN of tests/infer (random weights, score_thr 0 so that there are
 * detections to compare), writes a test image already at its test-pipeline size (so the page's
 * canvas resize is the identity and both runtimes see the same pixels), serves the page, the
 * model and onnxruntime-web's files on 127.0.0.1, opens the page in headless Chromium, which
 * POSTs its detections back, and compares them with OnnxDetector's on the same model and image.
 *
 * Chromium: $CHROMIUM_BIN, else chromium / chromium-browser / google-chrome on the PATH; none
 * found is a failure that says how to install it (Debian: apt-get install -y chromium).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { exitAfter, initBackend, prepareConfig } from '@tsdet/core';
import { buildInferenceDetector, registerData, type DetDataSample } from '@tsdet/data';
import { matchInstanceSets, registerModels, TwoStageDetector } from '@tsdet/models';
import { detectorInfoFile, exportDetector, OnnxDetector } from '@tsdet/onnx';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '..', '..');
const TINY_CONFIG = path.join(REPO_ROOT, 'tests', 'infer', 'faster-rcnn_r50_fpn_tiny.json');
const ORT_WEB_DIST = path.join(REPO_ROOT, 'node_modules', 'onnxruntime-web', 'dist');
const [WIDTH, HEIGHT] = [320, 224];
const TIMEOUT_MS = 180_000;

function findChromium(): string {
  const candidates = [process.env['CHROMIUM_BIN'], 'chromium', 'chromium-browser', 'google-chrome'].filter((c): c is string => Boolean(c));
  for (const candidate of candidates) {
    if (spawnSync(candidate, ['--version'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  throw new Error(`no Chromium found (tried ${candidates.join(', ')}); install it (Debian: apt-get install -y chromium) or set CHROMIUM_BIN`);
}

/** The model, its .json (resize = the image's own size, so no resampling) and a PNG in `dir`. */
async function prepareFiles(dir: string): Promise<{ detector: TwoStageDetector; pixels: Buffer }> {
  registerModels();
  registerData();
  await initBackend({ backend: 'cpu', verbose: false });
  const { resolved } = await prepareConfig(TINY_CONFIG, { cfgOptions: ['model.test_cfg.rcnn.score_thr=0.0'] });
  const detector = buildInferenceDetector(resolved, TINY_CONFIG) as unknown as TwoStageDetector;
  detector.eval();
  const exported = exportDetector(detector, { dynamic: true });
  fs.writeFileSync(path.join(dir, 'model.onnx'), exported.bytes);
  const info = { ...exported.info, class_names: ['cat', 'dog', 'bird'], resize: { scale: [WIDTH, HEIGHT], keep_ratio: true } };
  fs.writeFileSync(detectorInfoFile(path.join(dir, 'model.onnx')), JSON.stringify(info));
  const pixels = Buffer.alloc(WIDTH * HEIGHT * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 11 + Math.floor(i / (WIDTH * 3)) * 3) % 256;
  await sharp(pixels, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).png().toFile(path.join(dir, 'image.png'));
  return { detector, pixels };
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png', '.onnx': 'application/octet-stream' };

/** Serves the page, ORT-web's dist as /ort/, the files of `dir`; resolves with the POSTed report. */
function serve(dir: string): { server: http.Server; report: Promise<Record<string, unknown>> } {
  let deliver: (body: Record<string, unknown>) => void = () => {};
  const report = new Promise<Record<string, unknown>>((resolve) => (deliver = resolve));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'POST' && url.pathname === '/report') {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        res.end('ok');
        deliver(JSON.parse(body) as Record<string, unknown>);
      });
      return;
    }
    const name = path.basename(url.pathname);
    const file = url.pathname.startsWith('/ort/') ? path.join(ORT_WEB_DIST, name) : fs.existsSync(path.join(HERE, name)) ? path.join(HERE, name) : path.join(dir, name);
    if (!fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return { server, report };
}

function launch(chromium: string, url: string, profile: string): ChildProcess {
  const args = ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', `--user-data-dir=${profile}`, url];
  return spawn(chromium, args, { stdio: 'ignore' });
}

/** OnnxDetector (onnxruntime-node) on the same model and pixels (BGR, as LoadImageFromFile gives). */
async function nodeReference(dir: string, pixels: Buffer) {
  const bgr = Uint8Array.from(pixels, (_, i) => pixels[i - (i % 3) + 2 - (i % 3)]!);
  const onnx = await OnnxDetector.load(path.join(dir, 'model.onnx'), { threads: 1 });
  try {
    const sample = { metainfo: { img_shape: [HEIGHT, WIDTH], scale_factor: [1, 1] } } as unknown as DetDataSample;
    const [result] = await onnx.testStep({ inputs: [{ data: bgr, height: HEIGHT, width: WIDTH, channels: 3, channelOrder: 'bgr' }], data_samples: [sample] });
    return result!;
  } finally {
    await onnx.dispose();
  }
}

async function main(): Promise<number> {
  const chromium = findChromium();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdet-browser-'));
  const { detector, pixels } = await prepareFiles(dir);
  detector.dispose();
  const reference = await nodeReference(dir, pixels);
  const { server, report } = serve(dir);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const browser = launch(chromium, `http://127.0.0.1:${port}/index.html?report=/report&threads=1`, path.join(dir, 'profile'));
  try {
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no report from the page within ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS));
    const page = (await Promise.race([report, timeout])) as { ok: boolean; error?: string; bboxes: number[]; scores: number[]; labels: number[]; timing: { run_ms: number } };
    if (!page.ok) throw new Error(`the page failed: ${page.error}`);
    const ours = { bboxes: Float32Array.from(page.bboxes), scores: Float32Array.from(page.scores), labels: Int32Array.from(page.labels) };
    const match = matchInstanceSets(ours, reference);
    const sameCount = ours.scores.length === reference.scores.length;
    console.log(`browser (onnxruntime-web wasm, Chromium headless): ${ours.scores.length} detections in ${page.timing.run_ms.toFixed(0)} ms; onnxruntime-node: ${reference.scores.length}`);
    console.log(`matched as sets: ${reference.scores.length - match.unmatched}/${reference.scores.length} (max box dev ${match.maxBoxDev.toExponential(2)} px, max score dev ${match.maxScoreDev.toExponential(2)})`);
    const ok = sameCount && match.unmatched === 0 && reference.scores.length > 0;
    console.log(`${ok ? 1 : 0} passed, ${ok ? 0 : 1} failed`);
    return ok ? 0 : 1;
  } finally {
    browser.kill();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main()
  .then((code) => exitAfter(code))
  .catch((error: unknown) => {
    console.error(`check:browser: ${error instanceof Error ? error.message : String(error)}`);
    exitAfter(1);
  });
