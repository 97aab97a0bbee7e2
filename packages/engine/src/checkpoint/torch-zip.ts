/**
 * Writes an object in PyTorch's zip serialization (torch >= 1.6 `torch.save`): an uncompressed
 * zip holding `archive/data.pkl`, one `archive/data/<key>` file per tensor storage, and the
 * `byteorder` / `version` records. @tsdet/core's loadCheckpoint / loadPth read it back, and so
 * does `torch.load` (only weights_only-safe globals are used).
 */
import { zipSync, type Zippable } from 'fflate';
import { writeFileAtomic, type RawTensor } from '@tsdet/core';
import { pickleValue, type PickleValue } from './pickle-writer.js';

const ARCHIVE = 'archive';

function storageBytes(tensor: RawTensor): Uint8Array {
  const data = tensor.data;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The bytes of a `.pth` file holding `value`. */
export function serializeTorchFile(value: PickleValue): Uint8Array {
  const { pickle, storages } = pickleValue(value);
  const files: Zippable = {
    [`${ARCHIVE}/data.pkl`]: [pickle, { level: 0 }],
    [`${ARCHIVE}/byteorder`]: [new TextEncoder().encode('little'), { level: 0 }],
  };
  storages.forEach((tensor, key) => {
    files[`${ARCHIVE}/data/${key}`] = [storageBytes(tensor), { level: 0 }];
  });
  files[`${ARCHIVE}/version`] = [new TextEncoder().encode('3\n'), { level: 0 }];
  return zipSync(files, { level: 0 });
}

/** Writes `value` as a `.pth` file, atomically (temp file + fsync + rename). */
export function writeTorchFile(path: string, value: PickleValue): void {
  writeFileAtomic(path, serializeTorchFile(value));
}
