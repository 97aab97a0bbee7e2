/** CocoMetric as mmengine's Evaluator drives it: datasetMeta, process(batch, predictions), evaluate(size). */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { METRICS } from '@tsdet/core';
import type { DetectionResult } from '../inference/detector.js';
import type { DetDataBatch } from '../preprocessor/det-data-preprocessor.js';
import { registerData } from '../register.js';
import { withTempDir } from '../test-support.test.js';
import type { CocoMetric } from './coco-metric.js';

const EMPTY = { bboxes: new Float32Array(0), labels: new Int32Array(0) };

/** A batch as the loader yields it, reduced to what the metric reads: the images' ids. */
function batchOf(...imageIds: number[]): DetDataBatch {
  return { inputs: [], data_samples: imageIds.map((img_id) => ({ metainfo: { img_id }, gt_instances: EMPTY, ignored_instances: EMPTY })) };
}

function prediction(boxes: number[][], scores: number[], labels: number[]): DetectionResult {
  return { bboxes: Float32Array.from(boxes.flat()), scores: Float32Array.from(scores), labels: Int32Array.from(labels) };
}

async function withAnnotations<T>(coco: object, fn: (annFile: string) => Promise<T> | T): Promise<T> {
  return withTempDir(async (dir) => {
    const annFile = path.join(dir, 'val.json');
    await writeFile(annFile, JSON.stringify(coco));
    return fn(annFile);
  });
}

const buildMetric = (cfg: object): CocoMetric => METRICS.build<CocoMetric>({ type: 'CocoMetric', ...cfg }, { path: 'val_evaluator' });

// Two categories whose ids are neither contiguous nor in name order; boxes [x, y, w, h].
const TWO_CLASSES = {
  images: [
    { id: 1, width: 200, height: 200 },
    { id: 2, width: 200, height: 200 },
  ],
  categories: [
    { id: 5, name: 'square' },
    { id: 2, name: 'circle' },
  ],
  annotations: [
    { id: 1, image_id: 1, category_id: 2, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0 }, // small
    { id: 2, image_id: 1, category_id: 5, bbox: [40, 40, 30, 30], area: 900, iscrowd: 0 }, // small
    { id: 3, image_id: 2, category_id: 5, bbox: [0, 0, 50, 50], area: 2500, iscrowd: 0 }, // medium
  ],
};

