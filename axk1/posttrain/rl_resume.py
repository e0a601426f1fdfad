"""What `axk1 rl --resume` checks: the run's definition saved with each checkpoint against the recipe's (as
axk1/train/resume.py does for pretraining), and RL's counters in the checkpoint's train state."""

from __future__ import annotations

from dataclasses import asdict
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


def rl_state_lacks(saved: object) -> str | None:
    """RL's check of a checkpoint's train state for resume_run (axk1/train/resume.py): what it is missing, or None.
    A damaged or copied state would resume another trajectory without a word (or fail on a bare KeyError)."""
    state = saved.get("state") if isinstance(saved, dict) else None
    if not isinstance(state, dict) or not isinstance(state.get("iteration"), int) or "load_start" not in state:
        return "RL's counters (\"state\" with iteration and load_start)"
    return None


def resume_counters(saved: dict) -> tuple[int, int, list | None]:
    """(iterations done, of them skipped, the expert-load baseline) from a train state that rl_state_lacks passed."""
    state = saved["state"]
    step, start = state["iteration"], state["load_start"]  # None when every iteration before it was skipped
    # checkpoints written before "skipped" was saved: all skipped if no update ever ran, else counted from here
    skipped = state.get("skipped", step if start is None else 0)
    return step, int(skipped), start
