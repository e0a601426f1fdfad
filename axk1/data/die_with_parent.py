"""The local executor's helper processes end with the process that started them.

datatrove's local executor starts a multiprocessing Manager (a server process forked from `axk1 data run`) for its
task queue. Killed alone (the OOM killer picks one process; a `kill` of the main pid), `axk1 data run` left that
server asleep for ever, holding the killed run's log open; the executor's resource tracker does end with it, and its
forkserver once the pool's workers have (below). While `run_pipeline` runs its stages here, a process forked
(os.fork: multiprocessing's fork start, the Manager's) asks Linux for SIGKILL when the thread that forked it ends
(PR_SET_PDEATHSIG), which for the executor's processes is the main thread. A kill loses nothing a relaunch does not
redo: a task without its completion marker is run again. Processes started by subprocess run no fork hook (unless
given a preexec_fn, which nothing here passes) and are not touched; off Linux nothing changes.

The pool's workers are not forked from the launcher under the default start method: the forkserver forks them, and
they outlived a killed launcher by the rest of their task (writing shards and completion markers after its lock was
gone, beside a relaunch). Nor does the forkserver end before them: each holds the write end of the pipe it waits on
(multiprocessing hands it to its processes to tell whether their parent lives). So each worker runs
`die_with_launcher` first (the pool's initializer): a thread of its own waits for the launcher to end (a pidfd,
Linux 5.3) and then SIGKILLs the worker; then the forkserver, its pipe closed, ends too.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import sys
import threading
from contextlib import contextmanager

# linux/prctl.h. The code sandbox sets it too (eval/sandbox_ns.py die_with_parent), with a wrapper of its own on
# purpose: its modules run by file in a child where nothing of axk1 is importable (tests/test_package_reach.py), and
# data may not import eval; this one, run in a fork hook, must not raise where the sandbox's must.
_PR_SET_PDEATHSIG = 1
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


def die_with_launcher(launcher: int) -> None:
    """A pool worker's initializer: SIGKILL this process when `launcher` (the pid of the `axk1 data run` process that
    made the pool) ends, or now if it has ended already. Off Linux nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        watched = os.pidfd_open(launcher)  # readable once that process has ended; immune to the pid's reuse
    except ProcessLookupError:  # gone before this worker started
        os.kill(os.getpid(), signal.SIGKILL)
    except OSError:  # no pidfd (a kernel before 5.3, a sandbox): it lives on, as before
        return
    threading.Thread(target=_kill_self_when_readable, args=(watched,), name="die-with-launcher", daemon=True).start()


def _kill_self_when_readable(fd: int) -> None:
    select.select([fd], [], [])
    os.kill(os.getpid(), signal.SIGKILL)
