"""Training checkpoints with torch.distributed.checkpoint: `step-000123/` folders, atomic, keep-last-k.

A checkpoint is written (synchronously, or by a background thread with `async_save`) into `.step-000123.tmp/` and renamed to `step-000123/` only when every rank has finished,
so a run killed mid-save leaves a temp folder that `latest_step` never returns. Each folder holds the DCP files
(model incl. the fp32 balancing bias, optimizer, RNG state as tensors) and `train_state.json` (step, schedule,
sampler, counters). No pickles: scalars go through JSON, tensors through DCP. Every tensor is stored whole-shaped
(routed experts too, whatever the expert-parallel degree), so a run resumes at another world size, FSDP layout or
ep degree, and `axk1 export` reads any checkpoint in one process.
"""

from __future__ import annotations

import json
import os
import re
import uuid
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_state_dict, set_state_dict
from torch.distributed.tensor import DTensor, Replicate, Shard

from axk1.checkpoint import checksums
from axk1.checkpoint.dcp_safe import SafeReader, corrupt, read_failure, read_metadata
from axk1.checkpoint.prune import prune_in_background
from axk1.checkpoint.run_lock import LOCK_FILE
from axk1.checkpoint.save_failure import state_bytes, write_guard
from axk1.config import STEP_PREFIX, TRAIN_STATE
from axk1.json_text import read_json_file
from axk1.output_folder import discard, writable_folder
from axk1.process_rank import process_rank
from axk1.settings_snapshot import json_safe
from axk1.parallel.distributed import checkpoint_group
from axk1.parallel.expert_parallel import ExpertParallelExperts

# One process saving or loading without a process group is what this module means to do (a laptop run, export);
# DCP warns about it on every save and load, which buried the runs' own output.
warnings.filterwarnings("ignore", message="torch.distributed is disabled, unavailable or uninitialized",
                        category=UserWarning)

_STEP = re.compile(rf"^{re.escape(STEP_PREFIX)}(\d{{6,}})$")
# train_state.json's record of whether an export writes the routers' balancing bias as trained (post-training, which
# routes with the bias its base model came with) or as zeros (pretraining, as the release does): checkpoint/export.py
KEEP_ROUTER_BIAS = "keep_router_bias"


def step_dir(root: str | Path, step: int) -> Path:
    return Path(root) / f"{STEP_PREFIX}{step:06d}"


def list_steps(root: str | Path) -> list[int]:
    """Completed checkpoints under root, oldest first (temp folders of interrupted saves are not listed)."""
    root = Path(root)
    if not root.is_dir():
        return []
    steps = [int(m.group(1)) for p in root.iterdir() if p.is_dir() and (m := _STEP.match(p.name))
             and (p / TRAIN_STATE).exists()]
    return sorted(steps)


