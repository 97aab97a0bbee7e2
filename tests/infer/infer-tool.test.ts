/**
 * tools/infer.ts run as a user runs it (a subprocess), on a tiny Faster R-CNN with random weights:
 * a folder with good images (two sizes, one a grayscale PNG), a corrupt file and a text file,
 * plus a missing path; a checkpoint for another class count; and an mmdetection-style .pth.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { initBackend } from '@tsdet/core';
import type { DetectionRecord } from '@tsdet/data';
import { linesWith, MMDET_PTH, runInferTool, tempDir, TINY_CONFIG, writeImage, writeRandomCheckpoint, type ToolRun } from './support.js';

/** What the tool writes per image (parsed back from its JSON). */
type JsonResult = DetectionRecord;

const GOOD_IMAGES = [
  { name: 'landscape.jpg', stem: 'landscape', width: 160, height: 120, grayscale: false },
  { name: 'portrait_gray.png', stem: 'portrait_gray', width: 90, height: 130, grayscale: true },
];

function readJson(file: string): JsonResult {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as JsonResult;
}

/** What every result file must satisfy, whatever the random weights detect. */
function checkResult(result: JsonResult, width: number, height: number, classes: readonly string[], scoreThr: number): void {
  expect(result.image).to.include({ width, height });
  const count = result.scores.length;
  expect(result.bboxes).to.have.length(count);
  expect(result.labels).to.have.length(count);
  for (const [x1, y1, x2, y2] of result.bboxes) {
    expect(x1, 'x1').to.be.within(0, x2);
    expect(y1, 'y1').to.be.within(0, y2);
    expect(x2, 'x2 inside the original width').to.be.at.most(width);
    expect(y2, 'y2 inside the original height').to.be.at.most(height);
  }
  // The detector's own threshold (test_cfg.rcnn.score_thr 0.05), best first.
  result.scores.forEach((s, i) => expect(s).to.be.within(0.05, i ? result.scores[i - 1]! : 1));
  expect(result.class_names).to.deep.equal(result.labels.map((l) => classes[l]));
  expect(result.score_thr).to.equal(scoreThr);
  expect(result.drawn).to.equal(result.scores.filter((s) => s >= scoreThr).length);
  expect(result.timing['total_ms']).to.be.above(0);
}

