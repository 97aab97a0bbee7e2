/**
 * batched_nms in ONNX on the roi_align_nms fixture's boxes (mmcv's kept indices): both of
 * mmcv's paths, chosen at run time by the If node — the offset trick below split_thr, NMS per
 * group above it (forced here with a split_thr below the box count) — keep exactly mmcv's boxes.
 */
import { expect } from 'chai';
import path from 'node:path';
import { toFloat32 } from '@tsdet/core';
import { fixturesDir, ioTensor, readFixtureCase } from '@tsdet/models';
import { GraphBuilder, serializeModel } from '../graph/graph-builder.js';
import { createOrtSession, ort } from '../runtime/ort-session.js';
import { REPO_ROOT } from '../testing/repo-root.js';
import { batchedNms } from './box-ops.js';

async function keptIndices(splitThr: number, iou: number): Promise<number[]> {
  const c = readFixtureCase(path.join(fixturesDir(REPO_ROOT), 'roi_align_nms'));
  const g = new GraphBuilder();
  const boxes = g.input('boxes', 'float32', ['n', 4]);
  const scores = g.input('scores', 'float32', ['n']);
  const labels = g.input('labels', 'float32', ['n']);
  g.output(batchedNms(g, boxes, scores, labels, { type: 'nms', iou_threshold: iou, split_thr: splitThr }, { numGroups: 3 }), 'keep', 'int64');
  const session = await createOrtSession(serializeModel(g.toGraph('batched_nms')), { threads: 1 });
  try {
    const t = (key: string) => new ort.Tensor('float32', toFloat32(ioTensor(c, key)), ioTensor(c, key).shape);
    const out = await session.run({ boxes: t('nms.boxes'), scores: t('nms.scores'), labels: t('nms.labels') });
    return Array.from(out['keep']!.data as BigInt64Array, Number);
  } finally {
    await session.release();
  }
}

function storedKeep(iou: number): number[] {
  const c = readFixtureCase(path.join(fixturesDir(REPO_ROOT), 'roi_align_nms'));
  return Array.from(toFloat32(ioTensor(c, `batched_nms.iou${iou}.keep`)));
}

describe('batchedNms (ONNX NonMaxSuppression) against mmcv', () => {
  for (const iou of [0.5, 0.7]) {
    it(`keeps mmcv's boxes with the offset trick (80 boxes < split_thr), IoU ${iou}`, async () => {
      expect(await keptIndices(10000, iou)).to.deep.equal(storedKeep(iou));
    });

    it(`keeps the same boxes per group when the count reaches split_thr, IoU ${iou}`, async () => {
      expect(await keptIndices(10, iou)).to.deep.equal(storedKeep(iou));
    });
  }
});
