"""What `axk1 rl --resume` checks: the run's definition saved with each checkpoint against the recipe's (as
axk1/train/resume.py does for pretraining), and RL's counters in the checkpoint's train state."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from axk1.checkpoint.dcp import TRAIN_STATE, step_dir
from axk1.config import ModelConfig
from axk1.json_text import json_digest
from axk1.posttrain.rl_recipe import RLRecipe
from axk1.settings_snapshot import json_safe
from axk1.train.resume import run_definition
from axk1.train.schedules import schedule_class

# What a resumed RL run may change in [rl], besides what a resumed training run may (axk1/train/resume.py): how many
# iterations it runs, whether it exports, and the paths of the tasks and the template (the task rows themselves are
# compared, by a digest) and of the folder the rollout server reads each update's weights from (under the run folder
# by default, so a moved run folder moves it; checkpoints written before saved it, compared no more: MAY_CHANGE).
RL_RESUMABLE = ("iterations", "export", "tasks", "template_from", "weights_dir")
MAY_CHANGE = tuple(f"rl.{k}" for k in RL_RESUMABLE)


def rl_run_definition(r: RLRecipe, config: ModelConfig, tasks: list[dict]) -> dict:
    """What defines an RL run's trajectory, saved with every checkpoint for --resume to compare: the training
    recipe's part (run_definition), [rl]'s settings, the task rows' digest, and the length of a schedule that is not
    constant: without [schedule] total_steps it is [rl] iterations x updates_per_batch, so a resume with more
    iterations would follow another learning-rate curve than the run it continues."""
    out = run_definition(r, config)
    out |= {f"rl.{k}": v for k, v in asdict(r.rl).items() if k not in RL_RESUMABLE}
    out["rl.tasks_sha256"] = json_digest(tasks, ensure_ascii=True)  # as checkpoints already hold it
    if not schedule_class(r.schedule.kind).is_constant:
        out["rl.schedule_steps"] = r.schedule.total_steps or r.rl.iterations * r.rl.updates_per_batch
    return json_safe(out)


def resume_counters(saved: dict, step: int, root: Path) -> tuple[int, int, list | None]:
    """(iterations done, of them skipped, the expert-load baseline) from a checkpoint's train state, checked: a
    damaged or copied state would resume another trajectory without a word (or fail on a bare KeyError)."""
    where = step_dir(root, step) / TRAIN_STATE
    state = saved.get("state") if isinstance(saved, dict) else None
    if not isinstance(state, dict) or not isinstance(state.get("iteration"), int) or "load_start" not in state:
        raise ValueError(f"{where} does not hold RL's counters (\"state\" with iteration and load_start): the file is "
                         "damaged; move the step folder out of the checkpoints folder to resume from the one before it")
    if state["iteration"] != step:
        raise ValueError(f"{where} says iteration {state['iteration']}, not its folder's {step}: the folder was copied "
                         "or renamed from another checkpoint; move it out of the checkpoints folder (or give it its "
                         "step's name) and resume again")
    start = state["load_start"]  # None when every iteration before the checkpoint was skipped
    # checkpoints written before "skipped" was saved: all skipped if no update ever ran, else counted from here
    skipped = state.get("skipped", step if start is None else 0)
    return step, int(skipped), start