describe('evaluation/CocoMetric process and evaluate', () => {
  before(() => registerData());

  it('scores perfect predictions 1.0, labels mapped to categories through the dataset classes by name', async () => {
    await withAnnotations(TWO_CLASSES, (annFile) => {
      const metric = buildMetric({ ann_file: annFile });
      metric.datasetMeta = { classes: ['circle', 'square'] }; // label 0 = id 2, label 1 = id 5
      metric.process(batchOf(1), [prediction([[10, 10, 30, 30], [40, 40, 70, 70]], [0.9, 0.8], [0, 1])]);
      metric.process(batchOf(2), [prediction([[0, 0, 50, 50]], [0.7], [1])]);
      // xyxy in pixels -> COCO xywh
      expect(metric.results[0]!.detections.map((d) => [d.category_id, ...d.bbox])).to.deep.equal([
        [2, 10, 10, 20, 20],
        [5, 40, 40, 30, 30],
      ]);
      expect(metric.evaluate(2)).to.deep.equal({
        'coco/bbox_mAP': 1,
        'coco/bbox_mAP_50': 1,
        'coco/bbox_mAP_75': 1,
        'coco/bbox_mAP_s': 1,
        'coco/bbox_mAP_m': 1,
        'coco/bbox_mAP_l': -1, // no large objects
        'coco/bbox_mAP_copypaste': '1.000 1.000 1.000 1.000 1.000 -1.000',
      });
    });
  });

  it('finds the categories by name, so the same labels under other class order score 0', async () => {
    await withAnnotations(TWO_CLASSES, (annFile) => {
      const metric = buildMetric({ ann_file: annFile, metric_items: ['mAP'] });
      metric.datasetMeta = { classes: ['square', 'circle'] };
      metric.process(batchOf(1, 2), [prediction([[10, 10, 30, 30], [40, 40, 70, 70]], [0.9, 0.8], [0, 1]), prediction([[0, 0, 50, 50]], [0.7], [1])]);
      expect(metric.computeMetrics()).to.include({ bbox_mAP: 0 });
    });
  });

  it('counts an object not found, in an image never processed, as missed: one of two found gives AP 51/101', async () => {
    const oneClass = {
      images: [{ id: 1 }, { id: 2 }],
      categories: [{ id: 1, name: 'circle' }],
      annotations: [
        { id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400 },
        { id: 2, image_id: 2, category_id: 1, bbox: [10, 10, 20, 20], area: 400 },
      ],
    };
    await withAnnotations(oneClass, (annFile) => {
      const metric = buildMetric({ ann_file: annFile, metric_items: ['mAP', 'mAP_50', 'mAP_75', 'AR@100'] });
      metric.process(batchOf(1), [prediction([[10, 10, 30, 30]], [0.9], [0])]);
      // precision 1 up to recall 0.5, nothing beyond: 51 of the 101 recall points, at every IoU
      expect(metric.evaluate(1)).to.include({ 'coco/bbox_mAP': 0.505, 'coco/bbox_mAP_50': 0.505, 'coco/bbox_mAP_75': 0.505, 'coco/bbox_AR@100': 0.5 });
    });
  });

  it('evaluates only the categories the dataset classes name (mmdet sets catIds)', async () => {
    await withAnnotations(TWO_CLASSES, (annFile) => {
      const metric = buildMetric({ ann_file: annFile, metric_items: ['mAP'], classwise: true });
      metric.datasetMeta = { classes: ['square'] };
      metric.process(batchOf(1, 2), [prediction([[40, 40, 70, 70]], [0.8], [0]), prediction([[0, 0, 50, 50]], [0.7], [0])]);
      expect(metric.computeMetrics()).to.deep.equal({ bbox_square_precision: 1, bbox_mAP: 1, bbox_mAP_copypaste: '1.000 1.000 1.000 1.000 1.000 -1.000' });
    });
  });

  it('starts afresh after each evaluation', async () => {
    await withAnnotations(TWO_CLASSES, (annFile) => {
      const metric = buildMetric({ ann_file: annFile, metric_items: ['mAP'] });
      metric.process(batchOf(1, 2), [prediction([[10, 10, 30, 30], [40, 40, 70, 70]], [0.9, 0.8], [0, 1]), prediction([[0, 0, 50, 50]], [0.7], [1])]);
      expect(metric.evaluate(2)).to.include({ 'coco/bbox_mAP': 1 }); // without datasetMeta: categories by id (2, 5)
      expect(metric.results).to.have.length(0);
      metric.process(batchOf(1, 2), [prediction([], [], []), prediction([], [], [])]);
      expect(metric.evaluate(2)).to.include({ 'coco/bbox_mAP': 0 });
    });
  });

  it('says what is wrong with a batch or the classes', async () => {
    await withAnnotations(TWO_CLASSES, (annFile) => {
      const metric = buildMetric({ ann_file: annFile });
      expect(() => metric.process(batchOf(1), [prediction([[0, 0, 1, 1]], [0.5], [2])])).to.throw('CocoMetric.process: image 1 has label 2, but there are 2 classes');
      expect(() => metric.process(batchOf(1, 2), [prediction([], [], [])])).to.throw('2 data samples but 1 predictions');
      const noId: DetDataBatch = { inputs: [], data_samples: [{ metainfo: {}, gt_instances: EMPTY, ignored_instances: EMPTY }] };
      expect(() => metric.process(noId, [prediction([], [], [])])).to.throw(/data sample 0 has img_id undefined/);
      metric.datasetMeta = { classes: ['circle', 'triangle'] };
      expect(() => metric.process(batchOf(1), [prediction([], [], [])])).to.throw(/the dataset's classes 'triangle' are not categories of .*val\.json \(it has 'square', 'circle'\)/);
    });
  });
});
