"""`--resume`: what a resumed run may change, the checkpoint's run definition compared with the recipe's before
any tensor is read, then the newest complete checkpoint loaded and its train state checked.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import types
import typing
from dataclasses import asdict, fields
from pathlib import Path
from typing import Callable

import torch

from axk1.checkpoint.dcp import (KEEP_ROUTER_BIAS, TRAIN_STATE, agreed_steps, incomplete_steps, latest_step,
                                resume_latest, step_dir)
from axk1.checkpoint.mtp_order import MTP_ORDER, convert_resumed_, hidden_first
from axk1.config import ModelConfig
from axk1.json_text import read_json_file
from axk1.process_rank import process_rank
from axk1.settings_snapshot import changed_keys, flat_settings, json_safe, setting_diffs
from axk1.train.data import HELD_OUT_BY
from axk1.train.recipe import Recipe

log = logging.getLogger(__name__)

# What a resumed run may change: the layout and memory knobs (same objective, same data; micro_batch only regroups
# the token-weighted sums), where it writes and logs, how often it checkpoints and validates, when it stops, the
# bad-step guard, and [model] config / init_from (the weights come from the checkpoint; the architecture is
# compared on its own). Everything else defines the run's trajectory (docs/training.md, "Resume").
RESUMABLE = ("model.config", "model.init_from", "validation.every_steps", "validation.sequences", "batch.micro_batch",
             "parallelism.dp_replicate", "parallelism.dp_shard", "parallelism.ep", "parallelism.cp",
             "parallelism.activation_checkpointing", "parallelism.compile", "data.manifest")
RESUMABLE_SECTIONS = ("checkpointing", "logging", "run")
# Settings first saved in the run definition later than the rest: a checkpoint written before has none of a prefix's
# keys, and is compared on the others (SFT's sampler still checks its chat rows: axk1/posttrain/sft.py).
ADDED_LATER = ("sft.", "validation.held_out_by")
# The JSON types of the train state's keys that any trainer writes (pretraining, SFT, RL): a damaged value is named
# as such when the file is read. Unchecked, `"run": 5` was reported as a recipe differing in every setting, and a
# "schedule" or "tokenizer_hash" of another type resumed without a word, into checkpoints an export then misread.
TRAIN_STATE_TYPES = {"run": dict, "model_config": dict, "schedule": dict, "sampler": dict, "state": dict,
                     "mtp_depth": int, "tokenizer_hash": str, "init_from": str, KEEP_ROUTER_BIAS: bool,
                     MTP_ORDER: str}


def run_definition(r: Recipe, config: ModelConfig) -> dict:
    """The settings that define a run's trajectory, flattened to "section.key" (JSON values), saved with every
    checkpoint so that --resume can refuse a recipe that would silently train another run."""
    out = {}
    for section in ("model", "data", "validation", "optimizer", "schedule", "batch", "moe", "parallelism"):
        for key, value in asdict(getattr(r, section)).items():
            name = f"{section}.{key}"
            if name not in RESUMABLE and section not in RESUMABLE_SECTIONS:
                out[name] = value
    out["stages"] = [asdict(s) for s in r.stages]
    out |= r.own_definition()  # a post-training recipe's own table ([sft] epochs, seq_len, mode)
    out["model_config"] = config.to_dict()
    return json_safe(out)



def saved_held_out_by(root: Path) -> str:
    """How the run checkpointed under `root` placed its held-out blocks (train/data.py, HELD_OUT_BY), read before
    the data is split: a checkpoint written before the rule was saved placed them by seed. Each rank reads the shared
    folder itself (the split comes before the process group); a damaged train state is named by the resume after."""
    step = latest_step(root)
    if step is None:
        return HELD_OUT_BY
    try:
        state = json.loads((step_dir(root, step) / TRAIN_STATE).read_text())
        by = state["run"].get("validation.held_out_by", "seed")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return HELD_OUT_BY  # resume_run names what is wrong with the file
    return by if by in ("shard", "seed") else HELD_OUT_BY

def check_resume(saved: dict | None, current: dict, where: Path, may_change: tuple[str, ...] = ()) -> None:
    """Refuses a resume whose recipe differs from the checkpoint's in anything that defines the run (a checkpoint
    written before run definitions were saved has none: nothing to compare). `may_change`: keys that older
    checkpoints saved in their definition but that a resume may change (RL's rollout weights folder, a path)."""
    if saved is None:
        return
    old, new = flat_settings(saved), flat_settings(current)
    for prefix in ADDED_LATER:
        if not any(k.startswith(prefix) for k in old):
            new = {k: v for k, v in new.items() if not k.startswith(prefix)}
    old = {k: v for k, v in old.items() if k not in may_change}
    diffs = setting_diffs(old, new)
    added = sorted({int(k.split(".")[1]) + 1 for k in new if k.startswith("stages.") and k.split(".")[1].isdigit()
                    and not any(o.startswith(".".join(k.split(".")[:2]) + ".") for o in old)})
    if added:  # each new stage's keys listed as "(none) -> value" never said what happened
        raise ValueError(f"--resume: the recipe adds stage{'s' if len(added) > 1 else ''} "
                         f"{', '.join(map(str, added))} to the run checkpointed in {where}: a run's stages are fixed "
                         "at its start (the schedule and the rows drawn depend on them). Resume with the recipe the "
                         "run started with; to train on into a stage it did not plan, export its last checkpoint "
                         "(`axk1 export`) and start a new run from that folder with [model] init_from (docs/training.md, "
                         "\"Resume\")")
    staged = sorted({int(k.split(".")[1]) + 1 for k in changed_keys(old, new) if k.startswith("stages.")
                     and k.split(".")[1].isdigit()})
    if diffs and staged and all(k.startswith("stages.") for k in changed_keys(old, new)):
        # a longer or changed stage the run has not reached yet was refused as a bare list of keys; it stays
        # refused (the WSD decay's start and the run's total steps are counted over every stage, so even a stage
        # not begun moves the learning rate of the steps before it), but said as what it is
        raise ValueError(f"--resume: the recipe changes stage{'s' if len(staged) > 1 else ''} "
                         f"{', '.join(map(str, staged))} of the run checkpointed in {where} "
                         f"({'; '.join(diffs)[:600]}): a run's stages are fixed at its start, those it has not "
                         "reached too (the learning-rate schedule and the rows drawn are counted over all of them). "
                         "Resume with the recipe the run started with; to train on with other stages, export its last "
                         "checkpoint (`axk1 export`) and start a new run from that folder with [model] init_from "
                         "(docs/training.md, \"Resume\")")
    if diffs:
        raise ValueError(f"--resume: the recipe differs from the run checkpointed in {where} in what defines the "
                         f"run (checkpoint -> recipe): {'; '.join(diffs)[:2000]}. Resume with the recipe the run "
                         "started with (only the layout, micro_batch, paths, logging, checkpointing and [run] may "
                         "change), or start a new run in another --out folder")


def counters_lack(state_type: type) -> Callable[[object], str | None]:
    """Pretraining's and SFT's check of a checkpoint's train state for resume_run: the loop's counters (the fields
    of the dataclass `state_type`, "step" among them, each of its field's type) and the sampler's state; what is
    missing or damaged, or None."""
    hints = typing.get_type_hints(state_type)
    state_keys = tuple(f.name for f in fields(state_type))

    def lacks(saved: object) -> str | None:
        counters = saved.get("state") if isinstance(saved, dict) else None
        sampler = saved.get("sampler") if isinstance(saved, dict) else None
        what = None
        if (not isinstance(counters, dict) or not isinstance(counters.get("step"), int)
                or not set(counters) <= set(state_keys)):
            what = f"\"state\" with step and at most {', '.join(state_keys)}"
        elif not isinstance(sampler, dict) or type(sampler.get("seed")) is not int:  # every sampler saves its seed
            what = "\"sampler\" with the data seed"  # ({} failed in the sampler as KeyError: 'seed')
        elif bad := next((k for k, v in counters.items() if not json_is(v, hints[k])), None):
            what = f"\"state\" with {bad} of type {_type_name(hints[bad])} (it holds {counters[bad]!r:.60})"
        return what and f"the run's counters and sampler state ({what})"
    return lacks


def json_is(value: object, hint: object) -> bool:
    """Whether a value read from JSON is of the type `hint` (int, float, str, bool, dict, None, list[...], a union
    of them): an int for a float, as JSON writes 2.0 as 2.0 but a hand edit may not; never a bool for a number (a
    bool is an int to isinstance). The one check of a train state's types: the TrainState fields' (counters_lack)
    and TRAIN_STATE_TYPES' (train_state_problem)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return any(json_is(value, a) for a in args)
    if origin is list:
        return isinstance(value, list) and all(json_is(v, args[0]) for v in value)
    if hint is type(None):
        return value is None
    if hint in (int, float) and isinstance(value, bool):
        return False
    if hint is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, hint)


def _type_name(hint: object) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint)


def train_state_problem(saved: object) -> str | None:
    """What is wrong with the shape of a train state read from a checkpoint's train_state.json (TRAIN_STATE_TYPES),
    or None."""
    if not isinstance(saved, dict):
        return f"a JSON object (it holds a {type(saved).__name__})"
    for key, kind in TRAIN_STATE_TYPES.items():
        value = saved.get(key)
        if key in saved and not json_is(value, kind):
            return f"\"{key}\" as a {'JSON object' if kind is dict else _type_name(kind)} (it holds {value!r:.60})"
    return None


def damaged_state(where: Path, missing: str) -> ValueError:
    """The error for a train_state.json that does not hold `missing` (a checkpoint's damage --resume cannot mend:
    it takes the newest step folder, so say how to go back one)."""
    return ValueError(f"{where} does not hold {missing}: the file is damaged; move the step folder out of the "
                      "checkpoints folder to resume from the one before it")


def note_incomplete_steps(root: Path) -> None:
    """Says which step folders --resume passes over for lacking their train_state.json (written last, just before
    the rename that makes a save complete, so such a folder was copied in part or had the file deleted): skipped
    silently, the run resumed from an older step and later wrote over the folder."""
    if process_rank() != 0:
        return
    for folder in incomplete_steps(root):
        print(f"note: {folder} has no {TRAIN_STATE}, so it is not a complete checkpoint (copied in part, or the file "
              "was deleted): --resume skips it and goes on from the newest complete step; a save of that step "
              "replaces it, so move it out of the checkpoints folder to keep it", file=sys.stderr, flush=True)


def resume_run(root: Path, definition: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               lacks: Callable[[object], str | None], counter: str = "step",
               may_change: tuple[str, ...] = ()) -> tuple[int, dict]:
    """Every trainer's --resume (pretraining, SFT, RL): restores the newest complete checkpoint under `root` into
    model and optimizer; (its step, its train state). The run definitions are compared first (a mismatch costs no
    tensor read; `may_change`: check_resume's). The train state is then checked by the trainer's `lacks` (what it
    is missing, None when whole), and its `counter` ("state" key: "step", RL's "iteration") must be the step its
    folder is named after."""
    note_incomplete_steps(root)
    last = (agreed_steps(root) or [None])[-1]  # rank 0's view on every rank
    if last is not None:
        # --resume has no step to choose: say how to go back one
        state = read_json_file(step_dir(root, last) / TRAIN_STATE, f"the checkpoint is damaged; move "
                               f"{step_dir(root, last)} out of the checkpoints folder to resume from the step before "
                               "it", what="train state")
        missing = lacks(state) or train_state_problem(state)  # before any tensor is read
        if missing:
            raise damaged_state(step_dir(root, last) / TRAIN_STATE, missing)
        check_resume(state.get("run"), definition, step_dir(root, last), may_change)
    step, saved = resume_latest(root, model, optimizer)
    where = step_dir(root, step) / TRAIN_STATE
    missing = lacks(saved) or train_state_problem(saved)  # the file as loaded (the same one, unless replaced since)
    if missing:
        raise damaged_state(where, missing)
    n = saved["state"][counter]
    if n != step:  # the metrics would be trimmed at one step and the run redone from another
        raise ValueError(f"{where} says {counter} {n}, not its folder's {step}: the folder was copied or "
                         "renamed from another checkpoint; move it out of the checkpoints folder (or give it its "
                         "step's name) and resume again")
    if hidden_first(saved):  # trained before axk1 took DeepSeek-V3's released order (checkpoint/mtp_order.py)
        converted = convert_resumed_(model, optimizer)
        log.warning("resume: %s trained MTP with eh_proj reading [hidden state, embedding], axk1's order before it "
                    "took DeepSeek-V3's released one; %s and its optimizer moments now have their halves swapped (the "
                    "same function, embedding first)", step_dir(root, step), ", ".join(converted) or "no eh_proj")
    return step, saved
