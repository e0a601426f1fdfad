"""What pretraining and SFT's `Trainer` (axk1/train/trainer.py) and RL's `RLTrainer` (axk1/posttrain/rl.py) share
around the loop they both run (axk1/train/loop.py): the state the callbacks read (axk1/train/callbacks.py), the stop
asked for by SIGTERM and how the ranks agree on it, the bad-step counts, and giving up the output folder at the end.

What a trainer adds: `recipe`, `is_main`, `parallel` (None in one process), `device`, `total_steps`, `ckpt_dir`,
`callbacks`, and `save(wait) -> Path`; `finish_save()` where saves may finish in the background. The callbacks
read only this interface, so one written once runs on both (tests/test_trainer_base.py).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from axk1.checkpoint.prune import wait_for_prunes
from axk1.checkpoint.dcp import latest_step, step_dir
from axk1.checkpoint.run_lock import run_locks
from axk1.process_rank import process_rank


@dataclass
class TrainState:
    step: int = 0
    tokens: int = 0
    skipped_steps: int = 0
    bad_in_a_row: int = 0
    # the loss-spike check's (axk1/train/loss_spike.py): the good steps' losses, the stage they belong to, and the
    # losses of the spikes skipped in a row since the last good step
    recent_losses: list[float] = field(default_factory=list)
    loss_stage: str | None = None
    spike_losses: list[float] = field(default_factory=list)


def copy_to_resume(error: OSError, ckpts: Path) -> OSError:
    """A resume refused for a checkpoints folder it cannot write (a read-only mount): "give this run another
    checkpoints folder" alone led to `--resume` there, which found no checkpoint. The run to go on from is the newest
    step folder, so say to copy it into the new folder (a step folder is a whole checkpoint) and resume there."""
    text = error.strerror if error.filename is not None else str(error)
    step = latest_step(ckpts)
    if step is None or not text or getattr(error, "folder", None) != ckpts:
        return error  # another folder's refusal (RunLock names the folder), or nothing to go on from
    text += (f"; to resume this run there, copy its newest checkpoint {step_dir(ckpts, step)} into that folder (the "
             "step folder whole, under the same name) and resume with the new folder")
    if error.filename is not None:
        return type(error)(error.errno, text, error.filename)
    moved = type(error)(text)
    moved.errno = error.errno  # the message alone is what the command line prints
    return moved


class TrainerBase:
    recipe: object
    is_main: bool
    parallel: object | None
    device: torch.device
    total_steps: int
    ckpt_dir: Path
    callbacks: list

    def build_under_locks(self, build, resume: bool | str, *args) -> None:
        """The output folder's locks (self.recipe's), then the trainer's own `build(*args)`. A run refused there
        (the model does not fit, no token shards, checkpoints of an earlier run) leaves no folder it made: a
        refused `axk1 train --out X` left X holding only its lock file and an empty checkpoints folder, though the
        refusal comes before anything is built (docs/configuration.md)."""
        self.take_run_locks(resume)
        try:
            build(resume, *args)
        except BaseException:
            self.remove_new_folders()
            raise

    def take_run_locks(self, resume: bool | str = False) -> None:
        """One run per output folder and per checkpoints folder, wherever that lies (the launch's first rank holds
        the locks; axk1/checkpoint/run_lock.py): taken before the checkpoints are looked at or a model loaded, so a
        second run is told the folder is in use. Refused at the second lock, the run leaves nothing it made under
        the first (a new --out folder holding only its lock file)."""
        r = self.recipe
        out, ckpts = Path(r.run.out_dir).absolute(), Path(r.checkpointing.dir).absolute()
        self.locks: list = []
        try:  # the first rank's refusal (in use, not writable) is the launch's
            run_locks(out, ckpts, process_rank(), held=self.locks)
        except OSError as e:
            self.remove_new_folders()
            raise (copy_to_resume(e, ckpts) if resume else e) from None
        except BaseException:
            self.remove_new_folders()
            raise

    def remove_new_folders(self) -> None:
        """What take_run_locks made, removed by the rank holding the locks, before it gives them up: each lock's
        own file and the folders it made, innermost first, while they hold nothing else (never a folder that was
        there before, nor one that has anything in it by now: another run's lock file, this run's metrics)."""
        locks = getattr(self, "locks", None) or []  # another rank's, or no lock taken: nothing of this run's
        for lock in reversed(locks):  # taken in path order, a folder after one it lies in: taken back before it
            lock.remove_made()
        for lock in locks:
            lock.release()

    def start_state(self) -> None:
        """The counters (a step: an optimizer step, or an RL iteration), and what the loop's stop and progress
        bar read. SIGTERM (axk1.train.callbacks.stop_requests) sets `stop_signal`, the signal's name on this rank;
        `stop_requested`: whether any rank got one, as of this step; `stopped_by`: what stopped the run (None: it
        ran to its end); `saved_step`: the step of the newest checkpoint this process wrote; `progress`: the figures
        the progress bar shows (axk1.train.callbacks.ProgressBar), which callbacks and steps report into."""
        self.state = TrainState()
        self.stop_signal: str | None = None
        self.stop_requested = False
        self.stopped_by: str | None = None
        self.saved_step: int | None = None
        self.progress: dict[str, object] = {}

    def set_precision(self) -> None:
        """[parallelism] precision for the trainer's forwards, the same for pretraining, SFT and RL: bf16 in one
        process runs them under `self.autocast` (master weights stay fp32; under FSDP2 its MixedPrecisionPolicy does
        it and this is a no-op context). On CUDA the fp32 matmuls that remain (router, loss chunks) use tensor cores.
        Call after `device` and `parallel` are set."""
        bf16 = self.recipe.parallelism.precision == "bf16" and self.parallel is None
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

    def drop_step(self) -> None:
        """A bad step's gradients and expert loads dropped instead of its update (every trainer's one path)."""
        self.optimizer.zero_grad(set_to_none=True)
        self.balancer.loads_LE.zero_()

    # ---- the stop asked for by a signal: every rank stops after the same step ----
    def stop_vote(self) -> float:
        """This rank's part of the sum that decides the stop: 1 when a signal reached it. A trainer whose step
        sums numbers over the ranks anyway carries it in that sum (no collective of its own) and hands the total
        to `agree_to_stop`."""
        return float(self.stop_signal is not None)

    def agree_to_stop(self, votes: float) -> None:
        self.stop_requested = votes > 0

    def poll_stop(self) -> None:
        """The stop decided by a sum of its own, for a step with no sum to carry it (RL's iteration). On the
        device, as RL's other collectives (each gets device tensors: tests/test_posttrain_distributed.py); the
        iteration reads its results back anyway."""
        votes = self.stop_vote()
        if self.parallel is not None:
            flag = torch.tensor([votes], device=self.device)
            dist.all_reduce(flag)
            votes = flag.item()
        self.agree_to_stop(votes)

    # ---- bad steps ----
    def count_step(self, row: dict, judged: bool = True) -> None:
        """The step's row counted: a skipped one (row["skipped"] says why) in `skipped_steps`; `bad_in_a_row`,
        which BadStepGuard stops the run on, goes up for a bad step and back to 0 for a good one, unless the step
        judged nothing of the training (`judged` False: an RL iteration with no signal to learn from)."""
        skipped = "skipped" in row
        self.state.skipped_steps += skipped
        if judged:
            self.state.bad_in_a_row = self.state.bad_in_a_row + 1 if skipped else 0

    # ---- saves and the end ----
    def save(self, wait: bool = False) -> Path:
        """This step's checkpoint, written by each trainer with its own state (Trainer's, RLTrainer's): no base one."""
        raise NotImplementedError

    def finish_save(self) -> None:
        """A save still being written in the background finished (none here: saves are synchronous)."""

    def release(self) -> None:
        """Gives up the output folder's lock (the process ending does too), once the old checkpoints being deleted
        in the background are gone; `before_release` first."""
        self.before_release()
        wait_for_prunes()
        for lock in self.locks:
            lock.release()

    def before_release(self) -> None:
        """What a trainer lets go of before the lock (RL: the last weights pushed to a rollout server)."""