describe('tools/infer.ts', function () {
  // Each run starts a process (tsx, wasm) and runs the detector at 800 px.
  this.timeout(300_000);
  let dir: string;
  let checkpoint: string;

  before(async () => {
    await initBackend({ backend: 'wasm', threads: 1, verbose: false });
    dir = tempDir('infer');
    checkpoint = path.join(dir, 'tiny.safetensors');
    await writeRandomCheckpoint(checkpoint);
    const images = path.join(dir, 'images');
    fs.mkdirSync(images);
    for (const image of GOOD_IMAGES) await writeImage(path.join(images, image.name), image.width, image.height, { grayscale: image.grayscale });
    fs.writeFileSync(path.join(images, 'corrupt.jpg'), 'not a jpeg at all');
    fs.writeFileSync(path.join(images, 'notes.txt'), 'not an image, and not named like one');
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('on a folder with a corrupt file and a missing path', () => {
    let run: ToolRun;
    let out: string;

    before(async () => {
      out = path.join(dir, 'out');
      run = await runInferTool([TINY_CONFIG, checkpoint, path.join(dir, 'images'), path.join(dir, 'missing.jpg'), '--out', out, '--score-thr', '0.2']);
    });

    it('exits with status 1 after a summary line', () => {
      expect(run.status, run.stderr).to.equal(1);
      expect(run.stdout).to.match(/^infer: 2 of 4 images done, 2 failed; results in .*out \(\d+\.\d\d s per image\)$/m);
    });

    it('gives the corrupt and the missing file one line each and never mentions the text file', () => {
      const output = `${run.stdout}\n${run.stderr}`;
      const corrupt = linesWith(output, 'corrupt.jpg');
      expect(corrupt, output).to.have.length(1);
      expect(corrupt[0]).to.match(/^infer: cannot load image '.*corrupt\.jpg': not a decodable image/);
      const missing = linesWith(output, 'missing.jpg');
      expect(missing, output).to.have.length(1);
      expect(missing[0]).to.match(/^infer: cannot load image '.*missing\.jpg': no such file$/);
      expect(linesWith(output, 'notes.txt')).to.deep.equal([]);
      expect(run.stderr).not.to.match(/\n\s+at /); // no stack trace
    });

    it('shows progress as plain lines when stderr is not a terminal', () => {
      expect(run.stderr).to.match(/^infer \[=+\] 4\/4 images, 2 failed$/m);
      expect(linesWith(run.stderr, '/4 images')).to.have.length.of.at.least(4);
    });

    it('writes a PNG the size of each original image and nothing for the failures', async () => {
      expect(fs.readdirSync(out).sort()).to.deep.equal(GOOD_IMAGES.flatMap((i) => [`${i.stem}.json`, `${i.stem}.png`]).sort());
      for (const image of GOOD_IMAGES) {
        const png = await sharp(path.join(out, `${image.stem}.png`)).metadata();
        expect([png.format, png.width, png.height]).to.deep.equal(['png', image.width, image.height]);
      }
    });

    it('writes a JSON per image with boxes inside the original image and the config\'s class names', () => {
      for (const image of GOOD_IMAGES) {
        const result = readJson(path.join(out, `${image.stem}.json`));
        expect(result.image.path).to.equal(path.join(dir, 'images', image.name));
        checkResult(result, image.width, image.height, ['cat', 'dog', 'bird'], 0.2);
      }
      // Random weights still give proposals and class scores above 0.05: the lists are not empty.
      expect(GOOD_IMAGES.some((i) => readJson(path.join(out, `${i.stem}.json`)).scores.length > 0)).to.equal(true);
    });
  });

  it('refuses a checkpoint made for another class count, naming both files and the first keys', async () => {
    const other = path.join(dir, 'five_classes.safetensors');
    await writeRandomCheckpoint(other, ['model.roi_head.bbox_head.num_classes=5']);
    const out = path.join(dir, 'out_mismatch');
    const run = await runInferTool([TINY_CONFIG, other, path.join(dir, 'images'), '--out', out]);
    expect(run.status).to.equal(1);
    const lines = linesWith(run.stderr, 'does not match');
    expect(lines, run.stderr).to.have.length(1);
    expect(lines[0]).to.contain(`checkpoint ${other} does not match config tests/infer/faster-rcnn_r50_fpn_tiny.json (strict load)`);
    expect(lines[0]).to.contain('roi_head.bbox_head.fc_cls.weight (checkpoint [6, 32], model [4, 32])');
    expect(lines[0]).to.contain('roi_head.bbox_head.fc_reg.weight (checkpoint [20, 32], model [12, 32])');
    expect(lines[0]).to.contain('the checkpoint was trained for 5 classes, the config\'s bbox_head.num_classes is 3');
    expect(fs.existsSync(out)).to.equal(false);
  });

  it('loads an mmdetection checkpoint (.pth with state_dict and meta) unchanged and takes the class names from its meta', async () => {
    const out = path.join(dir, 'out_pth');
    const image = path.join(dir, 'images', GOOD_IMAGES[0]!.name);
    const run = await runInferTool([TINY_CONFIG, MMDET_PTH, image, '--out', out, '--score-thr', '0.5']);
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout).to.contain("class names (3): the checkpoint's meta.dataset_meta.classes");
    expect(run.stdout).to.match(/^infer: 1 of 1 images done, 0 failed/m);
    checkResult(readJson(path.join(out, 'landscape.json')), 160, 120, ['person', 'car', 'dog'], 0.5);
  });
});
