"""One way to install signal handlers for a block and put the ones before back (axk1/signal_handlers.py), used by a
verb's SIGTERM, the rendezvous wait, the trainer's stop requests and the server's shutdown. A handler before that
was set outside Python reads as None (faulthandler's, under `python -X faulthandler`): putting None back is a
TypeError from signal.signal, which replaced the block's own end; only the rendezvous wait guarded it."""

import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from axk1.signal_handlers import swapped_handlers

REPO = Path(__file__).resolve().parents[1]


def test_handlers_are_installed_for_the_block_and_put_back():
    def mine(signum, frame):
        pass

    before = signal.getsignal(signal.SIGUSR1)
    with swapped_handlers([signal.SIGUSR1], mine) as installed:
        assert installed and signal.getsignal(signal.SIGUSR1) is mine
    assert signal.getsignal(signal.SIGUSR1) is before


def test_outside_the_main_thread_nothing_is_installed():
    got = []

    def run():
        with swapped_handlers([signal.SIGUSR1], signal.SIG_IGN) as installed:
            got.append((installed, signal.getsignal(signal.SIGUSR1)))

    before = signal.getsignal(signal.SIGUSR1)
    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert got == [(False, before)]


# Every user of the swap, in a Python whose SIGSEGV handler is faulthandler's (set in C before Python's signal table:
# signal.getsignal says None), swapping SIGSEGV in place of the signals each one takes.
SCRIPT = """
import signal, sys
from unittest import mock
assert signal.getsignal(signal.SIGSEGV) is None, signal.getsignal(signal.SIGSEGV)
which = sys.argv[1]
if which == "callbacks":
    import axk1.train.callbacks as cb
    class Trainer:
        stop_signal = None
    with mock.patch.object(cb, "STOP_SIGNALS", (signal.SIGSEGV,)), cb.stop_requests(Trainer()):
        pass
elif which == "cli_exit":
    import axk1.cli_exit as ce
    with mock.patch.object(ce.signal, "SIGTERM", signal.SIGSEGV), ce.sigterm_raises():
        pass
elif which == "distributed":
    import axk1.parallel.distributed as d
    with mock.patch.object(d.signal, "SIGTERM", signal.SIGSEGV), d._signals_end_the_wait():
        pass
elif which == "shutdown":
    import axk1.infer.shutdown as sh
    server = object.__new__(sh.DrainingServer)
    server._captured_signals = []
    with mock.patch.object(sh.signal, "SIGINT", signal.SIGSEGV), server.capture_signals():
        pass
print("ok", signal.getsignal(signal.SIGSEGV) is not None)
"""


def _run(which: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(SCRIPT), which], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_a_handler_set_outside_python_does_not_turn_the_end_into_a_type_error():
    for which in ("callbacks", "cli_exit", "distributed", "shutdown"):
        proc = _run(which)
        assert proc.returncode == 0 and proc.stdout.strip() == "ok True", (which, proc.stderr[-2000:])
