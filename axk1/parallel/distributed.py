"""Launch-time setup under torchrun (or Slurm via torchrun): process group, mesh, expert parallelism, FSDP2."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import DeviceMesh

from axk1.parallel.context_parallel import apply_context_parallel
from axk1.parallel.expert_parallel import apply_expert_parallel
from axk1.parallel.fsdp import apply_fsdp
from axk1.parallel.mesh import MeshDims, build_mesh, expert_checkpoint_mesh
from axk1.signal_handlers import swapped_handlers


@dataclass
class ParallelContext:
    mesh: DeviceMesh
    dp_rank: int
    dp_size: int
    cp_rank: int = 0
    cp_size: int = 1

    @property
    def is_main(self) -> bool:
        return dist.get_rank() == 0


def launched_with_torchrun() -> bool:
    """True under torchrun, one rank included (torchrun sets TORCHELASTIC_RUN_ID): a one-GPU torchrun run trains
    as a cluster run does (process group, FSDP2 mixed precision, DCP), so it is the way to check that path on
    one machine."""
    return "TORCHELASTIC_RUN_ID" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


DEFAULT_COLLECTIVE_TIMEOUT_S = 600.0  # [run] collective_timeout_s's default (axk1/train/recipe_sections.py)
_timeout = timedelta(seconds=DEFAULT_COLLECTIVE_TIMEOUT_S)


def init_distributed(device: torch.device, timeout_s: float = DEFAULT_COLLECTIVE_TIMEOUT_S) -> torch.device:
    """The default process group under torchrun; returns this rank's device (cuda:LOCAL_RANK on a GPU run).
    `timeout_s`: how long a rank waits in a collective for the others, in this group and every group made after it
    (the mesh's, the checkpoints'): then it raises (gloo) or is ended by NCCL's watchdog, instead of waiting for
    torch's default (gloo: 30 minutes) for a rank that hangs.

    On CUDA the group has two backends: NCCL for CUDA tensors, and gloo beside it for CPU tensors (the label
    counts of `host_all_sum`, object broadcasts, DCP's async save, which asserts a CPU backend). Binding the rank's
    GPU (`device_id`) starts NCCL now, and lets DeviceMesh split its sub-groups (which keep both backends) from
    this one. On CPU it is plain gloo."""
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    global _timeout, _checkpoint_group
    _timeout = timedelta(seconds=timeout_s)
    if not dist.is_initialized() or _checkpoint_group is None:
        with _signals_end_the_wait():
            try:
                if dist.is_initialized():
                    pass  # made by the caller (a test's ranks): only the checkpoint group is missing
                elif device.type == "cuda":
                    dist.init_process_group("cpu:gloo,cuda:nccl", device_id=device, timeout=_timeout,
                                            **_attempt_store())
                else:
                    dist.init_process_group("gloo", timeout=_timeout, **_attempt_store())
                # now, while every rank is here and a signal or the timeout ends the wait: made lazily at the first
                # save (or --resume), a rank killed meanwhile left the others blocked in the store, deaf to
                # torchrun's SIGTERM, until SIGKILLed or a raw "DistStoreError: wait timeout" traceback
                _checkpoint_group = dist.new_group(backend="gloo", timeout=_timeout)
            except dist.DistStoreError as e:
                # ("Timed out after 600 seconds waiting for clients", "wait timeout after 600000ms, keys: ...")
                if not any(words in str(e).lower() for words in ("timed out", "timeout")):
                    raise
                raise RanksMissing(_missing_ranks(timeout_s)) from e
    return device


def timeout_problem(seconds: float, name: str) -> str | None:
    """What is wrong with a collective timeout of `seconds` given as `name`, or None: 1 s to a day (NaN fails too;
    a collective slower than a day is a hang)."""
    if not 1 <= seconds <= 86400:
        return f"{name} is {seconds:g}: give 1 to 86400 seconds"
    return None


def collective_timeout_s() -> float:
    """The collective timeout in force: what init_distributed was given ([run] collective_timeout_s; axk1 export's
    --collective-timeout-s), or the default before it ran."""
    return _timeout.total_seconds()


class RanksMissing(TimeoutError):
    """The launch's ranks did not all join within the collective timeout. A TimeoutError (an OSError): the command
    line prints it as an error (exit 2), where it printed the store's traceback ("DistStoreError: wait timeout after
    600000ms, keys: /default_pg/0//cpu//0/1")."""


def _missing_ranks(timeout_s: float) -> str:
    e = os.environ
    return (f"rank {e.get('RANK', '?')}: the launch's {e.get('WORLD_SIZE', '?')} ranks did not all join at "
            f"{e.get('MASTER_ADDR', '?')}:{e.get('MASTER_PORT', '?')} within {timeout_s:g} s ([run] "
            "collective_timeout_s): a rank did not start, or stopped before joining; its node's log says why")


def _groups() -> set[dist.ProcessGroup]:
    """The process groups this rank is in (torch has no public list of them)."""
    from torch.distributed import distributed_c10d as c10d

    return set(c10d._world.pg_map)


def _hold_to_the_timeout(groups: set[dist.ProcessGroup]) -> None:
    """The launch's timeout on `groups`: DeviceMesh makes its groups with torch's default timeout, not the default
    group's (torch 2.13), so FSDP2's and the experts' collectives still waited 30 minutes for a hung rank. (Only the
    mesh's: a group made with a timeout of its own, RL's rollout group, keeps it.)"""
    from torch.distributed import distributed_c10d as c10d

    for group in groups:
        c10d._set_pg_timeout(_timeout, group)


WAIT_SAID_AFTER_S = 5.0  # a launch whose ranks all start meets within this; a longer wait is said on stderr


@contextmanager
def _signals_end_the_wait():
    """While a rank waits for the launch's other ranks to join (for as long as the store's timeout: 30 minutes), it
    is blocked in C++, where axk1's Python handlers cannot run: SIGTERM and Ctrl-C did nothing, and the rank said
    nothing. So SIGTERM and SIGINT end the process at once here, as the kernel ends it (a shell reports 143 and 130,
    the codes axk1/cli_exit.py gives), and a wait longer than a few seconds says what it waits for. The handlers
    before are put back once the group is up."""
    line = (f"rank {os.environ.get('RANK', '?')}: waiting for the launch's {os.environ.get('WORLD_SIZE', '?')} ranks "
            f"to join at {os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')} "
            "(SIGTERM or Ctrl-C stops it)")
    timer = threading.Timer(WAIT_SAID_AFTER_S, lambda: print(line, file=sys.stderr, flush=True))
    timer.daemon = True
    with swapped_handlers((signal.SIGTERM, signal.SIGINT), signal.SIG_DFL):
        timer.start()
        try:
            yield
        finally:
            timer.cancel()


def _attempt_store() -> dict:
    """For an attempt torchrun started again after a failure (--max-restarts): the launch's store under a prefix of
    its own. The groups' keys (each rank's gloo address) are not per attempt, so a rank of the new attempt could
    read the address of a rank of the failed one, now dead, and fail to connect ("connectFullMesh ... Connection
    refused"), whenever it looked before that rank wrote its new one. The first attempt: torch's own env:// setup."""
    attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)
    if attempt == 0:
        return {}
    store, rank, world_size = next(dist.rendezvous("env://"))
    return {"store": dist.PrefixStore(f"axk1-attempt-{attempt}", store), "rank": rank, "world_size": world_size}


