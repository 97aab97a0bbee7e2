/**
 * The losses on small inputs whose values are computed by hand (in the comments), on wasm:
 * softmax CE and sigmoid BCE with ignore_index, weights and avg_factor (weight_reduce_loss),
 * L1 and smooth L1 with mmdet's all-zero-weight shortcut, reductions, loss_weight, gradients,
 * and the config schemas through the registry.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigValidationError, initBackend, MODELS, withoutLeaks } from '@tsdet/core';
import { registerModels } from '../register.js';
import { binaryCrossEntropy, CrossEntropyLoss, crossEntropy } from './cross-entropy-loss.js';
import { L1Loss, l1Loss, SmoothL1Loss, smoothL1Loss } from './l1-loss.js';
import { FLOAT32_EPS, weightReduceLoss } from './reduce.js';

/** A scalar (or any) loss tensor's values, freed. */
function values(t: tf.Tensor): number[] {
  const out = Array.from(t.dataSync());
  t.dispose();
  return out;
}

function expectClose(actual: number[], expected: number[], tol = 1e-6): void {
  expect(actual).to.have.length(expected.length);
  actual.forEach((v, i) => expect(v, `element ${i}`).to.be.closeTo(expected[i]!, tol));
}

// Softmax CE on [[1, 2, 3], [1, 1, 1]] with labels [2, 0]:
//   row 0: logsumexp = 3 + ln(1 + e^-1 + e^-2) = 3.4076059644; loss 0.4076059644
//   row 1: logsumexp = 1 + ln 3 = 2.0986122887;                  loss 1.0986122887
const LOGITS = [[1, 2, 3], [1, 1, 1]];
const ROW_LOSSES = [0.4076059644, 1.0986122887];

