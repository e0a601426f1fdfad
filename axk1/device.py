"""Which device a run or a command uses: the one place "auto" is decided (CUDA when torch sees a GPU, else the CPU)
and a wrong name is turned into an error that says what to give instead."""

from __future__ import annotations

import torch


def resolve_device(name: str, what: str = "[run] device") -> str:
    """A device name → the device to use: "auto" is CUDA when torch sees a GPU, else the CPU. A recipe's `[run]
    device` is resolved here when it is parsed, so every trainer (and `axk1 sft`/`rl`) reads a concrete device (under
    torchrun each rank then takes cuda:LOCAL_RANK: axk1.parallel.distributed.init_distributed); so are the `--device`
    flags of generate, serve, eval and posttrain heldout. `what` names the setting in errors."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device_type(name, what) == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{what} {name!r} but this torch sees no GPU (torch.cuda.is_available() is False): use "
                         "\"auto\" or \"cpu\"")
    return name


def device_type(name: str, what: str = "[run] device") -> str:
    """"cpu" or "cuda" for a device name axk1 runs on; torch knows more ("meta", "mps", ...), on which a run would
    fail deep in the model with a traceback, so those are a ValueError naming `what`."""
    try:
        kind = torch.device(name).type
    except RuntimeError as e:
        raise ValueError(f"{what} {name!r} is not a device: use \"auto\", \"cpu\" or \"cuda\"") from e
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"{what} {name!r}: axk1 runs on \"cpu\" or \"cuda\" (\"auto\": CUDA when torch sees a GPU)")
    return kind