def host_all_sum(values: list[float]) -> list[float]:
    """Sums numbers the host already has (counted from the CPU batch) over all ranks, as a CPU tensor: through
    the group's gloo backend, so nothing waits for the device's queue."""
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


_checkpoint_group: dist.ProcessGroup | None = None


def checkpoint_group() -> dist.ProcessGroup:
    """A gloo group of all ranks for checkpoint collectives only. An async save's background thread runs DCP's
    plan gathers while the main thread goes on with the next steps' FSDP2 / host collectives: on one shared group
    the two streams interleave their messages (gloo "Received data size doesn't match expected size", or a hang).
    Made by init_distributed, right after the default group; made here (collectively: every rank saves or resumes
    at the same step) only where init_distributed did not run. gloo, since DCP's async save wants a CPU backend,
    also beside NCCL on a GPU run."""
    global _checkpoint_group
    if _checkpoint_group is None:
        _checkpoint_group = dist.new_group(backend="gloo", timeout=_timeout)
    return _checkpoint_group


@contextmanager
def process_groups():
    """The body of a launch: its process groups are destroyed after it when it succeeds (`shutdown_distributed`),
    and left alone when it raises. Destroying a group while other ranks are still inside its collectives can wait
    for them for ever (NCCL's abort has been a collective call in some versions; torchtitan destroys on success only
    for this reason); a failed rank should leave at once, so that torchrun sees it fail and stops the others
    (axk1/cli_exit.py's `leave`)."""
    yield
    shutdown_distributed()


def shutdown_distributed() -> None:
    """Destroy the process groups while the interpreter is still whole. Call it after dropping the objects that hold
    the groups (model, mesh, trainer): a gloo worker thread can hold the last reference to a finished collective's
    tensors, and if it lets go during interpreter shutdown the process aborts ("terminate called without an active
    exception") after an otherwise good run. Collecting first lets each group's destructor join its threads now."""
    global _checkpoint_group
    _checkpoint_group = None  # destroyed below with the rest; a later init_process_group gets a new one
    if dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()
        gc.collect()


def parallelize(objective: nn.Module, dims: MeshDims, device: torch.device,
                param_dtype: torch.dtype | None = None) -> ParallelContext:
    """EP (if dims.ep > 1), context parallelism (if dims.cp > 1), then FSDP2 on `objective` (an
    axk1.train.loss.Objective), in place. The model may
    still be on the meta device (sharding a meta model allocates nothing; axk1.parallel.init materialises it).
    device "meta" plans only (a fake process group): the mesh then stands on CPU."""
    lm = objective.lm
    before = _groups()
    mesh = build_mesh(dims, lm.config.n_routed_experts, "cpu" if device.type == "meta" else device.type)
    if dims.ep > 1:
        apply_expert_parallel(lm, mesh["ep"], expert_checkpoint_mesh(mesh))
    if dims.cp > 1:
        apply_context_parallel(lm, mesh["cp"].get_group())
    apply_fsdp(objective, mesh, param_dtype=param_dtype)
    if device.type != "meta":  # every group of the mesh is made by now (the experts' checkpoint mesh too)
        _hold_to_the_timeout(_groups() - before)
    dp, cp = mesh["dp"], mesh["cp"]
    return ParallelContext(mesh, dp.get_local_rank(), dp.size(), cp.get_local_rank(), cp.size())
