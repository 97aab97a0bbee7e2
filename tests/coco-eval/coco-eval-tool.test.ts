/** tools/coco-eval.ts as a subprocess, and the CocoMetric descriptor. */
import { expect } from 'chai';
import { Ajv } from 'ajv';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cocoMetricDescriptor, type CocoMetric, type CocoMetricConfig } from '@tsdet/data';
import { det, gtFile } from './support.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function runTool(...args: string[]): Run {
  const r = spawnSync('npx', ['tsx', '--conditions=source', 'tools/coco-eval.ts', ...args], { encoding: 'utf8', cwd: path.resolve(import.meta.dirname, '../..') });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tools/coco-eval.ts', function () {
  this.timeout(120000);
  let dir: string;
  let ann: string;
  let res: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coco-eval-'));
    ann = path.join(dir, 'ann.json');
    res = path.join(dir, 'res.json');
    // Same case as the interpolation test: AP 56/101 = 0.554, AR@1 1/3, AR@10 2/3.
    fs.writeFileSync(ann, JSON.stringify(gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }, { image: 1, cat: 1, box: [20, 0, 10, 10] }, { image: 1, cat: 1, box: [40, 0, 10, 10] }])));
    fs.writeFileSync(res, JSON.stringify([det(1, 1, [20, 0, 10, 10], 0.8), det(1, 1, [0, 0, 10, 10], 0.95), det(1, 1, [200, 200, 10, 10], 0.9)]));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("prints pycocotools' twelve lines", () => {
    const r = runTool(ann, res);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout.trimEnd().split('\n')).to.deep.equal([
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.554',
      ' Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.554',
      ' Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 0.554',
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 0.554',
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000',
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.333',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = 0.667',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.667',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 0.667',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000',
    ]);
  });

  it('--json prints one object with the twelve numbers', () => {
    const r = runTool(ann, res, '--json');
    expect(r.status, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout) as Record<string, number>;
    expect(Object.keys(out)).to.deep.equal(['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100', 'ARs', 'ARm', 'ARl']);
    expect(out.AP).to.be.closeTo(56 / 101, 1e-12);
    expect(out.APl).to.equal(-1);
  });

  it('bad files: one line naming the file, exit 1', () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, '{"images": [');
    const unknownImage = path.join(dir, 'unknown-image.json');
    fs.writeFileSync(unknownImage, JSON.stringify([det(1, 1, [0, 0, 1, 1], 1), det(5, 1, [0, 0, 1, 1], 1)]));
    const unknownCat = path.join(dir, 'unknown-cat.json');
    fs.writeFileSync(unknownCat, JSON.stringify([det(1, 3, [0, 0, 1, 1], 1)]));
    const missing = path.join(dir, 'missing.json');
    const cases: [string[], RegExp][] = [
      [[missing, res], new RegExp(`${missing}: cannot read`)],
      [[ann, missing], new RegExp(`${missing}: cannot read`)],
      [[bad, res], new RegExp(`${bad}: not valid JSON`)],
      [[ann, bad], new RegExp(`${bad}: not valid JSON`)],
      [[ann, unknownImage], new RegExp(`${unknownImage}: entry 1 has image_id 5, which is not in ${ann}`)],
      [[ann, unknownCat], new RegExp(`${unknownCat}: entry 0 has category_id 3, which is not in ${ann}`)],
      [[res, res], new RegExp(`${res}: expected a COCO annotation object`)],
    ];
    for (const [args, message] of cases) {
      const r = runTool(...args);
      expect(r.status, args.join(' ')).to.equal(1);
      expect(r.stdout).to.equal('');
      expect(r.stderr.trimEnd().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr).to.match(message);
    }
  });
});

describe('CocoMetric', () => {
  const ajv = new Ajv({ useDefaults: true, allErrors: true });
  const validate = ajv.compile({ type: 'object', additionalProperties: false, properties: { type: { const: 'CocoMetric' }, ...(cocoMetricDescriptor.schema.properties as object) } });
  const build = (cfg: Record<string, unknown>): CocoMetric => {
    const full = { type: 'CocoMetric', ...cfg };
    expect(validate(full), ajv.errorsText(validate.errors)).to.equal(true);
    return cocoMetricDescriptor.build(full as unknown as CocoMetricConfig, { path: 'val_evaluator', build: () => { throw new Error('no children'); } });
  };
  const gt = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }, { image: 1, cat: 1, box: [20, 0, 10, 10] }, { image: 1, cat: 1, box: [40, 0, 10, 10] }]);
  const dets = [det(1, 1, [20, 0, 10, 10], 0.8), det(1, 1, [0, 0, 10, 10], 0.95), det(1, 1, [200, 200, 10, 10], 0.9)];

  it("accepts mmdet's keys and logs mmdet's names", () => {
    const metric = build({ metric: 'bbox', format_only: false, backend_args: null, collect_device: 'cpu', prefix: null, sort_categories: false });
    expect(metric.cfg.proposal_nums).to.deep.equal([100, 300, 1000]);
    expect(metric.evaluate(dets, gt)).to.deep.equal({
      bbox_mAP: 0.554, bbox_mAP_50: 0.554, bbox_mAP_75: 0.554, bbox_mAP_s: 0.554, bbox_mAP_m: -1, bbox_mAP_l: -1,
      bbox_mAP_copypaste: '0.554 0.554 0.554 0.554 -1.000 -1.000',
    });
  });

  it('AR items, classwise and ann_file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coco-metric-'));
    try {
      const annFile = path.join(dir, 'ann.json');
      fs.writeFileSync(annFile, JSON.stringify(gt));
      const metric = build({ ann_file: annFile, classwise: true, proposal_nums: [1, 10, 100], metric_items: ['mAP', 'AR@100', 'AR@300', 'AR_s@1000'] });
      expect(metric.evaluate(dets)).to.deep.equal({ bbox_c1_precision: 0.554, bbox_mAP: 0.554, 'bbox_AR@100': 0.333, 'bbox_AR@300': 0.667, 'bbox_AR_s@1000': 0.667, bbox_mAP_copypaste: '0.554 0.554 0.554 0.554 -1.000 -1.000' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('iou_thrs narrows the thresholds', () => {
    const gt2 = gtFile([{ image: 1, cat: 1, box: [0, 0, 10, 10] }]);
    const metric = build({ iou_thrs: [0.5], metric_items: ['mAP', 'mAP_50', 'mAP_75'] });
    expect(metric.evaluate([det(1, 1, [0, 0, 6, 10], 0.9)], gt2)).to.include({ bbox_mAP: 1, bbox_mAP_50: 1, bbox_mAP_75: -1 });
  });

  it('format_only writes the results file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coco-metric-'));
    try {
      const metric = build({ format_only: true, outfile_prefix: path.join(dir, 'out', 'preds') });
      expect(metric.evaluate(dets)).to.deep.equal({});
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'out', 'preds.bbox.json'), 'utf8'))).to.deep.equal(dets);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects other metrics and bad keys clearly', () => {
    expect(() => build({ metric: ['bbox', 'segm'] })).to.throw("CocoMetric: only metric 'bbox' is supported, got 'segm'");
    expect(() => build({ format_only: true })).to.throw('format_only needs outfile_prefix');
    expect(validate({ type: 'CocoMetric', metric_items: ['mAP_xl'] })).to.equal(false);
    expect(validate({ type: 'CocoMetric', backend_args: { backend: 'petrel' } })).to.equal(false);
    expect(() => build({}).evaluate(dets)).to.throw('no ann_file');
  });
});
