import { expect } from 'chai';
import { formatExponential, formatTimedelta, LogProcessor, MessageHub } from '@tsdet/engine';

describe('LogProcessor (mmengine log lines)', () => {
  it("formats numbers as Python's f-strings", () => {
    expect(formatExponential(0.02, 4)).to.equal('2.0000e-02');
    expect(formatExponential(1.5e-120, 2)).to.equal('1.50e-120');
    expect(formatExponential(12345, 4)).to.equal('1.2345e+04');
    expect(formatTimedelta(3725.9)).to.equal('1:02:05');
    expect(formatTimedelta(2 * 86400 + 61)).to.equal('2 days, 0:01:01');
  });

  it('writes the train line in mmengine order: lr, eta, time, data_time, memory, then the other scalars smoothed over the window', () => {
    const hub = new MessageHub();
    for (const [i, loss] of [4, 2, 1].entries()) {
      hub.updateScalar('train/lr', [0.02, 0.019, 0.018][i]!);
      hub.updateScalar('train/data_time', 0.01);
      hub.updateScalar('train/grad_norm', 3);
      hub.updateScalar('train/loss', loss);
      hub.updateScalar('train/loss_rpn_cls', loss / 4);
      hub.updateScalar('train/acc', 90 + i);
      hub.updateScalar('train/time', 0.5);
    }
    const processor = new LogProcessor({ window_size: 2 });
    const { line, tag } = processor.afterIter(hub, { mode: 'train', batchIdx: 49, dataloaderLength: 200, epoch: 1, maxEpochs: 12, iter: 49, maxIters: 2400 }, { eta: 100.7, memoryMB: 812 });
    expect(line).to.equal('Epoch(train)  [1][ 50/200]  lr: 1.8000e-02  eta: 0:01:40  time: 0.5000  data_time: 0.0100  memory: 812  grad_norm: 3.0000  loss: 1.5000  loss_rpn_cls: 0.3750  acc: 92.0000');
    expect(tag).to.deep.include({ lr: 0.018, loss: 1.5, epoch: 1, iter: 50, memory: 812 });
  });

  it('writes the validation summary with metrics first and the mean times last', () => {
    const hub = new MessageHub();
    hub.updateScalar('val/data_time', 0.5);
    hub.updateScalar('val/time', 1);
    hub.updateScalar('val/time', 2);
    const { line } = new LogProcessor().afterEpoch(hub, { mode: 'val', batchIdx: 4, dataloaderLength: 5, epoch: 3, iter: 0, maxIters: 0 }, { 'coco/bbox_mAP': 0.374, 'coco/bbox_mAP_copypaste': '0.374 0.581' });
    expect(line).to.equal('Epoch(val) [3][5/5]    coco/bbox_mAP: 0.3740  coco/bbox_mAP_copypaste: 0.374 0.581  data_time: 0.5000  time: 1.5000');
  });
});
