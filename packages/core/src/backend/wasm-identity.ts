/**
 * tfjs-backend-wasm's Identity kernel copies its input into a new buffer, and Identity is what
 * tf.clone runs, which is how the gradient tape keeps every tensor a backward pass needs
 * (engine.saveTensorsForBackwardMode clones each saved input and output). On wasm every activation
 * saved for the backward pass was therefore held twice and copied once: a training step used up
 * to twice the memory of the cpu backend, whose Identity shares the buffer. Tensors are immutable
 * and wasm buffers are reference counted (Reshape already shares them), so sharing is safe.
 */
import * as tf from '@tensorflow/tfjs-core';

interface RefCountingBackend {
  incRef(dataId: object): void;
}

/** Replaces wasm's copying Identity kernel with one that shares the input's buffer (repeat calls are no-ops). */
export function shareWasmIdentityBuffers(): void {
  const registered = tf.getKernel(tf.Identity, 'wasm');
  if (!registered || registered.kernelFunc === sharedIdentity) return;
  tf.unregisterKernel(tf.Identity, 'wasm');
  tf.registerKernel({ kernelName: tf.Identity, backendName: 'wasm', kernelFunc: sharedIdentity as unknown as tf.KernelFunc });
}

function sharedIdentity(args: { inputs: { x: tf.TensorInfo }; backend: RefCountingBackend }): tf.TensorInfo {
  const { x } = args.inputs;
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}
