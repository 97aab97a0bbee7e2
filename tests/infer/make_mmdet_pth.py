#!/usr/bin/python3
"""Writes faster-rcnn_r50_fpn_tiny_mmdet.pth: a checkpoint laid out exactly as mmdetection 3.x saves one.

usage: /usr/bin/python3 tests/infer/make_mmdet_pth.py WEIGHTS.safetensors OUT.pth

WEIGHTS is the state dict of faster-rcnn_r50_fpn_tiny.json (random weights, written by tsdet's
writeSafetensors(stateDictOf(model))). The checkpoint is {meta, state_dict, message_hub} saved by
torch.save (zip format) with mmengine's meta keys, class names in meta.dataset_meta (mmdet 3) and
also meta.CLASSES (mmdet 2), and numpy scalars, which tsdet must read as inert placeholders.
Needs Debian's python3-torch (and numpy); nothing is downloaded.
"""
import collections, json, struct, sys

import numpy as np
import torch

DTYPES = {'F32': np.float32, 'I64': np.int64}


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop('__metadata__', None)
    data = raw[8 + n:]
    tensors = collections.OrderedDict()
    for key, info in sorted(header.items(), key=lambda kv: kv[1]['data_offsets'][0]):
        begin, end = info['data_offsets']
        array = np.frombuffer(data[begin:end], dtype=DTYPES[info['dtype']]).reshape(info['shape'])
        tensors[key] = torch.from_numpy(array.copy())
    return tensors


def main():
    weights, out = sys.argv[1:3]
    classes = ('person', 'car', 'dog')
    meta = {
        'epoch': 12, 'iter': 1200, 'seed': 0,
        'mmengine_version': '0.10.7', 'mmdet_version': '3.3.0',
        'experiment_name': 'faster-rcnn_r50_fpn_tiny', 'time': '20261128_071500',
        'dataset_meta': {'classes': classes, 'palette': [(220, 20, 60), (119, 11, 32), (0, 0, 142)]},
        'CLASSES': classes,
        'hook_msgs': {'last_ckpt': 'work_dirs/faster-rcnn_r50_fpn_tiny/epoch_12.pth', 'best_score': np.float64(0.375)},
    }
    message_hub = {'log_scalars': {}, 'runtime_info': {'epoch': 12, 'iter': 1200, 'max_iters': np.int64(1200)}}
    torch.save({'meta': meta, 'state_dict': read_safetensors(weights), 'message_hub': message_hub}, out)


if __name__ == '__main__':
    main()
