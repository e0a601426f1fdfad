"""Shared by the multi-process tests: one process per rank, each in a gloo group whose store the test process
hosts (tests/warm_ranks.py::agent_store)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.warm_ranks import agent_store, join_as_an_agent, start


def run_ranks(run: Callable[..., None], world: int, *args, timeout: float = 300) -> None:
    """Call `run(rank, *args)` in `world` processes (one thread each, forked from a warm server: tests/warm_ranks.py)
    that share one gloo process group; a rank that fails fails the test with the ranks' stderr. `run` must be a
    module-level function (the processes import it by name)."""
    store, store_env = agent_store()
    with tempfile.TemporaryDirectory(prefix="axk1-gloo-") as tmp:
        errs = [Path(tmp) / f"rank{rank}.stderr" for rank in range(world)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", **store_env}
        procs = [start(_rank_main, (rank, world, run, *args), env, stderr=errs[rank]) for rank in range(world)]
        in_time = join_as_an_agent(procs, timeout)
        text = "".join(e.read_text(errors="replace") for e in errs)
    del store  # the ranks have ended
    assert in_time, f"{world} ranks of {run.__name__} ran past {timeout} s:\n{text[-3000:]}"
    assert not any(p.exitcode for p in procs), f"{run.__name__}: exit codes {[p.exitcode for p in procs]}\n{text[-4000:]}"


def _rank_main(rank: int, world: int, run: Callable[..., None], *args) -> None:
    import torch.distributed as dist

    from axk1.parallel.distributed import shutdown_distributed

    dist.init_process_group("gloo", rank=rank, world_size=world)  # env://: the store in MASTER_PORT (run_ranks')
    try:
        run(rank, *args)
    finally:  # run's objects (model, mesh) are gone: the groups can be destroyed cleanly
        shutdown_distributed()
