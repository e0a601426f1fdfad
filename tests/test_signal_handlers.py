"""One way to install signal handlers for a block and put the ones before back (axk1/signal_handlers.py), used by a
verb's SIGTERM, the rendezvous wait, the trainer's stop requests and the server's shutdown. A handler before that
was set outside Python reads as None (faulthandler's, under `python -X faulthandler`): putting None back is a
TypeError from signal.signal, which replaced the block's own end; only the rendezvous wait guarded it."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from axk1.signal_handlers import held_signals, swapped_handlers

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



def test_held_signals_deliver_one_ctrl_c_after_the_block():
    """Two Ctrl-Cs while held are one KeyboardInterrupt, once the block has run whole."""
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with held_signals([signal.SIGINT]):
            signal.raise_signal(signal.SIGINT)
            reached.append(1)
            signal.raise_signal(signal.SIGINT)
            reached.append(2)
    assert reached == [1, 2]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_with_second_stops_a_second_ctrl_c_cuts_the_block_short(capfd):
    """The double Ctrl-C convention: the first waits for the block (and says so), the second stops it at once, and
    the first is not delivered again after it."""
    reached = []
    with pytest.raises(KeyboardInterrupt) as raised:
        with held_signals([signal.SIGINT], second_stops=True, first_note="press Ctrl-C again to stop now"):
            signal.raise_signal(signal.SIGINT)
            reached.append(1)
            signal.raise_signal(signal.SIGINT)
            reached.append(2)
    assert reached == [1]
    assert raised.value.__context__ is None  # one interrupt, not a second raised while the first unwinds
    assert capfd.readouterr().err == "\npress Ctrl-C again to stop now\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_note_to_a_closed_stderr_does_not_cut_the_block():
    """`axk1 train ... 2>&1 | tee log`: Ctrl-C ends tee too, so the note goes to a pipe with no reader. Its
    BrokenPipeError came out of the handler inside the block, before the signal was noted: the checkpoint's staging
    was cut by the one Ctrl-C that was to wait for it. The block runs whole and the Ctrl-C comes after it."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (tee) is gone
    stderr = os.dup(2)
    reached = []
    try:
        os.dup2(write_end, 2)
        with pytest.raises(KeyboardInterrupt) as raised:
            with held_signals([signal.SIGINT], second_stops=True, first_note="press Ctrl-C again to stop now"):
                signal.raise_signal(signal.SIGINT)
                reached.append(1)
    finally:
        os.dup2(stderr, 2)
        os.close(stderr)
        os.close(write_end)
    assert reached == [1]
    assert raised.value.__context__ is None  # the Ctrl-C itself, not raised while a BrokenPipeError unwinds
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# Every user of the swap, in a Python whose SIGSEGV handler is faulthandler's (set in C before Python's signal table:
# signal.getsignal says None), swapping SIGSEGV in place of the signals each one takes. The modules are imported
# once; each case runs in a fork of that interpreter, which starts from the same None (a swap puts back a handler
# Python knows, so the next case could not start from None in the same process).
SCRIPT = """
import os, signal, sys
from unittest import mock
import axk1.cli_exit as ce
import axk1.infer.shutdown as sh
import axk1.parallel.distributed as d
import axk1.train.callbacks as cb

def case(which):
    assert signal.getsignal(signal.SIGSEGV) is None, signal.getsignal(signal.SIGSEGV)
    if which == "callbacks":
        class Trainer:
            stop_signal = None
        with mock.patch.object(cb, "STOP_SIGNALS", (signal.SIGSEGV,)), cb.stop_requests(Trainer()):
            pass
    elif which == "cli_exit":
        with mock.patch.object(ce.signal, "SIGTERM", signal.SIGSEGV), ce.sigterm_raises():
            pass
    elif which == "distributed":
        with mock.patch.object(d.signal, "SIGTERM", signal.SIGSEGV), d._signals_end_the_wait():
            pass
    elif which == "shutdown":
        server = object.__new__(sh.DrainingServer)
        server._captured_signals = []
        with mock.patch.object(sh.signal, "SIGINT", signal.SIGSEGV), server.capture_signals():
            pass
    print(which, "ok", signal.getsignal(signal.SIGSEGV) is not None, flush=True)

for which in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            case(which)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
"""

CASES = ("callbacks", "cli_exit", "distributed", "shutdown")


def test_a_handler_set_outside_python_does_not_turn_the_end_into_a_type_error():
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(SCRIPT), *CASES], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.split("\n")[:-1] == [f"{which} ok True" for which in CASES], proc.stderr[-2000:]
