"""SIGTERM outside a training loop (`kill`, a scheduler's stop between the demo's stages, during a merge): the command
ended at once with no line and without its clean-ups. Now it ends as Ctrl-C does: a line, exit 143, clean-ups run;
forked workers still end at once. SIGHUP the same (129), unless the command was started to ignore it (nohup).
(Inside a training loop the trainer's own stop takes SIGTERM: test_train_faults.py.)"""

import os
import signal
import subprocess
import textwrap
import time

import pytest

from tests.warm_ranks import WarmProcess, code_main, start, terminal_signals

# A verb that stands still until signalled: `axk1 params` with its function swapped for one that holds a staging
# folder (removed by its clean-up) and, when asked, a forked worker (which reports its exit code).
SLOW_VERB = textwrap.dedent("""
    import multiprocessing, sys, time
    from pathlib import Path
    import axk1.cli as cli

    folder, fork = Path(sys.argv[1]), sys.argv[2] == "fork"

    def nap(ready):
        ready.set()  # in the worker's own code: a signal that came sooner, between fork and the child's start-up,
        time.sleep(60)  # would be dropped (Python clears pending signals in a forked child)

    def slow(args):
        staging = folder / "staging"
        staging.mkdir()
        try:
            if fork:
                context = multiprocessing.get_context("fork")
                ready = context.Event()
                worker = context.Process(target=nap, args=(ready,))
                worker.start()
                ready.wait()
                print(f"worker {worker.pid}", flush=True)
                worker.join()
                print(f"worker exit {worker.exitcode}", flush=True)
                return 0
            print("ready", flush=True)
            time.sleep(60)
        finally:
            staging.rmdir()
        return 0

    cli.cmd_params = slow
    sys.exit(cli.main(["params", "axk1-tiny"]))
""")


class _Verb(WarmProcess):
    """The verb in a process forked from the warm server (tests/warm_ranks.py: torch, which axk1.cli.main loads, is
    imported once a worker, not per start), its stdout and stderr into files: subprocess.Popen's calls the tests make."""

    def __init__(self, tmp_path, mode: str, hup) -> None:
        n = len(list(tmp_path.glob("verb*.out")))
        self.out, self.err = tmp_path / f"verb{n}.out", tmp_path / f"verb{n}.err"
        self.out.touch()
        super().__init__(start(_verb_main, (str(tmp_path), mode, hup), dict(os.environ), stderr=self.err,
                               stdout=self.out))

    @property
    def returncode(self) -> int | None:
        return self.poll()

    def first_line(self) -> str:
        """Its first line of stdout, once written; "" if it ended without one."""
        while "\n" not in self.out.read_text() and self.poll() is None:
            time.sleep(0.05)
        text = self.out.read_text()
        return text.split("\n", 1)[0] if "\n" in text else ""

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        return self.out.read_text(), self.err.read_text()


def _verb_main(folder: str, mode: str, hup) -> None:
    """A terminal's signal dispositions (SIGHUP's `hup`: SIG_IGN as `nohup` starts it), then the verb as
    `python -c SLOW_VERB folder mode` runs it."""
    terminal_signals(hup)
    code_main(SLOW_VERB, [folder, mode])


def _start(tmp_path, mode: str, hup=signal.SIG_DFL) -> tuple[_Verb, str]:
    """The verb, started with SIGHUP's disposition `hup` (SIG_IGN: as `nohup` starts it)."""
    proc = _Verb(tmp_path, mode, hup)
    first = proc.first_line()  # the verb is running (its import of torch can take a while on a busy machine)
    assert first, proc.communicate()[1][-2000:]
    return proc, first.strip()


def test_sigterm_ends_a_command_with_a_line_and_its_clean_ups(tmp_path):
    proc, first = _start(tmp_path, "sleep")
    assert first == "ready"
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "axk1 params: stopped by SIGTERM" in err and "Traceback" not in err, err
    assert not (tmp_path / "staging").exists()  # the command's `finally` ran (the default action skipped it)


def test_sighup_ends_a_command_as_sigterm_does_unless_it_runs_under_nohup(tmp_path):
    """SIGHUP (the terminal closed) ended a command at once, its clean-ups skipped; under nohup it must not end it."""
    proc, first = _start(tmp_path, "sleep")
    proc.send_signal(signal.SIGHUP)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGHUP and "axk1 params: stopped by SIGHUP" in err, err
    assert "Traceback" not in err and not (tmp_path / "staging").exists(), err
    proc, first = _start(tmp_path, "sleep", hup=signal.SIG_IGN)
    proc.send_signal(signal.SIGHUP)
    try:
        with pytest.raises(subprocess.TimeoutExpired):  # ignored: the verb sleeps on
            proc.communicate(timeout=3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err


def test_a_forked_worker_still_ends_at_once_on_sigterm(tmp_path):
    """A forked worker inherits the handler; it must die as SIGTERM kills (multiprocessing's terminate(), datatrove's
    pools), not raise into the worker's code and print a traceback."""
    proc, first = _start(tmp_path, "fork")
    worker = int(first.split()[1])  # running its target, with the handler it inherited
    os.kill(worker, signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert f"worker exit {-signal.SIGTERM}" in out, (out, err)
    assert "Traceback" not in err, err


def test_serve_shuts_down_on_sigterm_and_says_so(tmp_path):
    """uvicorn takes SIGTERM for its graceful shutdown and raises it again after: the command then ends as the
    others do (it used to die of the signal there, without a line)."""
    from tests.serve_helpers import ServerProcess, make_model_folder

    server = ServerProcess(make_model_folder(tmp_path / "model"))
    try:
        server.proc.send_signal(signal.SIGTERM)
        out = server.proc.communicate(timeout=60)[0]
    finally:
        server.stop()
    assert server.proc.returncode == 128 + signal.SIGTERM, out
    assert "axk1 serve: stopped by SIGTERM" in out and "Traceback" not in out, out
