// A tsdet detector exported by tools/export-onnx.ts, run in the browser on onnxruntime-web (wasm):
// load the model and its .json, load an image, resize it as the test pipeline does (keep_ratio),
// feed the raw pixels (the graph normalises and pads), draw the detections.
//
// Query parameters: model (default model.onnx), image (default image.png), threads (default 1:
// more needs a cross-origin isolated page), score (drawing threshold, default 0.3), report (a URL
// the results are POSTed to as JSON; the headless check uses it).
import * as ort from '/ort/ort.wasm.min.mjs';

const params = new URLSearchParams(location.search);
const modelUrl = params.get('model') ?? 'model.onnx';
const imageUrl = params.get('image') ?? 'image.png';
const scoreThr = Number(params.get('score') ?? '0.3');
const status = document.getElementById('status');
document.getElementById('model-name').textContent = modelUrl;
document.getElementById('image-name').textContent = imageUrl;

ort.env.wasm.wasmPaths = '/ort/';
ort.env.wasm.numThreads = Number(params.get('threads') ?? '1');

function say(text) {
  status.textContent = text;
}

async function loadImage(url) {
  const img = new Image();
  img.src = url;
  await img.decode();
  return img;
}

/** mmcv's rescale_size with keep_ratio: the largest scale that fits (long, short) edges. */
function resizedSize(width, height, resize) {
  if (!resize) return [width, height];
  if (!resize.keep_ratio) return resize.scale;
  const [long, short] = [Math.max(...resize.scale), Math.min(...resize.scale)];
  const factor = Math.min(long / Math.max(width, height), short / Math.min(width, height));
  return [Math.floor(width * factor + 0.5), Math.floor(height * factor + 0.5)];
}

/** The image's pixels at its resized size as a [1, 3, H, W] tensor in the channel order the model expects. */
function imageTensor(img, width, height, info) {
  const [feedH, feedW] = info.input_size ?? [height, width];
  if (height > feedH || width > feedW) throw new Error(`a ${height}x${width} image does not fit the exported ${feedH}x${feedW}`);
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0, width, height);
  const rgba = context.getImageData(0, 0, width, height).data;
  // mmdet loads BGR (cv2); a model that swaps RGB to BGR itself wants RGB.
  const order = info.preprocess && info.preprocess.rgb_to_bgr ? [0, 1, 2] : [2, 1, 0];
  const data = new Float32Array(3 * feedH * feedW);
  const plane = feedH * feedW;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) data[c * plane + y * feedW + x] = rgba[from + order[c]];
    }
  }
  return new ort.Tensor('float32', data, [1, 3, feedH, feedW]);
}

function draw(img, result, names) {
  const canvas = document.getElementById('view');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0);
  context.lineWidth = 2;
  context.font = '14px sans-serif';
  result.scores.forEach((score, i) => {
    if (score < scoreThr) return;
    const [x1, y1, x2, y2] = result.bboxes.slice(4 * i, 4 * i + 4);
    const hue = (result.labels[i] * 67) % 360;
    context.strokeStyle = context.fillStyle = `hsl(${hue} 90% 45%)`;
    context.strokeRect(x1, y1, x2 - x1, y2 - y1);
    context.fillText(`${names[result.labels[i]] ?? result.labels[i]}: ${(score * 100).toFixed(0)}%`, x1 + 2, Math.max(y1 - 4, 12));
  });
}

async function main() {
  const info = await (await fetch(`${modelUrl}.json`)).json();
  if (!info.preprocess) throw new Error('this page feeds raw pixels: export the model with its preprocessing (the default)');
  say('creating the session…');
  const started = performance.now();
  const session = await ort.InferenceSession.create(modelUrl, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const img = await loadImage(imageUrl);
  const [width, height] = resizedSize(img.naturalWidth, img.naturalHeight, info.resize);
  const feeds = {
    image: imageTensor(img, width, height, info),
    img_shape: new ort.Tensor('float32', Float32Array.of(height, width), [2]),
    scale_factor: new ort.Tensor('float32', Float32Array.of(width / img.naturalWidth, height / img.naturalHeight), [2]),
  };
  const runStart = performance.now();
  const out = await session.run(feeds);
  const result = {
    bboxes: Array.from(out.bboxes.data),
    scores: Array.from(out.scores.data),
    labels: Array.from(out.labels.data, Number),
    image: { width: img.naturalWidth, height: img.naturalHeight, resized: [height, width] },
    timing: { load_ms: runStart - started, run_ms: performance.now() - runStart },
  };
  draw(img, result, info.class_names ?? []);
  say(`${result.scores.length} detections (${result.scores.filter((s) => s >= scoreThr).length} drawn) in ${result.timing.run_ms.toFixed(0)} ms`);
  return result;
}

main()
  .then((result) => report({ ok: true, ...result }))
  .catch((error) => {
    say(`error: ${error.message}`);
    return report({ ok: false, error: String(error.stack ?? error) });
  });

async function report(body) {
  window.tsdetResult = body;
  const url = params.get('report');
  if (url) await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}
