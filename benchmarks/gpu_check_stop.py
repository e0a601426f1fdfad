"""The GPU check's answer to SIGTERM (benchmarks/gpu_check.sh bounds it with `timeout`): stop now, keep what was
measured, leave nothing running.

The trainer takes SIGTERM as "stop after this step, with a checkpoint" (axk1/train/callbacks.py, StopOnSignal),
right for a run worth resuming. In the check that checkpoint was the 2B model's weights and AdamW state (~24 GB)
written after the time was up, and the trainer then returned normally, so the check went on with its next parts:
`timeout 100` returned after 161 s. So the check installs its own handler, which raises `Terminated` in the main
thread wherever it is; the check then writes its JSON with the figures measured so far and exits. Its in-process
training runs without the trainer's checkpoints and without its stop (`without_checkpoints`), and its torchrun
launch is killed whole (`run_killing_tree`): torchrun starts each worker in a session of its own, which neither
`timeout`'s signal to its process group nor its SIGKILL after `-k` reaches.
"""

from __future__ import annotations

import os
import signal
import subprocess

from axk1.train.callbacks import Callback, Checkpointer, StopOnSignal


class Terminated(BaseException):
    """SIGTERM reached the check. A BaseException, so that a part's `except Exception` (a failing part lets the
    others run) does not take it for a failure and go on. `partial`: the figures the interrupted part had."""

    def __init__(self, signal_name: str = "SIGTERM") -> None:
        super().__init__(signal_name)
        self.partial: dict = {}

    def keep(self, figures) -> None:
        """`partial` = figures(); should working them out fail, the error instead: the stop must stay a stop (an
        Exception here would be taken for the part failing, and the next part would run)."""
        try:
            self.partial = figures()
        except Exception as e:
            self.partial = {"partial_figures_error": repr(e)}


_stopping = False


def _raise_terminated(signum, frame) -> None:
    global _stopping
    if _stopping:  # `timeout` signals the process and then its process group: the stop is under way already
        return
    _stopping = True
    raise Terminated(signal.Signals(signum).name)


def stop_on_sigterm() -> None:
    """From now on SIGTERM raises Terminated in the main thread (once)."""
    signal.signal(signal.SIGTERM, _raise_terminated)


class StopAtOnce(Callback):
    """In a Trainer's callbacks instead of Checkpointer and StopOnSignal. While it fits, the trainer puts its own
    SIGTERM handler in (callbacks.stop_requests: the stop after the step); this puts the check's back at the fit's
    start, and a signal the trainer's handler caught before then ends the run at the step's end."""

    def on_fit_start(self, trainer) -> None:
        self._stop_if_asked(trainer)
        stop_on_sigterm()

    def on_step_end(self, trainer, row: dict) -> None:
        self._stop_if_asked(trainer)

    @staticmethod
    def _stop_if_asked(trainer) -> None:
        if trainer.stop_signal:
            raise Terminated(trainer.stop_signal)


def without_checkpoints(trainer):
    """`trainer` with no checkpoint at its intervals, its end or a stop, and SIGTERM ending it at once."""
    trainer.callbacks = [c for c in trainer.callbacks if not isinstance(c, (Checkpointer, StopOnSignal))]
    trainer.callbacks.append(StopAtOnce())
    return trainer


def descendants(pid: int) -> list[int]:
    """The processes below `pid` (children, theirs, ...), read from /proc: torchrun's workers are its children
    though each leads a session of its own."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                ppid = next(int(line.split()[1]) for line in f if line.startswith("PPid:"))
        except (OSError, StopIteration, ValueError):  # gone meanwhile
            continue
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        out += children
        todo += children
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and every process below it, found before any dies (a dead parent's children move to init)."""
    for p in [*descendants(pid), pid]:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_killing_tree(cmd: list[str], **popen) -> None:
    """subprocess.run(cmd, check=True), except that anything raised while it runs (Terminated) kills the command's
    whole tree first (subprocess.run kills the command alone: torchrun's workers would train on, and save)."""
    proc = subprocess.Popen(cmd, **popen)
    try:
        code = proc.wait()
    except BaseException:
        kill_tree(proc.pid)
        proc.wait()
        raise
    if code:
        raise subprocess.CalledProcessError(code, cmd)
