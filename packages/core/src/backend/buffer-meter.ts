/**
 * Peak memory of tensor data buffers, counted once per buffer. tf.memory().numBytes and
 * tf.profile's peakBytes count every tensor object, and the gradient tape keeps each saved tensor
 * as a clone that shares its source's buffer: they report activations saved for the backward
 * pass up to twice. This meter follows the engine's buffer bookkeeping instead.
 */
import * as tf from '@tensorflow/tfjs-core';

interface EngineInternals {
  state: { tensorInfo: WeakMap<object, { bytes: number; backend: unknown }> };
  trackTensor(tensor: tf.Tensor, backend: unknown): void;
  removeDataId(dataId: object, backend: unknown): void;
}

export interface BufferMeter {
  /** Largest sum of bytes of the buffers allocated since start, less those freed since start. */
  readonly peakBytes: number;
  /** The same sum now. */
  readonly currentBytes: number;
  stop(): void;
}

/** Starts metering; only one meter runs at a time. */
export function startBufferMeter(): BufferMeter {
  const engine = tf.engine() as unknown as EngineInternals;
  const original = { trackTensor: engine.trackTensor, removeDataId: engine.removeDataId };
  let current = 0;
  let peak = 0;
  engine.trackTensor = function (this: EngineInternals, tensor, backend) {
    const isNew = !this.state.tensorInfo.has(tensor.dataId);
    original.trackTensor.call(this, tensor, backend);
    if (!isNew) return;
    current += this.state.tensorInfo.get(tensor.dataId)?.bytes ?? 0;
    peak = Math.max(peak, current);
  };
  engine.removeDataId = function (this: EngineInternals, dataId, backend) {
    const info = this.state.tensorInfo.get(dataId);
    if (info && info.backend === backend) current -= info.bytes;
    original.removeDataId.call(this, dataId, backend);
  };
  return {
    get peakBytes() {
      return peak;
    },
    get currentBytes() {
      return current;
    },
    stop() {
      engine.trackTensor = original.trackTensor;
      engine.removeDataId = original.removeDataId;
    },
  };
}
