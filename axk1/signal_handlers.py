"""Signal handlers installed for a block and put back after it: the one place that does it, for a verb's SIGTERM
(axk1/cli_exit.py), the rendezvous wait (axk1/parallel/distributed.py), the trainer's stop requests
(axk1/train/callbacks.py) and the server's shutdown (axk1/infer/shutdown.py)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def swapped_handlers(signals: Iterable[int], handler: Any, keep: Callable[[], bool] | None = None) -> Iterator[bool]:
    """`handler` for each of `signals` while the block runs, the handlers before put back after it. Signals are
    the main thread's only (signal.signal refuses elsewhere), so in another thread nothing is installed; the block
    gets whether it was. A handler before that was set outside Python (faulthandler's, under `python -X
    faulthandler` or PYTHONFAULTHANDLER; an embedding program's) reads as None and cannot be put back from Python:
    signal.signal(sig, None) is a TypeError, which turned the block's own end or error into that one. Such a
    signal keeps `handler`. `keep`, asked as the block ends: True leaves the handlers then in force, for a process
    that exits after the block (a finished run's: axk1/cli_exit.py's `finished_run`)."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    before = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield True
    finally:
        for sig, previous in (before.items() if keep is None or not keep() else ()):
            if previous is not None:
                signal.signal(sig, previous)


# The signals that stop a command (Ctrl-C, a scheduler's or `kill`'s SIGTERM, a closed terminal's SIGHUP): what
# held_signals holds while a set of files is renamed into place (axk1/eval/result_set.py, axk1/synth/pipeline.py,
# axk1/posttrain/task_set.py).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def held_signals(signals: Iterable[int], second_stops: bool = False, first_note: str = "") -> Iterator[None]:
    """The block runs whole: each of `signals` that arrives meanwhile is noted, and delivered to the handlers
    before (Ctrl-C's KeyboardInterrupt, the CLI's Terminated) once the block has ended, even by an error. For a few
    quick steps that must not be cut between, such as the renames that replace a set of files. (Masking the signals
    would not do: Python runs its handlers in the main thread whichever thread the kernel picked.)

    `second_stops`, for a block that may take long (a checkpoint's staging): the double Ctrl-C convention, the
    first signal waits for the block, the same signal again is delivered at once, cutting the block short, for
    there is no other way out of it. `first_note`, written to stderr when the first one comes, says so; a stderr
    that cannot be written (a closed pipe) does not stop the block."""
    signals = list(signals)
    before = {sig: signal.getsignal(sig) for sig in signals}
    caught: list[int] = []

    def hold(sig: int, frame) -> None:
        if second_stops and sig in caught and callable(before[sig]):
            caught.remove(sig)  # delivered now, not again after the block
            before[sig](sig, frame)  # Python's Ctrl-C handler raises KeyboardInterrupt here, inside the block
            return
        first = not caught
        caught.append(sig)  # before the note: noted even when the note cannot be written
        if first_note and first:
            try:  # not print: a print to stderr may be the line interrupted
                os.write(2, f"\n{first_note}\n".encode())
            except OSError:  # stderr gone (`2>&1 | tee log`, tee ended by the same Ctrl-C): the block runs on
                pass

    try:
        with swapped_handlers(signals, hold):
            yield
    finally:
        for sig in dict.fromkeys(caught):
            signal.raise_signal(sig)
