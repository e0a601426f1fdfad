"""Shared by the multi-process tests: spawn one process per rank, each in a gloo group on a free loopback port."""

from __future__ import annotations

import faulthandler
import os
import socket
from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from axk1.parallel.distributed import shutdown_distributed


def run_ranks(run: Callable[..., None], world: int, *args) -> None:
    """Call `run(rank, *args)` in `world` spawned processes (one thread each) that share one gloo process group.
    `run` must be a module-level function (the processes import it by name)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_rank_main, args=(world, port, run, *args), nprocs=world, start_method="spawn", join=True)


def _rank_main(rank: int, world: int, port: int, run: Callable[..., None], *args) -> None:
    faulthandler.enable()  # a rank that crashes in native code (once seen: SIGSEGV, not reproduced) says where
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        run(rank, *args)
    finally:  # run's objects (model, mesh) are gone: the groups can be destroyed cleanly
        shutdown_distributed()
