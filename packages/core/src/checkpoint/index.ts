export { writeFileAtomic } from './atomic-write.js';
export { CheckpointError } from './errors.js';
export { loadCheckpoint, type LoadedCheckpoint } from './load-checkpoint.js';
export { loadPth, PickleGlobalRef, UnsupportedPickleObject } from './pth.js';
export { bytesPerElement, numel, toFloat32, toInt32, type DType, type RawTensor, type TensorData } from './raw-tensor.js';
export { readSafetensors, serializeSafetensors, writeSafetensors, type Safetensors } from './safetensors.js';