def incomplete_steps(root: str | Path) -> list[Path]:
    """Step folders under root without their train_state.json, which `list_steps` passes over: a save writes the
    file before the rename that names the folder, so such a folder was copied in part or lost the file."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and _STEP.match(p.name) and not (p / TRAIN_STATE).exists())


def latest_step(root: str | Path) -> int | None:
    steps = list_steps(root)
    return steps[-1] if steps else None


def agreed_steps(root: str | Path) -> list[int]:
    """`list_steps` as rank 0 sees it, on every rank of a launch (collective: every rank calls it). Ranks that read a
    shared file system through caches of their own (NFS right after a requeue) can list different newest steps;
    each would load its own, and the run would go on with mixed weights."""
    steps = list_steps(root)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        box = [steps]
        dist.broadcast_object_list(box, src=0, group=_group())
        steps = box[0]
    return steps


def resume_on_restart(resume: bool | str, checkpoints: str | Path) -> bool:
    """`--resume`; `--resume auto` when the run has a checkpoint (a scheduler's requeued job, `sbatch --requeue`, is
    a fresh launch of the same command line: without --resume it refused the folder it had filled, "already holds
    checkpoints", and with it the first launch refused a fresh one); or: this is an attempt torchrun started again
    after a failure (`--max-restarts`), and the run has a checkpoint, for the same reason."""
    if resume == "auto":
        step = latest_step(checkpoints)
        if process_rank() == 0:
            print(f"--resume auto: going on from step {step}, the newest checkpoint in {checkpoints}" if step is not
                  None else f"--resume auto: no checkpoint in {checkpoints} yet: the run starts", flush=True)
        return step is not None
    if resume or int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) == 0:
        return bool(resume)
    if latest_step(checkpoints) is None:
        return False
    if process_rank() == 0:
        print(f"torchrun restart {os.environ['TORCHELASTIC_RESTART_COUNT']}: going on from the newest checkpoint in "
              f"{checkpoints}", flush=True)
    return True


def claim_checkpoint_dir(root: str | Path, resume: bool, start_over: bool = False) -> None:
    """Before a run writes checkpoints under `root`: a new run (not `resume`) where an earlier run left checkpoints
    is refused, since its steps would interleave with the old ones and `--resume` or an export (newest step) would
    then pick the wrong run; `start_over` (the demos, which own their folders) deletes them instead."""
    if resume and not Path(root).exists():  # nothing to resume: the run refuses it next, and a folder made here
        return                                # would stay behind, empty
    # refused at the start, not at the first save an interval of training later; made now (on every rank: a
    # folder is made once, each probe file is its own), as the first save would
    writable_folder(Path(root), "the checkpoints folder ([checkpointing] dir)")
    earlier = latest_step(root)
    if earlier is None or resume:
        return
    if start_over:  # all but the lock file: deleting the one this run holds would let a second run take the folder
        for entry in Path(root).iterdir():
            if entry.name != LOCK_FILE:
                discard(entry)
        return
    raise ValueError(f"{root} already holds checkpoints of an earlier run (up to step {earlier}): pass --resume to "
                     "continue it, or start over in another folder (--out DIR) or after deleting that one")


def _expert_mesh(model: nn.Module):
    """The launch's ranks as (dp_replicate, ep, experts_fsdp) when the model runs under expert parallelism, else
    None (axk1.parallel.mesh.expert_checkpoint_mesh)."""
    m = next((m for m in model.modules() if isinstance(m, ExpertParallelExperts)), None)
    if m is not None and m.checkpoint_mesh is None:
        raise ValueError("expert-parallel experts without a checkpoint mesh: apply expert parallelism through "
                         "axk1.parallel.distributed.parallelize (or pass apply_expert_parallel a checkpoint_mesh)")
    return m.checkpoint_mesh if m is not None else None


def _is_expert(key: str) -> bool:
    return ".experts." in key and key.endswith(("gate_up_proj", "down_proj"))


def _experts_as_global(model_sd: dict, optim_sd: dict, mesh) -> tuple[dict, dict]:
    """Under expert parallelism each ep rank holds experts [r·El, (r+1)·El) under the same names, further sharded by
    FSDP2 over the experts_fsdp ranks. For DCP each such tensor (weights and their Adam moments) becomes what it
    is: one [E, ...] tensor over the launch's (dp_replicate, ep, experts_fsdp) mesh, Shard(0) on ep and FSDP2's own
    placement on experts_fsdp, made from the rank's shard as it is (no gather, no copy: a gather of each ep rank's
    slice is 774 GB a GPU for A.X K1's experts and their moments). So a checkpoint stores whole experts at global
    offsets, any ep degree, or one process, reads back the rows it owns, and replicas write their shards once
    (DCP dedups)."""
    if mesh is None:
        return model_sd, optim_sd

    def glob(t: torch.Tensor) -> torch.Tensor:
        local, inner = (t.to_local(), t.placements[-1]) if isinstance(t, DTensor) else (t, Shard(0))
        shape = (t.shape[0] * mesh.mesh.shape[1], *t.shape[1:])  # the ep rank's slice [El, ...] -> [E, ...]
        return DTensor.from_local(local, mesh, [Replicate(), Shard(0), inner], run_check=False, shape=shape,
                                  stride=torch.empty(shape, device="meta").stride())

    model_sd = {k: glob(v) if _is_expert(k) else v for k, v in model_sd.items()}
    state = {k: ({n: glob(t) if isinstance(t, torch.Tensor) and t.dim() > 0 else t for n, t in st.items()}
                 if _is_expert(k) else st) for k, st in optim_sd["state"].items()}
    return model_sd, {"state": state, "param_groups": optim_sd["param_groups"]}


def _experts_as_local(loaded: dict, like: dict) -> dict:
    """The inverse for one flat dict: each global expert tensor back to the rank's shard as the live tensor
    `like[k]` holds it (the same local tensor: no communication)."""
    out = {}
    for k, v in loaded.items():
        if isinstance(v, dict):
            out[k] = _experts_as_local(v, like[k])
        elif isinstance(v, DTensor) and isinstance(like.get(k), DTensor) and like[k].device_mesh is not v.device_mesh:
            live = like[k]
            out[k] = DTensor.from_local(v.to_local(), live.device_mesh, live.placements, run_check=False,
                                        shape=live.shape, stride=live.stride())
        elif isinstance(v, DTensor) and not isinstance(like.get(k), DTensor):
            out[k] = v.to_local()
        else:
            out[k] = v
    return out


def _rank() -> int:
    """The writer is rank 0 of the process group; without a group this process saves alone and is the writer,
    whatever RANK says (not process_rank, which would leave a lone process with RANK=3 set writing nothing)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _group():
    """Every save and load runs its collectives on the checkpoint group (one rule, whether or not a background save
    is in flight); None (DCP's default) in one process."""
    return checkpoint_group() if dist.is_available() and dist.is_initialized() else None


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


class PendingCheckpoint:
    """A checkpoint whose tensors are being written in the background (DCP's async save): the model and optimizer
    were copied at save time, so training goes on; `wait()` finishes the write and only then renames the temp
    folder, so the atomicity is the same as a synchronous save. Every rank must call `wait()` at the same point."""

    def __init__(self, future, finish, guard) -> None:
        self._future, self._finish, self._guard, self._path = future, finish, guard, None

    def done(self) -> bool:
        return self._path is not None

    def written(self) -> bool:
        """Whether this rank's background write has ended (then `wait()` does not block on it)."""
        result = getattr(self._future, "upload_completion", self._future)
        return result.done()

    def wait(self) -> Path:
        if self._path is None:
            with self._guard():  # a failed background write: its temp folder removed, one clear error
                result = self._future
                # torch returns a Future, or a response holding one when staging is asynchronous too
                result = getattr(result, "upload_completion", result)
                result.result()
                self._path = self._finish()
        return self._path


def save_checkpoint(root: str | Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                    train_state: dict[str, Any], keep_latest: int = 3,
                    async_save: bool = False) -> Path | PendingCheckpoint:
    """Writes step-<step>/ atomically and prunes all but the newest `keep_latest` checkpoints; without an
    `optimizer` the weights alone (what `axk1 export` reads; RL's pushes to a rollout server). With
    `async_save` the tensors are staged (copied) now and written by a background thread: the return value is a
    PendingCheckpoint to `wait()` on before the next save and before the process exits. A write that fails (a full
    disk, a lost mount) leaves no temp folder and raises CheckpointWriteError (axk1.checkpoint.save_failure)."""
    root = Path(root)
    final, tmp = step_dir(root, step), root / f".step-{step:06d}.tmp"
    if _rank() == 0:
        if tmp.exists():  # a killed save's, up to a whole checkpoint: renamed now, deleted with the leftovers after
            _set_aside(tmp)  # the save's last barrier (a delete here could outlast the others' wait in the next)
        tmp.mkdir(parents=True)
    barrier()
    both = get_state_dict(model, optimizer) if optimizer is not None else (get_model_state_dict(model),
                                                                           {"state": {}, "param_groups": []})
    model_sd, optim_sd = _experts_as_global(*both, _expert_mesh(model))
    state = {"model": model_sd, "rng": {"cpu": torch.get_rng_state()}}
    if optimizer is not None:
        state["optim"] = optim_sd
    train_state = json_safe(train_state, strict=True)  # a snapshot: the caller's dicts keep changing
    need = state_bytes(state)  # the whole checkpoint's, on every rank (no collective)

    def guard():
        return write_guard(root, tmp, step, need, _rank() == 0, lambda: latest_step(root), keep_latest)

    def finish() -> Path:
        barrier()
        sums = checksums.record(tmp, _group())  # each rank's files (axk1/checkpoint/checksums.py)
        doomed: list[Path] = []
        if _rank() == 0:
            train_state[checksums.CHECKSUMS] = sums
            _write_synced(tmp / TRAIN_STATE, json.dumps(train_state, indent=1, sort_keys=True))
            if final.exists():  # re-saving the same step (e.g. the stop checkpoint): the old one is set aside first
                doomed.append(_set_aside(final))
            os.replace(tmp, final)
            _sync_folder(root)
            doomed += [_set_aside(step_dir(root, old)) for old in list_steps(root)[:-keep_latest]]
            doomed += _leftovers(root)
        barrier()
        # deleted after the barrier, in the background: a checkpoint of A.X K1 is 6.3 TB, whose delete on a parallel
        # file system can outlast the other ranks' wait in the barrier (NCCL's: 10 minutes), and training need not
        # wait for it either. Each was renamed out of the way first, so nothing will write there again.
        if doomed:
            prune_in_background(doomed)
        return final

    if async_save:
        # the background write's collectives run on the CPU: async_save asserts a CPU backend, which a GPU run's
        # group has beside NCCL ("cpu:gloo,cuda:nccl", axk1.parallel.distributed.init_distributed)
        # ... on their own group (checkpoint_group): the main thread's next steps use the default one meanwhile
        group = _group()
        with guard():
            future = dcp.async_save(state, checkpoint_id=str(tmp), no_dist=group is None, process_group=group)
        return PendingCheckpoint(future, finish, guard)
    with guard():
        dcp.save(state, checkpoint_id=str(tmp), process_group=_group())
        return finish()


def _write_synced(path: Path, text: str) -> None:
    """A file written and flushed to the disk: the rename that follows must not reach the disk before it does (a
    node crash would otherwise leave a step folder whose train_state.json is empty)."""
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _sync_folder(folder: Path) -> None:
    """The folder's entries (a rename) flushed to the disk, where the file system can sync a folder."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # EINVAL on some network and FUSE file systems: the rename stands, only unsynced
        pass
    finally:
        os.close(fd)


def _set_aside(folder: Path) -> Path:
    """Renames a folder out of the listing (atomic) under a name of its own, to be deleted (`_delete`): a kill in
    the middle of a delete never leaves a step-N folder that still has its train_state.json, looks complete, and
    lacks tensor files; and no later save can pick the name."""
    aside = folder.with_name(f".step-aside-{uuid.uuid4().hex[:12]}.old")  # a leftover, if a kill stops the delete
    os.replace(folder, aside)
    return aside


def _leftovers(root: Path) -> list[Path]:
    """Temp folders of saves and deletes that a kill interrupted (never read, but each as large as a checkpoint),
    set aside for deleting. Called once the save in flight has been renamed, so none of them is still being
    written."""
    return [_set_aside(p) for p in root.glob(".step-*") if p.is_dir() and p.name.endswith((".tmp", ".old"))]


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restores model, optimizer and RNG in place from a step folder (collective under torchrun: every rank loads
    its shards); returns its train state. A model alone, in one process: `load_tensors`."""
    path = Path(path)
    if not (path / TRAIN_STATE).exists():
        raise FileNotFoundError(f"{path} is not a complete checkpoint (no {TRAIN_STATE}); pick a step-NNNNNN folder "
                                "listed by the run")
    saved = read_json_file(path / TRAIN_STATE, "the checkpoint is damaged: use another step folder",
                           what="train state", need_object=True)
    live_model, live_optim = get_state_dict(model, optimizer)
    model_sd, optim_sd = _experts_as_global(live_model, live_optim, _expert_mesh(model))
    state = {"model": model_sd, "optim": optim_sd, "rng": {"cpu": torch.get_rng_state()}}
    check_model_keys(path, model_sd)  # (a file missing or truncated is named as such here)
    checksums.verify(path, saved.get(checksums.CHECKSUMS), _group())  # bytes changed in place, before any is read
    # A fresh optimizer's state dict lists every parameter; the saved one only those that ever had a gradient
    # (layer 0's unused post-MoE norm never does), so those keys may be absent: they keep their fresh state.
    _load(path, state, planner=DefaultLoadPlanner(allow_partial_load=True), process_group=_group())
    set_state_dict(model, optimizer, model_state_dict=_experts_as_local(state["model"], live_model),
                   optim_state_dict={"state": _experts_as_local(state["optim"]["state"], live_optim["state"]),
                                     "param_groups": state["optim"]["param_groups"]})
    torch.set_rng_state(state["rng"]["cpu"])
    return saved


def _load(path: Path, state: dict, reader: SafeReader | None = None, **kwargs) -> None:
    """dcp.load through SafeReader (`reader`, or a new one); a read that fails (bytes that do not decode) becomes
    one clear error."""
    try:
        dcp.load(state, storage_reader=reader or SafeReader(str(path)), **kwargs)
    except CheckpointException as e:  # a BaseException: the CLI's ValueError catch would not see it
        raise corrupt(path, f"a tensor file does not decode: {read_failure(e)}") from None


def check_model_keys(path: Path, keys, reader: SafeReader | None = None) -> None:
    """Refuses a checkpoint that lacks any of the model state-dict `keys`."""
    # never torch's plain pickle.load (axk1.checkpoint.dcp_safe)
    stored = (reader.read_metadata() if reader is not None else read_metadata(path)).state_dict_metadata
    missing = [k for k in keys if f"model.{k}" not in stored]
    if missing:
        raise ValueError(f"{path} lacks model tensors {missing[:5]}: it was written for a different model")


def load_tensors(path: str | Path, tensors: dict[str, torch.Tensor], reader: SafeReader | None = None) -> None:
    """Fills `tensors` (model state-dict key -> a whole tensor of its shape) from the step folder `path`, in this
    one process (no collectives, even under torchrun): any subset of the model, so that `axk1 export` reads one
    shard's tensors at a time, whatever the layout the run saved with. `reader`: one kept across such loads (its
    metadata is parsed once)."""
    path = Path(path)
    check_model_keys(path, tensors, reader)
    _load(path, {"model": tensors}, reader, no_dist=True)


def resume_latest(root: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, dict[str, Any]]:
    """`--resume`: restores the newest complete step under root, as rank 0 lists them; (step, its train state)."""
    steps = agreed_steps(root)
    if not steps:
        raise FileNotFoundError(f"--resume: no complete checkpoint under {root}; start without --resume")
    try:
        return steps[-1], load_checkpoint(step_dir(root, steps[-1]), model, optimizer)
    except ValueError as e:  # damaged files: --resume has no step to choose, so say how to go back one
        before = (f"resume from step {steps[-2]}, the one before it" if len(steps) > 1
                  else "start the run again (it has no other checkpoint)")
        raise ValueError(f"{e}. --resume takes the newest step folder: to {before}, move {step_dir(root, steps[-1])} "
                         "out of the checkpoints folder") from None
