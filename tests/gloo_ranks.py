"""Shared by the multi-process tests: one process per rank, each in a gloo group on a free loopback port."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.warm_ranks import free_port, join_as_an_agent, start


def run_ranks(run: Callable[..., None], world: int, *args, timeout: float = 300) -> None:
    """Call `run(rank, *args)` in `world` processes (one thread each, forked from a warm server: tests/warm_ranks.py)
    that share one gloo process group; a rank that fails fails the test with the ranks' stderr. `run` must be a
    module-level function (the processes import it by name)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="axk1-gloo-") as tmp:
        errs = [Path(tmp) / f"rank{rank}.stderr" for rank in range(world)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        procs = [start(_rank_main, (rank, world, port, run, *args), env, stderr=errs[rank]) for rank in range(world)]
        in_time = join_as_an_agent(procs, timeout)
        text = "".join(e.read_text(errors="replace") for e in errs)
    assert in_time, f"{world} ranks of {run.__name__} ran past {timeout} s:\n{text[-3000:]}"
    assert not any(p.exitcode for p in procs), f"{run.__name__}: exit codes {[p.exitcode for p in procs]}\n{text[-4000:]}"


def _rank_main(rank: int, world: int, port: int, run: Callable[..., None], *args) -> None:
    import torch.distributed as dist

    from axk1.parallel.distributed import shutdown_distributed

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        run(rank, *args)
    finally:  # run's objects (model, mesh) are gone: the groups can be destroyed cleanly
        shutdown_distributed()
