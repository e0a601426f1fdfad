"""The training loop's concerns besides the step itself, as callbacks (OLMo-core's pattern): speed and MFU, the
progress bar, metrics files, bad-step stops, checkpoints, a stop on SIGTERM, fault injection for the tests, plots
(and in their own files: held-out validation, validation.py; background checkpoint writes, async_save.py;
non-finite and spiking losses, loss_spike.py). Pretraining and SFT (`Trainer.fit`) and RL (`RLTrainer.fit`) run the
same loop (axk1/train/loop.py) — a step, then each callback in list order — so they share these.

A trainer given to a callback is a TrainerBase (axk1/train/trainer_base.py): `recipe`, `is_main`, `total_steps`,
`state` (a TrainState: steps done, tokens, bad steps), `progress` (the bar's figures), `save(wait=False) -> Path`,
`finish_save()`, and the stop on SIGTERM's `stop_signal`, `stop_requested`, `saved_step` and `stopped_by`; the speed
monitor also reads the Trainer's `config`, `model`, `device` and `domain_losses()`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from axk1.checkpoint.dcp import latest_step, list_steps, step_dir
from axk1.json_text import read_metrics_rows
from axk1.params import count_text
from axk1.signal_handlers import swapped_handlers
from axk1.flops import training_flops_per_token
from tqdm import tqdm

from axk1.train.metrics import JsonlLog, TensorBoardLog, peak_flops, peak_source, plot_run

# Fault injection for the resume test: SIGKILL this process right after the checkpoint of this step is written.
KILL_AFTER_STEP_ENV = "AXK1_TRAIN_KILL_AFTER_STEP"


class Callback:
    """Hooks, each a no-op unless overridden. `row` is the step's metrics dict; callbacks may add to it, and a
    later callback in the list sees what an earlier one added."""

    def on_fit_start(self, trainer) -> None:
        pass

    def on_before_optimizer_step(self, trainer, row: dict) -> None:
        """The step's loss and gradient norm are in `row`, the update not yet made: setting row["skipped"] to a
        reason drops it as a bad step (the Trainer's steps; RL's iterations do not call it)."""

    def on_step_end(self, trainer, row: dict) -> None:
        pass

    def on_fit_end(self, trainer) -> None:
        pass

    def on_error(self, trainer, error: BaseException) -> None:
        """The loop is ending with `error` (Ctrl-C, a stop of the run, a failure), which is raised on afterwards."""


def is_log_step(trainer, row: dict) -> bool:
    """Rows reach the logs every `[logging] every_steps`, at the last step, whenever a step was skipped or the loss
    check took a new level (axk1/train/loss_spike.py) and whenever the validation loss was measured."""
    done = trainer.state.step
    return (done % max(1, trainer.recipe.logging.every_steps) == 0 or done == trainer.total_steps or "skipped" in row
            or "new_loss_level" in row or "val_loss" in row)


class SpeedMonitor(Callback):
    """tokens/s (global: all ranks' tokens; and per device) and MFU (per device) since the previous log row, the
    per-domain losses gathered since then and on a GPU the peak memory allocated so far, added to each log row;
    the figures reported to the progress bar (`trainer.progress`)."""

    def __init__(self) -> None:
        self.peak, self.t_last, self.tokens_last = 0.0, 0.0, 0
        self.source, self.warned = "", False

    def on_fit_start(self, trainer) -> None:
        r = trainer.recipe
        self.peak = peak_flops(trainer.device, r.parallelism.precision, r.logging.peak_tflops)
        self.source = peak_source(trainer.device, r.logging.peak_tflops)
        self.t_last, self.tokens_last = time.perf_counter(), trainer.state.tokens

    def on_step_end(self, trainer, row: dict) -> None:
        if not is_log_step(trainer, row):
            return
        now = time.perf_counter()
        tps = (trainer.state.tokens - self.tokens_last) / max(now - self.t_last, 1e-9)  # the whole step's, all ranks
        per_device = tps / _devices(trainer)
        # the work the trainer does: attention under the causal mask (axk1/flops.py says why the planner agrees)
        flops = training_flops_per_token(trainer.config, row["seq_len"], with_mtp=trainer.model.mtp is not None,
                                         causal=True)
        row.update(trainer.domain_losses())
        # the peak is one device's (axk1.train.metrics.peak_flops), so MFU divides one device's share of the tokens
        mfu = per_device * flops / self.peak if self.peak else None
        row.update(tokens_per_s=tps, tokens_per_s_per_device=per_device, mfu=mfu,
                   skipped_total=trainer.state.skipped_steps)
        if mfu is not None:  # the denominator, so that runs' figures can be compared (a CPU's is measured: indicative)
            row.update(peak_tflops=self.peak / 1e12, peak_source=self.source)
            if mfu > 1:  # more than the peak: the peak read low (a CPU's, measured while other work ran) or is wrong
                row["mfu_over_peak"] = True
                self._warn_over_peak(trainer, mfu)
        if trainer.device.type == "cuda":  # the allocator's peak so far (a host-side counter: no sync)
            row["memory_peak_gb"] = torch.cuda.max_memory_allocated(trainer.device) / 1e9
        self.t_last, self.tokens_last = now, trainer.state.tokens
        trainer.progress.pop("val", None)  # shown on the rows that measured it
        val = {"val": f"{row['val_loss']:.3f}"} if "val_loss" in row else {}
        trainer.progress.update(stage=row["stage"], tokens=count_text(row["tokens"]), loss=f"{row['loss']:.3f}", **val,
                                tok_s=f"{tps:.0f}", mfu=f"{row['mfu']:.1%}" if row["mfu"] is not None else "-")

    def _warn_over_peak(self, trainer, mfu: float) -> None:
        if self.warned or not getattr(trainer, "is_main", True):
            return
        self.warned = True
        fix = ("the CPU peak measured at start read low (other work on the machine then); "
               if self.source == "measured" else "")
        print(f"note: MFU {mfu:.0%} is above the peak of {self.peak / 1e12:.3g} TFLOP/s ({self.source}): {fix}set "
              "[logging] peak_tflops to this device's real peak for a figure to compare (rows say mfu_over_peak)",
              file=sys.stderr, flush=True)


class ProgressBar(Callback):
    """The progress bar (tqdm, main rank, `[logging] progress`): a tick a step, and the figures the step and the
    other callbacks put in `trainer.progress` (SpeedMonitor's speed and loss, RL's reward), shown when they change.
    Where stderr is not a terminal (a log file, a pipe) the bar's carriage-return frames piled up in the file: there
    it is a plain line per log row instead (`[logging] every_steps`, as the metrics file's; every_step: a line a
    step, RL's, whose every iteration is a log row and a long wait)."""

    def __init__(self, desc: str, every_step: bool = False) -> None:
        self.desc, self.bar, self.shown, self.lines, self.every_step = desc, None, {}, False, every_step

    def on_fit_start(self, trainer) -> None:
        done = trainer.state.step
        wanted = bool(trainer.recipe.logging.progress and trainer.is_main)
        self.lines = wanted and not sys.stderr.isatty()
        self.bar = tqdm(total=trainer.total_steps, initial=done, desc=self.desc, disable=not wanted or self.lines)

    def on_step_end(self, trainer, row: dict) -> None:
        if self.lines:
            if self.every_step or is_log_step(trainer, row):
                figures = "  ".join(f"{k} {v}" for k, v in trainer.progress.items())
                print(f"{self.desc}: step {trainer.state.step}/{trainer.total_steps}  {figures}", file=sys.stderr,
                      flush=True)
            return
        if trainer.progress != self.shown:
            self.shown = dict(trainer.progress)
            self.bar.set_postfix(self.shown, refresh=False)
        self.bar.update(1)

    def on_fit_end(self, trainer) -> None:
        self.bar.close()

    def on_error(self, trainer, error: BaseException) -> None:
        if self.bar is not None:
            self.bar.close()


def _devices(trainer) -> int:
    """The devices a step ran on: every rank of the mesh under torchrun (dp_replicate x dp_shard x cp, ep within
    dp_shard), else one."""
    parallel = getattr(trainer, "parallel", None)
    return parallel.mesh.size() if parallel is not None else 1


class MetricsWriter(Callback):
    """Log rows to the JSONL file and TensorBoard (main rank only). On resume, rows and events past the
    checkpoint's step are dropped first: they will be redone. every_step: every row is a log row (RL). A write
    that fails (a full disk) stops the run with the file named and the step to resume from."""

    def __init__(self, trainer, resume_step: int | None, every_step: bool = False) -> None:
        r = trainer.recipe
        self.every_step = every_step
        # TensorBoard's folder first: refused there (not writable), the run has written no metrics.jsonl yet, so
        # it leaves its --out as it found it (TrainerBase.remove_new_folders takes back only its locks' files and
        # the folders they made, while empty)
        self.tensorboard = TensorBoardLog(r.logging.tensorboard if trainer.is_main else "", resume_step)
        self.jsonl = JsonlLog(r.logging.jsonl if trainer.is_main else "", resume_step)

    def on_step_end(self, trainer, row: dict) -> None:
        if self.every_step or is_log_step(trainer, row):
            r = trainer.recipe
            for log, where in ((self.jsonl, r.logging.jsonl), (self.tensorboard, r.logging.tensorboard)):
                try:
                    log.write(row)
                except OSError as e:
                    raise _metrics_failed(trainer, where, e) from e

    def on_fit_end(self, trainer) -> None:
        self.tensorboard.close()


def _metrics_failed(trainer, where: str, e: OSError) -> OSError:
    newest = latest_step(trainer.ckpt_dir) if getattr(trainer, "ckpt_dir", None) else None
    then = (f"run the same command with --resume (the newest complete checkpoint is step {newest}; the rows after it "
            "are redone)") if newest is not None else "start the run again"
    import errno

    fix = {errno.ENOSPC: "Free space there (or point --out / [logging] at a larger disk)",
           errno.ENOENT: "The run's folder was removed while it ran: restore it (or give another --out)",
           errno.EACCES: "Make the folder writable again"}.get(e.errno, "Fix what the error says")
    return OSError(f"{e.strerror or e}: writing metrics to {where} failed at step {trainer.state.step}. {fix}, "
                   f"then {then}")


class TrainingStopped(ValueError):
    """The run stopped itself on purpose (too many bad steps), with a checkpoint and a message saying what to
    change. A ValueError, so the command line prints the message as an error (exit 2), not a traceback: the cause
    is the recipe's settings or the data, not a bug."""


class BadStepGuard(Callback):
    """After `[run] max_bad_steps` skipped steps in a row (non-finite or spiking loss), stop the run with a
    checkpoint and a message saying what to change (`bad_steps_advice`)."""

    def on_step_end(self, trainer, row: dict) -> None:
        limit = trainer.recipe.run.max_bad_steps
        if trainer.state.bad_in_a_row >= limit:
            path = trainer.save(wait=True)
            raise TrainingStopped(f"{trainer.state.bad_in_a_row} bad steps in a row ({row['skipped']}) at step "
                                  f"{trainer.state.step}; stopped with a checkpoint at {path}. "
                                  + bad_steps_advice(trainer, row["skipped"]))


def bad_steps_advice(trainer, reason: str) -> str:
    """What can be done about a run stopped by bad steps, only what a resume accepts (axk1/train/resume.py): the
    [run] section may change on --resume, the learning rate may not (it is part of the run's definition). Names the
    newest checkpoint from before the first bad step: the steps skipped after it are redone from there."""
    if "spike" in reason:  # LossSpikeGuard's (axk1/train/loss_spike.py): judged against recent losses
        fix = (f"Run the same command with --resume --run.spike_zscore N, N above {trainer.recipe.run.spike_zscore} "
               "(or 0 to turn the spike check off), or check the data at this point.")
    else:  # a non-finite loss or gradient
        fix = ("The learning rate is part of the run (--resume refuses another): start a new run (another output "
               "folder) with a lower [optimizer] lr, or check the data at this point.")
    first_bad = trainer.state.step - trainer.state.bad_in_a_row + 1
    before = [s for s in list_steps(trainer.ckpt_dir) if s < first_bad] if getattr(trainer, "ckpt_dir", None) else []
    if before:
        fix += (f" The newest checkpoint from before the first bad step (step {first_bad}) is "
                f"{step_dir(trainer.ckpt_dir, before[-1])}: to redo the skipped steps' batches, move the step folders "
                "after it out of the checkpoints folder before resuming.")
    return fix


class Checkpointer(Callback):
    """A checkpoint every `[checkpointing] interval_steps` and at the last step; asynchronous writes are waited
    for at the end."""

    def on_step_end(self, trainer, row: dict) -> None:
        done = trainer.state.step
        if done % trainer.recipe.checkpointing.interval_steps == 0 or done == trainer.total_steps:
            trainer.save()

    def on_fit_end(self, trainer) -> None:
        trainer.finish_save()


STOP_SIGNALS = (signal.SIGTERM,)  # what Slurm (and torchrun, passing it on) sends before killing a job


@contextmanager
def stop_requests(trainer):
    """While the loop runs, SIGTERM only asks it to stop: the handler records the signal's name in
    `trainer.stop_signal`, and StopOnSignal ends the run after the current step with a checkpoint (default action
    before: the process died at once, with no checkpoint since the last interval and no word). The previous
    handlers come back afterwards. Signals reach only the main thread, so elsewhere nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        trainer.stop_signal = trainer.stop_signal or signal.Signals(signum).name

    with swapped_handlers(STOP_SIGNALS, handler):
        yield


class StopOnSignal(Callback):
    """A stop asked for by a signal (`trainer.stop_requested`, agreed over the ranks in the step's host sum, so
    every rank saves at the same step): a checkpoint of this step (unless Checkpointer just wrote it), written
    through before the loop ends; `trainer.stopped_by` names the signal for the command line's message."""

    def on_step_end(self, trainer, row: dict) -> None:
        if not trainer.stop_requested:
            return
        if trainer.saved_step == trainer.state.step:
            trainer.finish_save()
        else:
            trainer.save(wait=True)
        trainer.stopped_by = trainer.stop_signal or "a signal on another rank"


class KillAfterCheckpoint(Callback):
    """Fault injection: with AXK1_TRAIN_KILL_AFTER_STEP=N in the environment the process SIGKILLs itself once
    step N's checkpoint is complete (after Checkpointer in the list) — how the tests prove exact resume. In a run's
    callbacks only when the environment asks for it (`if_asked`)."""

    def __init__(self) -> None:
        self.kill_at = int(os.environ.get(KILL_AFTER_STEP_ENV, "0"))

    @classmethod
    def if_asked(cls) -> list[Callback]:
        """[the injector] when AXK1_TRAIN_KILL_AFTER_STEP names a step, else []."""
        injector = cls()
        return [injector] if injector.kill_at else []

    def on_step_end(self, trainer, row: dict) -> None:
        if self.kill_at and trainer.state.step == self.kill_at:
            trainer.finish_save()
            os.kill(os.getpid(), signal.SIGKILL)


class RunPlots(Callback):
    """loss.png, loss_by_domain.png and expert_load.png beside the JSONL file at the end (main rank)."""

    def on_fit_end(self, trainer) -> None:
        jsonl = trainer.recipe.logging.jsonl
        if trainer.is_main and jsonl and Path(jsonl).exists():
            try:
                plot_run(read_metrics_rows(jsonl), Path(jsonl).parent)
            except OSError as e:  # a full disk at the very end: the run and its checkpoint are complete all the same
                print(f"note: the plots were not written to {Path(jsonl).parent} ({e.strerror or e}); the run is "
                      f"complete and its metrics are in {jsonl}", flush=True)


def run_callbacks(callbacks: list[Callback], hook: str, trainer, *args) -> None:
    for cb in callbacks:
        getattr(cb, hook)(trainer, *args)
