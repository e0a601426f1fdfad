"""`process_rank`: the one answer to "is this the launch's first process?" (rank 0 prints, takes locks, writes)."""

from __future__ import annotations

import os
import sys


def process_rank() -> int:
    """This process's global rank: torch.distributed's once the process group is up, else torchrun's RANK
    environment variable (0 when not launched by torchrun, or when RANK is not a number).

    RANK is read first-hand because much asks before the process group exists: the CLI on a Ctrl-C while it starts,
    the run locks taken before a model is loaded, torchrun's restart notice. Under torchrun the two agree (the
    group's global rank is RANK). torch is never imported here: the CLI asks before torch is loaded (seconds), and
    a process that has not imported torch.distributed cannot have a process group up."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    try:
        return int(os.environ.get("RANK", "0") or 0)
    except ValueError:
        return 0
