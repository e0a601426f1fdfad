"""Counting reads of device values in a piece of code on CPU: the ops that, on a GPU, make the host wait for every
queued kernel (`.item()`, `int(t)`, `nonzero`, a boolean index). A `.tolist()` does not dispatch and is not seen."""

import traceback

import torch
from torch.utils._python_dispatch import TorchDispatchMode

READS = {torch.ops.aten.nonzero.default, torch.ops.aten._local_scalar_dense.default,
         torch.ops.aten.is_nonzero.default, torch.ops.aten.item.default}


class DeviceReads(TorchDispatchMode):
    """`with DeviceReads() as reads:` ... then `reads.n`, and `reads.stacks`: for each read, "file:function" of the
    stack's axk1 frames and of any autograd backward, outermost first."""

    def __init__(self):
        super().__init__()
        self.n, self.stacks = 0, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in READS:
            self.n += 1
            self.stacks.append([f"{f.filename.rsplit('/', 1)[-1]}:{f.name}" for f in traceback.extract_stack()
                                if "/axk1/" in f.filename or f.name == "backward"])
        return func(*args, **(kwargs or {}))
