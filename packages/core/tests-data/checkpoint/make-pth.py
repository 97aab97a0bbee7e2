#!/usr/bin/env python3
"""Generate the small PyTorch checkpoints used by packages/core/src/checkpoint/pth.test.ts.

Run from anywhere with a Python that has torch (written with torch 1.13):

    python3 packages/core/tests-data/checkpoint/make-pth.py

The tests never run Python: they read the committed outputs. `expected.json` holds torch's own
view of every tensor (dtype, shape, row-major values; raw bits for float16/bfloat16) so the
TypeScript reader is compared against torch, not against itself.
"""
import collections
import json
import os

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class Foo:
    """A class only this script knows: loading must not need (or run) it."""

    def __init__(self):
        self.x = 1
        self.label = 'foo'


class Exploit:
    """The classic malicious pickle: unpickling would call os.system. The loader must not."""

    def __reduce__(self):
        return (os.system, ('echo pwned > /tmp/tsdet-pickle-pwned',))


def sequential_state_dict():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    bn = model[1]
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.num_batches_tracked.fill_(7)
    sd = model.state_dict()

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    sd['extra.half'] = torch.randn(2, 3).half()
    # zero, negative zero, a subnormal, the largest half, infinities, 2**-24 (smallest subnormal)
    sd['extra.half_special'] = torch.tensor([0.0, -0.0, 1e-6, 65504.0, float('inf'), float('-inf'), 2.0**-24, 1 / 3]).half()
    sd['extra.bf16'] = torch.tensor([1.0, -2.5, 3.14159, 1e30, -1e-30, 0.0]).bfloat16()
    sd['extra.float64'] = torch.tensor([[1 / 3, -2.0], [1e300, 5e-324]], dtype=torch.float64)
    sd['extra.int32'] = torch.tensor([-(2**31), 2**31 - 1, 0, 5], dtype=torch.int32)
    sd['extra.int16'] = torch.tensor([-32768, 32767, 7], dtype=torch.int16)
    sd['extra.int8'] = torch.tensor([-128, 127, -1], dtype=torch.int8)
    sd['extra.uint8'] = torch.tensor([0, 255, 128], dtype=torch.uint8)
    sd['extra.bool'] = torch.tensor([True, False, True, True])
    sd['extra.int64'] = torch.tensor([-(2**40), 2**40, -1], dtype=torch.int64)
    sd['extra.base'] = base
    sd['extra.transposed'] = torch.randn(3, 5).t()  # stride (1, 5)
    sd['extra.view_offset'] = base[1:3, 2:5]  # shares base's storage: offset 8, stride (6, 1)
    sd['extra.row_view'] = base[2]  # shares base's storage: offset 12, contiguous
    sd['extra.permuted'] = torch.randn(2, 3, 4).permute(2, 0, 1)
    sd['extra.expanded'] = torch.tensor([1.0, 2.0, 3.0]).expand(2, 3)  # stride (0, 1)
    sd['extra.scalar'] = torch.tensor(3.5)
    sd['extra.empty'] = torch.zeros(0, 3)
    return sd


def mmdet_style():
    torch.manual_seed(1)
    state = collections.OrderedDict()
    state['module.conv.weight'] = torch.randn(2, 1, 3, 3)
    state['module.conv.bias'] = torch.randn(2)
    state['module.bn.num_batches_tracked'] = torch.tensor(3)
    return {'meta': {'epoch': 3, 'CLASSES': ('cat', 'dog')}, 'state_dict': state}


def custom_object():
    return {
        'meta': {'foo': Foo(), 'exploit': Exploit(), 'seed': 42},
        'state_dict': {'w': torch.ones(2)},
    }


def model_key():
    """detectron2/DETR style: weights under "model"; a Parameter pickles via _rebuild_parameter."""
    return {'model': {'backbone.w': nn.Parameter(torch.tensor([1.5, -2.0]))}, 'iteration': 5}


def flat_with_extras():
    """A bare dict mixing tensors and other values, with a DataParallel "module." prefix."""
    return {'module.w': torch.tensor([[1.0, 2.0]]), 'note': 'hello', 'steps': [1, 2]}


def foo_in_state_dict():
    return {'state_dict': {'w': torch.ones(1), 'weird': Foo()}}


def complex_tensor():
    return {'z': torch.tensor([1 + 2j], dtype=torch.complex64)}


def tensor_record(t):
    t = t.contiguous()
    record = {'dtype': str(t.dtype).replace('torch.', ''), 'shape': list(t.shape)}
    if t.dtype in (torch.float16, torch.bfloat16):
        record['bits'] = [b & 0xFFFF for b in t.view(torch.int16).flatten().tolist()]
        record['values'] = t.float().flatten().tolist()
    elif t.dtype == torch.bool:
        record['values'] = [int(v) for v in t.flatten().tolist()]
    else:
        record['values'] = t.flatten().tolist()
    return record


def float_repr(value):
    # JSON has no infinities; the test maps these strings back.
    if value == float('inf'):
        return 'inf'
    if value == float('-inf'):
        return '-inf'
    return value


def save(name, obj, **kwargs):
    torch.save(obj, os.path.join(HERE, name), **kwargs)


def main():
    sd = sequential_state_dict()
    save('sequential.pth', sd)
    save('mmdet-style.pth', mmdet_style())
    save('custom-object.pth', custom_object())
    save('model-key.pth', model_key())
    save('flat-with-extras.pth', flat_with_extras())
    save('foo-in-state-dict.pth', foo_in_state_dict())
    save('complex.pth', complex_tensor())
    save('legacy.pth', {'w': torch.ones(2)}, _use_new_zipfile_serialization=False)

    expected = {
        'sequential.pth': {key: tensor_record(t) for key, t in sd.items()},
        'mmdet-style.pth': {key: tensor_record(t) for key, t in mmdet_style()['state_dict'].items()},
    }
    for records in expected.values():
        for record in records.values():
            record['values'] = [float_repr(v) for v in record['values']]
    with open(os.path.join(HERE, 'expected.json'), 'w') as f:
        json.dump({'torch_version': torch.__version__, 'files': expected}, f, indent=1)
        f.write('\n')

    # Sanity: the saved views really share storage / are non-contiguous, or the test proves nothing.
    loaded = torch.load(os.path.join(HERE, 'sequential.pth'))
    assert loaded['extra.view_offset'].storage_offset() == 8
    assert loaded['extra.view_offset'].storage().data_ptr() == loaded['extra.base'].storage().data_ptr()
    assert not loaded['extra.transposed'].is_contiguous()
    assert loaded['extra.expanded'].stride() == (0, 1)


if __name__ == '__main__':
    main()
