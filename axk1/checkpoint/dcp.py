"""Training checkpoints with torch.distributed.checkpoint: `step-000123/` folders, atomic, keep-last-k.

A checkpoint is written (synchronously, or by a background thread with `async_save`) into `.step-000123.tmp/` and renamed to `step-000123/` only when every rank has finished,
so a run killed mid-save leaves a temp folder that `latest_step` never returns. Each folder holds the DCP files
(model incl. the fp32 balancing bias, optimizer, RNG state as tensors) and `train_state.json` (step, schedule,
sampler, counters). No pickles: scalars go through JSON, tensors through DCP.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from axk1.parallel.expert_parallel import ExpertParallelExperts

_STEP = re.compile(r"^step-(\d{6,})$")
TRAIN_STATE = "train_state.json"


def step_dir(root: str | Path, step: int) -> Path:
    return Path(root) / f"step-{step:06d}"


def list_steps(root: str | Path) -> list[int]:
    """Completed checkpoints under root, oldest first (temp folders of interrupted saves are not listed)."""
    root = Path(root)
    if not root.is_dir():
        return []
    steps = [int(m.group(1)) for p in root.iterdir() if p.is_dir() and (m := _STEP.match(p.name))
             and (p / TRAIN_STATE).exists()]
    return sorted(steps)


def latest_step(root: str | Path) -> int | None:
    steps = list_steps(root)
    return steps[-1] if steps else None


def _expert_suffix(model: nn.Module) -> str:
    """Under expert parallelism each ep rank holds different experts under the same parameter names; DCP would
    treat them as one replicated tensor and keep one copy. Suffixing the names with the ep rank keeps them all
    (resuming then needs the same ep degree)."""
    m = next((m for m in model.modules() if isinstance(m, ExpertParallelExperts)), None)
    return f".ep{m.rank}of{m.ep}" if m is not None else ""


def _is_expert(key: str) -> bool:
    return ".experts." in key and key.endswith(("gate_up_proj", "down_proj"))


def _rename(model_sd: dict, optim_sd: dict, suffix: str, undo: bool = False) -> tuple[dict, dict]:
    if not suffix:
        return model_sd, optim_sd

    def name(k: str) -> str:
        if undo:
            return k.removesuffix(suffix) if k.endswith(suffix) else k
        return k + suffix if _is_expert(k) else k

    model_sd = {name(k): v for k, v in model_sd.items()}
    optim_sd = {"state": {name(k): v for k, v in optim_sd["state"].items()},
                "param_groups": [{**g, "params": [name(k) for k in g["params"]]} for g in optim_sd["param_groups"]]}
    return model_sd, optim_sd


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


class PendingCheckpoint:
    """A checkpoint whose tensors are being written in the background (DCP's async save): the model and optimizer
    were copied at save time, so training goes on; `wait()` finishes the write and only then renames the temp
    folder, so the atomicity is the same as a synchronous save. Every rank must call `wait()` at the same point."""

    def __init__(self, future, finish) -> None:
        self._future, self._finish, self._path = future, finish, None

    def done(self) -> bool:
        return self._path is not None

    def wait(self) -> Path:
        if self._path is None:
            result = self._future
            # torch returns a Future, or a response holding one when staging is asynchronous too
            result = getattr(result, "upload_completion", result)
            result.result()
            self._path = self._finish()
        return self._path


def save_checkpoint(root: str | Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                    train_state: dict[str, Any], keep_latest: int = 3,
                    async_save: bool = False) -> Path | PendingCheckpoint:
    """Writes step-<step>/ atomically and prunes all but the newest `keep_latest` checkpoints. With
    `async_save` the tensors are staged (copied) now and written by a background thread: the return value is a
    PendingCheckpoint to `wait()` on before the next save and before the process exits."""
    root = Path(root)
    final, tmp = step_dir(root, step), root / f".step-{step:06d}.tmp"
    if _rank() == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    _barrier()
    model_sd, optim_sd = _rename(*get_state_dict(model, optimizer), _expert_suffix(model))
    state = {"model": model_sd, "optim": optim_sd, "rng": {"cpu": torch.get_rng_state()}}
    train_state = json.loads(json.dumps(train_state))  # a snapshot: the caller's dicts keep changing

    def finish() -> Path:
        _barrier()
        if _rank() == 0:
            (tmp / TRAIN_STATE).write_text(json.dumps(train_state, indent=1, sort_keys=True))
            if final.exists():  # re-saving the same step (e.g. the stop checkpoint): replace it
                shutil.rmtree(final)
            os.replace(tmp, final)
            for old in list_steps(root)[:-keep_latest]:
                shutil.rmtree(step_dir(root, old), ignore_errors=True)
        _barrier()
        return final

    if async_save:
        # the background write's collectives run on the CPU: async_save asserts a CPU backend, which a GPU run's
        # group has beside NCCL ("cpu:gloo,cuda:nccl", axk1.parallel.distributed.init_distributed)
        distributed = dist.is_available() and dist.is_initialized()
        future = dcp.async_save(state, checkpoint_id=str(tmp), no_dist=not distributed)
        return PendingCheckpoint(future, finish)
    dcp.save(state, checkpoint_id=str(tmp))
    return finish()


def _load_whole(path: Path, target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The whole state dict from a checkpoint written by any launch: a tensor saved under expert parallelism is
    stored as one slice per ep rank (`name.ep{r}of{n}`, experts [r·E/n, (r+1)·E/n)); those are read and joined."""
    stored = dcp.FileSystemReader(str(path)).read_metadata().state_dict_metadata
    want, joins = {}, {}
    for k, v in target.items():
        if f"model.{k}" in stored:
            want[k] = v
            continue
        parts = sorted((s[len("model."):] for s in stored if s.startswith(f"model.{k}.ep")),
                       key=lambda s: int(s.rsplit(".ep", 1)[1].split("of")[0]))
        if not parts:
            raise ValueError(f"{path} lacks model tensor {k}: it was written for a different model")
        for part in parts:
            want[part] = torch.empty(tuple(stored[f"model.{part}"].size), dtype=v.dtype)
        joins[k] = parts
    state = {"model": want}
    dcp.load(state, checkpoint_id=str(path), no_dist=True)
    out = state["model"]
    for k, parts in joins.items():
        out[k] = torch.cat([out.pop(p) for p in parts], dim=0)
    return out


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """Restores model (and optimizer, RNG) in place from a step folder; returns its train state."""
    path = Path(path)
    if not (path / TRAIN_STATE).exists():
        raise FileNotFoundError(f"{path} is not a complete checkpoint (no {TRAIN_STATE}); pick a step-NNNNNN folder "
                                "listed by the run")
    if optimizer is None:  # a whole model in this one process (export): no collectives, even under torchrun
        model.load_state_dict(_load_whole(path, model.state_dict()))
    else:
        suffix = _expert_suffix(model)
        model_sd, optim_sd = _rename(*get_state_dict(model, optimizer), suffix)
        state = {"model": model_sd, "optim": optim_sd, "rng": {"cpu": torch.get_rng_state()}}
        # A fresh optimizer's state dict lists every parameter; the saved one only those that ever had a gradient
        # (layer 0's unused post-MoE norm never does), so those keys may be absent: they keep their fresh state.
        dcp.load(state, checkpoint_id=str(path), planner=DefaultLoadPlanner(allow_partial_load=True))
        stored = dcp.FileSystemReader(str(path)).read_metadata().state_dict_metadata
        missing = [k for k in state["model"] if f"model.{k}" not in stored]
        if missing:
            raise ValueError(f"{path} lacks model tensors {missing[:5]}: it was written for a different model")
        model_sd, optim_sd = _rename(state["model"], state["optim"], suffix, undo=True)
        set_state_dict(model, optimizer, model_state_dict=model_sd, optim_state_dict=optim_sd)
        torch.set_rng_state(state["rng"]["cpu"])
    return json.loads((path / TRAIN_STATE).read_text())


def resume_latest(root: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, dict[str, Any]]:
    """`--resume`: restores the newest complete step under root; (step, its train state)."""
    step = latest_step(root)
    if step is None:
        raise FileNotFoundError(f"--resume: no complete checkpoint under {root}; start without --resume")
    return step, load_checkpoint(step_dir(root, step), model, optimizer)
