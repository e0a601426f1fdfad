"""Which torch.distributed collectives a run calls, and whether any is given a tensor a factory made on the host (no
device named): tests/test_train_device.py, and the RL runner of tests/rl_helpers.py in a child process."""

import sys
import weakref
from pathlib import Path

import torch
import torch.distributed as dist
from torch.overrides import TorchFunctionMode
from torch.utils._device import _device_constructors
from torch.utils._pytree import tree_leaves

COLLECTIVES = ("all_reduce", "all_gather", "all_gather_into_tensor", "all_gather_single", "reduce_scatter",
               "reduce_scatter_tensor", "reduce_scatter_single", "broadcast", "all_to_all_single")


class HostTensors(TorchFunctionMode):
    """Remembers the tensors made by a factory that names no device (they land on torch's default device, the CPU,
    whatever the run's device is)."""

    def __init__(self) -> None:
        super().__init__()
        self.made: dict[int, weakref.ref] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in _device_constructors() and kwargs.get("device") is None and isinstance(out, torch.Tensor):
            self.made[id(out)] = weakref.ref(out)
        return out

    def holds(self, t: torch.Tensor) -> bool:
        ref = self.made.get(id(t))
        return ref is not None and ref() is t


def record_collectives(host: HostTensors, calls: list[dict]) -> None:
    """Wraps torch.distributed's collectives: each call is recorded with its caller and whether it got a host
    tensor (any of its tensor arguments, lists included)."""
    for name in COLLECTIVES:
        real = getattr(dist, name, None)
        if real is None:
            continue

        def wrapper(*args, _real=real, _name=name, **kwargs):
            caller = sys._getframe(1).f_code
            tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
            calls.append({"op": _name, "caller": f"{Path(caller.co_filename).name}:{caller.co_name}",
                          "host": any(host.holds(t) for t in tensors)})
            return _real(*args, **kwargs)

        setattr(dist, name, wrapper)