describe('losses (mmdet semantics, hand-computed values)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', threads: 1, verbose: false });
    registerModels();
  });

  describe('weight_reduce_loss', () => {
    it('reduces by mean / sum / none, and by sum / (avg_factor + eps) with avg_factor', () => {
      tf.tidy(() => {
        const loss = tf.tensor1d([1, 2, 3, 4]);
        expectClose(values(weightReduceLoss(loss, null, 'mean', null)), [2.5]);
        expectClose(values(weightReduceLoss(loss, null, 'sum', null)), [10]);
        expectClose(values(weightReduceLoss(loss, tf.tensor1d([1, 0, 1, 0]), 'none', null)), [1, 0, 3, 0]);
        expectClose(values(weightReduceLoss(loss, tf.tensor1d([1, 0, 1, 0]), 'mean', 2)), [4 / (2 + FLOAT32_EPS)]);
      });
    });

    it('rejects avg_factor with reduction sum, as mmdet', () => {
      tf.tidy(() => {
        expect(() => weightReduceLoss(tf.ones([2]), null, 'sum', 3)).to.throw(/avg_factor can not be used with reduction="sum"/);
      });
    });
  });

  describe('softmax cross_entropy', () => {
    it('gives logsumexp - logit[label] per row, then the mean', () => {
      tf.tidy(() => {
        const pred = tf.tensor2d(LOGITS);
        const label = tf.tensor1d([2, 0], 'int32');
        expectClose(values(crossEntropy(pred, label, { reduction: 'none' })), ROW_LOSSES);
        expectClose(values(crossEntropy(pred, label)), [(ROW_LOSSES[0]! + ROW_LOSSES[1]!) / 2]);
        expectClose(values(crossEntropy(pred, label, { weight: tf.tensor1d([1, 0]), avgFactor: 1 })), [ROW_LOSSES[0]! / (1 + FLOAT32_EPS)]);
      });
    });

    it('counts ignored rows as 0, averaging over all rows unless avg_non_ignore', () => {
      tf.tidy(() => {
        const pred = tf.tensor2d(LOGITS);
        const label = tf.tensor1d([2, -100], 'int32');
        expectClose(values(crossEntropy(pred, label)), [ROW_LOSSES[0]! / 2]);
        expectClose(values(crossEntropy(pred, label, { avgNonIgnore: true })), [ROW_LOSSES[0]!]);
        // An ignore_index inside the class range masks that class's rows too.
        expectClose(values(crossEntropy(pred, tf.tensor1d([2, 0], 'int32'), { ignoreIndex: 0, reduction: 'sum' })), [ROW_LOSSES[0]!]);
      });
    });

    it('rejects labels outside [0, C) that are not ignore_index (as F.cross_entropy)', () => {
      tf.tidy(() => {
        expect(() => crossEntropy(tf.tensor2d(LOGITS), tf.tensor1d([3, 0], 'int32'))).to.throw(RangeError, /label 3 is outside \[0, 3\)/);
      });
    });

    it('has gradient softmax - onehot (divided by the row count for the mean)', () => {
      tf.tidy(() => {
        const label = tf.tensor1d([2, 0], 'int32');
        const grad = tf.grad((p: tf.Tensor) => crossEntropy(p as tf.Tensor2D, label))(tf.tensor2d(LOGITS));
        // softmax(1, 2, 3) = [0.0900305732, 0.2447284711, 0.6652409558]; softmax(1, 1, 1) = 1/3 each
        expectClose(Array.from(grad.dataSync()), [0.0900305732 / 2, 0.2447284711 / 2, (0.6652409558 - 1) / 2, (1 / 3 - 1) / 2, 1 / 6, 1 / 6]);
      });
    });
  });

  describe('sigmoid binary_cross_entropy', () => {
    // RPN style: [N, 1] logits [0, 2], labels [0 (object), 1 (background = num_classes)]:
    //   label 0 -> target 1: softplus(0) - 0 = ln 2 = 0.6931471806
    //   label 1 -> target 0 (a label >= C gives an all-zero row): softplus(2) = ln(1 + e^2) = 2.1269280110
    it('expands integer labels to one-hot targets; the background label gives target 0', () => {
      tf.tidy(() => {
        const pred = tf.tensor2d([[0], [2]]);
        const label = tf.tensor1d([0, 1], 'int32');
        expectClose(values(binaryCrossEntropy(pred, label, { reduction: 'none' })), [0.6931471806, 2.126928011]);
        expectClose(values(binaryCrossEntropy(pred, label, { weight: tf.tensor1d([1, 0]), avgFactor: 1 })), [0.6931471806 / (1 + FLOAT32_EPS)]);
      });
    });

    it('over C > 1 channels puts the 1 at the label column', () => {
      // logits [1, -1, 0], label 1 -> targets [0, 1, 0]: softplus(1) = 1.3132616875,
      // softplus(-1) + 1 = 1.3132616875, softplus(0) = 0.6931471806; mean 1.1065568519
      tf.tidy(() => {
        expectClose(values(binaryCrossEntropy(tf.tensor2d([[1, -1, 0]]), tf.tensor1d([1], 'int32'))), [1.1065568519]);
      });
    });

    it('gives ignored rows weight 0, and average over the valid elements with avg_non_ignore', () => {
      tf.tidy(() => {
        const pred = tf.tensor2d([[0], [2]]);
        const label = tf.tensor1d([0, -100], 'int32');
        expectClose(values(binaryCrossEntropy(pred, label)), [0.6931471806 / 2]);
        expectClose(values(binaryCrossEntropy(pred, label, { avgNonIgnore: true })), [0.6931471806]);
      });
    });

    it('takes same-shape float targets, masking negative ones', () => {
      tf.tidy(() => {
        expectClose(values(binaryCrossEntropy(tf.tensor2d([[0, 2]]), tf.tensor2d([[1, -1]]), { reduction: 'sum' })), [0.6931471806]);
      });
    });

    it('has gradient sigmoid(x) - target', () => {
      tf.tidy(() => {
        const label = tf.tensor1d([0, 1], 'int32');
        const grad = tf.grad((p: tf.Tensor) => binaryCrossEntropy(p, label, { reduction: 'sum' }))(tf.tensor2d([[0], [2]]));
        expectClose(Array.from(grad.dataSync()), [0.5 - 1, 0.8807970780]);
      });
    });
  });

  describe('CrossEntropyLoss module', () => {
    it('multiplies by loss_weight and honours reduction_override', () => {
      tf.tidy(() => {
        const loss = new CrossEntropyLoss({ loss_weight: 2 });
        const pred = tf.tensor2d(LOGITS);
        const label = tf.tensor1d([2, 0], 'int32');
        expectClose(values(loss.forward(pred, label)), [ROW_LOSSES[0]! + ROW_LOSSES[1]!]);
        expectClose(values(loss.forward(pred, label, { reductionOverride: 'none' })), ROW_LOSSES.map((v) => 2 * v));
        const sigmoid = new CrossEntropyLoss({ use_sigmoid: true });
        expect(sigmoid.useSigmoid).to.equal(true);
        expectClose(values(sigmoid.forward(tf.tensor2d([[0], [2]]), tf.tensor1d([0, 1], 'int32'), { reductionOverride: 'sum' })), [0.6931471806 + 2.126928011]);
      });
    });

    it('leaks no tensor (sigmoid, softmax, regression)', async () => {
      const [logit, logits, label, weight, ones] = [tf.tensor2d([[0], [2]]), tf.tensor2d(LOGITS), tf.tensor1d([0, 1], 'int32'), tf.tensor1d([1, 0]), tf.ones([2, 3])];
      await withoutLeaks(() => {
        tf.dispose(new CrossEntropyLoss({ use_sigmoid: true }).forward(logit, label, { weight, avgFactor: 1 }));
        tf.dispose(new CrossEntropyLoss().forward(logits, label, { weight }));
        tf.dispose(new SmoothL1Loss().forward(logits, logits, { weight: ones }));
      }, 'the losses');
      tf.dispose([logit, logits, label, weight, ones]);
    });
  });

  describe('L1 and smooth L1', () => {
    // pred [[1, 2], [3, 4]], target [[1.5, 2], [2, 6]]: |diff| = [0.5, 0, 1, 2]
    const pred = () => tf.tensor2d([[1, 2], [3, 4]]);
    const target = () => tf.tensor2d([[1.5, 2], [2, 6]]);

    it('l1_loss: |pred - target|, weighted, reduced', () => {
      tf.tidy(() => {
        expectClose(values(l1Loss(pred(), target(), { reduction: 'none' })), [0.5, 0, 1, 2]);
        expectClose(values(l1Loss(pred(), target())), [0.875]);
        expectClose(values(l1Loss(pred(), target(), { weight: tf.tensor2d([[0, 1], [1, 1]]), avgFactor: 2 })), [3 / (2 + FLOAT32_EPS)]);
      });
    });

    it('smooth_l1_loss: 0.5 d^2 / beta below beta, d - 0.5 beta above', () => {
      tf.tidy(() => {
        // beta 1: [0.125, 0, 0.5, 1.5]
        expectClose(values(smoothL1Loss(pred(), target(), 1, { reduction: 'none' })), [0.125, 0, 0.5, 1.5]);
        // beta 1/9: every nonzero |diff| is above beta: d - 1/18
        expectClose(values(smoothL1Loss(pred(), target(), 1 / 9, { reduction: 'sum' })), [3.5 - 3 / 18], 1e-5);
      });
      expect(() => tf.tidy(() => smoothL1Loss(pred(), target(), 0))).to.throw(RangeError, /beta must be > 0/);
    });

    it('modules apply loss_weight; an all-zero weight gives sum(pred * weight) = 0 with a gradient', () => {
      tf.tidy(() => {
        expectClose(values(new L1Loss({ loss_weight: 2 }).forward(pred(), target())), [1.75]);
        expectClose(values(new SmoothL1Loss({ beta: 1, reduction: 'sum' }).forward(pred(), target())), [2.125]);
        const zero = tf.zeros([2, 2]);
        expectClose(values(new L1Loss({ loss_weight: 5 }).forward(pred(), target(), { weight: zero, avgFactor: 4 })), [0]);
        const grad = tf.grad((p: tf.Tensor) => new L1Loss().forward(p, target(), { weight: zero }))(pred());
        expect(Array.from(grad.dataSync())).to.deep.equal([0, 0, 0, 0]);
      });
    });

    it('has gradient sign(pred - target) / n for the mean, 0 where they are equal (as PyTorch)', () => {
      tf.tidy(() => {
        const grad = tf.grad((p: tf.Tensor) => new L1Loss().forward(p, target()))(pred());
        expectClose(Array.from(grad.dataSync()), [-0.25, 0, 0.25, -0.25]);
      });
    });

    it('rejects different shapes, and an empty target gives 0', () => {
      tf.tidy(() => {
        expect(() => l1Loss(tf.zeros([2, 4]), tf.zeros([2, 3]))).to.throw(/same shape/);
        expectClose(values(l1Loss(tf.zeros([0, 4]), tf.zeros([0, 4]), { reduction: 'sum' })), [0]);
      });
    });
  });

  describe('configs', () => {
    it('build through the registry with mmdet defaults', () => {
      const ce = MODELS.build<CrossEntropyLoss>({ type: 'CrossEntropyLoss', use_sigmoid: true, loss_weight: 1.0 }, { path: 'model.rpn_head.loss_cls' });
      expect([ce.useSigmoid, ce.reduction, ce.lossWeight, ce.ignoreIndex]).to.deep.equal([true, 'mean', 1, null]);
      expect(MODELS.build<SmoothL1Loss>({ type: 'SmoothL1Loss' }, { path: 'loss' }).beta).to.equal(1);
    });

    it('reject what is not ported and unknown keys, naming the path', () => {
      expect(() => MODELS.build({ type: 'CrossEntropyLoss', use_mask: true }, { path: 'model.loss_cls' })).to.throw(ConfigValidationError, /model\.loss_cls\.use_mask/);
      expect(() => MODELS.build({ type: 'CrossEntropyLoss', class_weight: [1, 2] }, { path: 'model.loss_cls' })).to.throw(ConfigValidationError, /model\.loss_cls\.class_weight/);
      expect(() => MODELS.build({ type: 'L1Loss', beta: 1 }, { path: 'model.loss_bbox' })).to.throw(ConfigValidationError, /model\.loss_bbox\.beta: unknown key for L1Loss/);
      expect(() => MODELS.build({ type: 'SmoothL1Loss', beta: 0 }, { path: 'model.loss_bbox' })).to.throw(ConfigValidationError, /model\.loss_bbox\.beta/);
    });
  });
});
