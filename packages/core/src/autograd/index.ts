/**
 * Training support for the wasm and cpu backends: fast and corrected gradients, BatchNorm in
 * training mode, and gradient checkpointing.
 */
import { installFastConvGradients } from './conv2d-grad.js';
import { installEagerGradientRelease } from './eager-release.js';
import { installFastMatMulGradient } from './matmul-grad.js';
import { installPoolGradients } from './pool-grad.js';
import { installResizeGradients } from './resize-grad.js';

export * from './batch-norm.js';
export * from './bias-act.js';
export * from './channel-means.js';
export * from './checkpoint.js';
export * from './conv2d-grad.js';
export * from './eager-release.js';
export * from './gather-grad.js';
export * from './grad-check.js';
export * from './matmul-grad.js';
export * from './pool-grad.js';
export * from './resize-grad.js';
export * from './residual-add.js';
export { builtinGradient, restoreBuiltinGradient } from './gradient-registry.js';

/**
 * Registers every gradient override this folder provides, for all backends; call it once before
 * training (repeated calls are no-ops). It loads tfjs's own gradient table first, so it may run
 * before or after initBackend().
 *  - the backward pass frees each node's saved tensors and consumed gradients once it is done
 *    with them (tfjs keeps them all to the end of the backward pass).
 *  - Conv2D: fast dX/dW from conv2d + matMul (wasm lacks Conv2DBackpropFilter, its
 *    Conv2DBackpropInput is a slow loop; cpu's filter gradient is a scalar loop), dilation > 1 too.
 *  - BatchMatMul: the same products as tfjs's gradient without matMul's transpose flags, whose
 *    wasm path is ~10-15x slower than a plain matMul (the RoI head's FC backward).
 *  - MaxPool: wasm's MaxPoolGrad misroutes windows of non-positive values; ties go to the first max.
 *  - AvgPool: the grad kernels divide padded windows by the full window size, the forward does not.
 *  - ResizeBilinear / ResizeNearestNeighbor: cpu kernels are wrong (H/W swapped, missed pixels) and
 *    both backends ignore halfPixelCenters.
 * gatherRows, batchNormTrain, biasAct, addRelu and checkpoint are plain functions and need no installation.
 */
export function installTrainingKernels(): void {
  installEagerGradientRelease();
  installFastConvGradients();
  installFastMatMulGradient();
  installPoolGradients();
  installResizeGradients();
}
export * from './no-grad.js';
