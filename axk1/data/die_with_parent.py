"""The local executor's helper processes end with the process that started them.

datatrove's local executor starts a multiprocessing Manager (a server process forked from `axk1 data run`) for its
task queue. Killed alone (the OOM killer picks one process; a `kill` of the main pid), `axk1 data run` left that
server asleep for ever, holding the killed run's log open; the executor's forkserver, resource tracker and pool
workers do end with it. While `run_pipeline` runs its stages here, a process forked (os.fork: multiprocessing's
fork start, the Manager's) asks Linux for SIGKILL when the thread that forked it ends (PR_SET_PDEATHSIG), which for
the executor's processes is the main thread. A kill loses nothing a relaunch does not redo: a task without its
completion marker is run again. Processes started by subprocess run no fork hook (unless given a preexec_fn, which
nothing here passes) and are not touched; off Linux nothing changes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from contextlib import contextmanager

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_libc = None  # loaded before the fork, once
_installed = False
_active = False  # set while a pipeline runs here; a forked child inherits it (its own children die with it)
_forking = 0  # the pid of the process about to fork, as its child sees it


def _note_parent() -> None:
    global _forking
    _forking = os.getpid()


def _die_with_parent() -> None:
    if not _active or _libc is None:
        return
    if _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:  # refused (a sandbox): it lives on, as before
        return
    if os.getppid() != _forking:  # the parent died between the fork and the prctl: no signal will come
        os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def children_die_with_this_process():
    """While the block runs, a process forked from this one (or from those) is killed when its parent dies."""
    global _libc, _installed, _active
    if not sys.platform.startswith("linux"):
        yield
        return
    if not _installed:  # a fork hook cannot be removed: installed once, it acts only while _active
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
            _libc.prctl  # noqa: B018 (no prctl: nothing to install)
        except (OSError, AttributeError):
            _libc = None
        os.register_at_fork(before=_note_parent, after_in_child=_die_with_parent)
        _installed = True
    before, _active = _active, True
    try:
        yield
    finally:
        _active = before
