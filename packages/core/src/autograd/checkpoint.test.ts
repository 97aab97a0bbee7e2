import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/index.js';
import { batchNormTrain, updateRunningStats } from './batch-norm.js';
import { checkpoint, isRecomputing } from './checkpoint.js';
import { discrepancy } from './grad-check.js';
import { tensorsLeakedBy, tensorsLeakedByAsync } from '../testing/leaks.js';
import { installTrainingKernels } from './index.js';

type ConvBlockWeights = [tf.Variable, tf.Variable];

function convBlock(h: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor): tf.Tensor4D {
  const mid = tf.relu(tf.conv2d(h as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same'));
  return tf.relu(tf.conv2d(mid, w2 as tf.Tensor4D, 1, 'same'));
}

/** How each block of the toy net runs: plainly, checkpointed reading its weights by closure, or as arguments. */
type Style = 'plain' | 'checkpoint-closure' | 'checkpoint-args';

function runBlock(style: Style, h: tf.Tensor, [w1, w2]: ConvBlockWeights): tf.Tensor {
  if (style === 'plain') return convBlock(h, w1, w2);
  if (style === 'checkpoint-closure') return checkpoint((t) => convBlock(t, w1, w2), [h], [w1, w2]);
  return checkpoint((t, a, b) => convBlock(t, a!, b!), [h], [w1, w2]);
}

class ToyNet {
  readonly blocks: ConvBlockWeights[];
  readonly input: tf.Variable;

  constructor(depth: number, readonly inputShape: [number, number, number, number], tag: string) {
    const c = inputShape[3];
    this.input = tf.variable(tf.randomNormal(inputShape, 0, 1, 'float32', 100), true, `toy-x-${tag}`);
    this.blocks = Array.from({ length: depth }, (_, i) => [
      tf.variable(tf.randomNormal([3, 3, c, c], 0, 0.3, 'float32', 2 * i + 1), true, `toy-a${i}-${tag}`),
      tf.variable(tf.randomNormal([3, 3, c, c], 0, 0.3, 'float32', 2 * i + 2), true, `toy-b${i}-${tag}`),
    ]);
  }

  get variables(): tf.Variable[] {
    return [this.input, ...this.blocks.flat()];
  }

  loss(style: Style): tf.Scalar {
    const out = this.blocks.reduce<tf.Tensor>((h, weights) => runBlock(style, h, weights), this.input);
    return tf.mean(tf.square(out));
  }

  /** Loss value and gradients for every variable (input included), in `variables` order. */
  step(style: Style): tf.Tensor[] {
    const { value, grads } = tf.variableGrads(() => this.loss(style), this.variables);
    return [value, ...this.variables.map((v) => grads[v.name]!)];
  }

  dispose(): void {
    tf.dispose(this.variables);
  }
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`autograd/checkpoint on ${backend}`, () => {
    let net: ToyNet;

    before(async () => {
      await initBackend({ backend, threads: backend === 'wasm' ? 2 : 1, verbose: false });
      installTrainingKernels();
      net = new ToyNet(6, [2, 16, 16, 8], backend);
    });
    after(() => net.dispose());

    for (const style of ['checkpoint-closure', 'checkpoint-args'] as const) {
      it(`${style}: same loss and gradients (input and every weight) as the plain net`, () => {
        const leaked = tensorsLeakedBy(() => {
          const plain = net.step('plain');
          const checkpointed = net.step(style);
          plain.forEach((p, i) => {
            expect(discrepancy(checkpointed[i]!, p).maxAbs, `tensor ${i}`).to.be.at.most(1e-7);
          });
          tf.dispose([...plain, ...checkpointed]);
        });
        expect(leaked, 'tensors leaked').to.equal(0);
      });
    }

    it('lowers the peak memory of a training step', async () => {
      // Above what was allocated before the step (other suites in the same process hold tensors too).
      const peak = async (style: Style): Promise<number> => {
        const before = tf.memory().numBytes;
        const info = await tf.profile(() => net.step(style));
        tf.dispose(info.result);
        return info.peakBytes - before;
      };
      const leaked = await tensorsLeakedByAsync(async () => {
        const plainPeak = await peak('plain');
        const checkpointedPeak = await peak('checkpoint-closure');
        // 6 blocks keep 4 activations each when plain; checkpointed keeps one per block plus one
        // block's worth during its recomputation.
        expect(checkpointedPeak, `plain ${plainPeak} B, checkpointed ${checkpointedPeak} B`).to.be.below(0.75 * plainPeak);
      });
      expect(leaked, 'tensors leaked').to.equal(0);
    });

    it('leaves no tensors behind over repeated steps', () => {
      net.step('checkpoint-args').forEach((t) => t.dispose()); // warm-up
      const leaked = tensorsLeakedBy(() => {
        for (let i = 0; i < 3; i++) tf.dispose(net.step('checkpoint-closure'));
      });
      expect(leaked).to.equal(0);
    });

    it('updates BatchNorm running statistics once per step when guarded by isRecomputing()', () => {
      const c = 4;
      const x = tf.randomNormal([2, 6, 5, c], 0, 1, 'float32', 41);
      const w = tf.variable(tf.randomNormal([3, 3, c, c], 0, 0.3, 'float32', 42), true, `bn-w-${backend}`);
      const gamma = tf.variable(tf.randomNormal([c], 1, 0.1, 'float32', 43), true, `bn-gamma-${backend}`);
      const beta = tf.variable(tf.randomNormal([c], 0, 0.1, 'float32', 44), true, `bn-beta-${backend}`);
      const params = [w, gamma, beta];
      const newRunningStats = () => [tf.variable(tf.zeros([c]), false), tf.variable(tf.ones([c]), false)] as const;
      let recomputations = 0;

      /** conv -> BN(train) -> relu, updating `stats` unless recomputing (or always, if unguarded). */
      const layer = (stats: readonly [tf.Variable, tf.Variable], guarded: boolean) => (h: tf.Tensor): tf.Tensor => {
        const { y, batchMean, batchVarUnbiased } = batchNormTrain(tf.conv2d(h as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), gamma, beta);
        if (isRecomputing()) recomputations++;
        if (!guarded || !isRecomputing()) updateRunningStats(stats[0], stats[1], batchMean, batchVarUnbiased);
        return tf.relu(y);
      };
      const trainStep = (stats: readonly [tf.Variable, tf.Variable], style: 'plain' | 'guarded' | 'unguarded'): tf.Tensor[] => {
        const f = layer(stats, style !== 'unguarded');
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(style === 'plain' ? f(x) : checkpoint(f, [x], params))), params);
        return [value, ...params.map((p) => grads[p.name]!)];
      };

      const plainStats = newRunningStats();
      const guardedStats = newRunningStats();
      const unguardedStats = newRunningStats();
      const leaked = tensorsLeakedBy(() => {
        const plain = trainStep(plainStats, 'plain');
        expect(recomputations).to.equal(0);
        const guarded = trainStep(guardedStats, 'guarded');
        expect(recomputations, 'the backward pass recomputed the layer once').to.equal(1);
        expect(isRecomputing()).to.equal(false);
        plain.forEach((p, i) => expect(discrepancy(guarded[i]!, p).maxAbs, `tensor ${i}`).to.be.at.most(1e-7));
        const unguarded = trainStep(unguardedStats, 'unguarded');
        tf.dispose([...plain, ...guarded, ...unguarded]);
      });
      expect(leaked, 'tensors leaked').to.equal(0);
      expect(discrepancy(guardedStats[0], plainStats[0]).maxAbs, 'running mean').to.equal(0);
      expect(discrepancy(guardedStats[1], plainStats[1]).maxAbs, 'running var').to.equal(0);
      // Without the guard the statistics move twice, as in PyTorch's checkpoint.
      expect(discrepancy(unguardedStats[0], plainStats[0]).maxAbs, 'unguarded running mean').to.be.above(1e-3);
      tf.dispose([x, ...params, ...plainStats, ...guardedStats, ...unguardedStats]);
    });

    it('nests: a checkpoint inside a checkpoint gives the plain gradients', () => {
      const [w1, w2] = net.blocks[0]!;
      const [w3, w4] = net.blocks[1]!;
      const leaked = tensorsLeakedBy(() => {
        const lossOf = (nested: boolean) => (): tf.Scalar => {
          const inner = (h: tf.Tensor): tf.Tensor => (nested ? checkpoint((t) => convBlock(t, w3, w4), [h], [w3, w4]) : convBlock(h, w3, w4));
          const outer = (h: tf.Tensor): tf.Tensor => inner(convBlock(h, w1, w2));
          return tf.mean(tf.square(nested ? checkpoint(outer, [net.input], [w1, w2, w3, w4]) : outer(net.input)));
        };
        const vars = [net.input, w1, w2, w3, w4];
        const plain = tf.variableGrads(lossOf(false), vars);
        const nested = tf.variableGrads(lossOf(true), vars);
        for (const v of vars) expect(discrepancy(nested.grads[v.name]!, plain.grads[v.name]!).maxAbs, v.name).to.be.at.most(1e-7);
        tf.dispose([plain.value, nested.value, plain.grads, nested.grads]);
      });
      expect(leaked, 'tensors leaked').to.equal(0);
    });

    it('handles unused and integer inputs like the plain function (zero gradient when unused)', () => {
      const [w1, w2] = net.blocks[0]!;
      const leaked = tensorsLeakedBy(() => {
        tf.tidy(() => {
          const mask = tf.ones([2, 16, 16, 1], 'int32');
          const unused = tf.ones([3]);
          const segment = (t: tf.Tensor, m: tf.Tensor): tf.Tensor => tf.mul(convBlock(t, w1, w2), tf.cast(m, 'float32'));
          const gradsOf = (checkpointed: boolean) => tf.grads((x: tf.Tensor, m: tf.Tensor, u: tf.Tensor) =>
            tf.sum(checkpointed ? checkpoint((t, mm) => segment(t, mm!), [x, m, u], [w1, w2]) : tf.add(segment(x, m), tf.mul(tf.sum(u), 0))))(
            [net.input, mask, unused]);
          const plain = gradsOf(false);
          const checkpointed = gradsOf(true);
          plain.forEach((p, i) => expect(discrepancy(checkpointed[i]!, p).maxAbs, `input ${i}`).to.be.at.most(1e-7));
          expect(Array.from(checkpointed[2]!.dataSync())).to.deep.equal([0, 0, 0]);
        });
      });
      expect(leaked, 'tensors leaked').to.equal(0);
    });

    it('refuses a trainable variable that fn reads but params does not list', () => {
      const [w1, w2] = net.blocks[0]!;
      expect(() => tf.tidy(() => tf.variableGrads(() => tf.sum(checkpoint((t) => convBlock(t, w1, w2), [net.input], [w1])), [w1, w2])))
        .to.throw(new RegExp(`reads trainable variable\\(s\\) '${w2.name}'`));
      // The failed backward left the engine's outer tape set; later gradients start a fresh one.
      tf.engine().state.activeTape.forEach((node) => node.saved?.forEach((t) => t.dispose()));
    });

    it('outside a gradient tape just runs fn, leaving no tensors behind', () => {
      const [w1, w2] = net.blocks[0]!;
      const leaked = tensorsLeakedBy(() => {
        const direct = tf.tidy(() => convBlock(net.input, w1, w2));
        const viaCheckpoint = checkpoint((t) => convBlock(t, w1, w2), [net.input], [w1, w2]);
        expect(discrepancy(viaCheckpoint, direct).maxAbs).to.equal(0);
        tf.dispose([direct, viaCheckpoint]);
      });
      expect(leaked, 'tensors leaked').to.equal(0);
    });
  });
}
