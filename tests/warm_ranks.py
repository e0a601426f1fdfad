"""Test processes forked from a warm server instead of started afresh: the multi-process tests' launch cost.

A 2-rank `torchrun` launch on the 2-core test machine spends ~8 s before the recipe's first line runs: the agent and
each rank import torch and its distributed packages (~3 s each), all three at once; an `axk1 serve` or a `python -c`
driver pays the same ~3 s. Here the import is paid once per pytest worker: multiprocessing's forkserver imports
torch's heavy packages (PRELOAD) when first used, and every process after is a fork of it (a 2-rank launch: ~13 s ->
~5 s). Nothing of axk1 or of the tests is preloaded, so each process imports them afresh, as a new one does: a spy
script that patches axk1 before calling axk1.cli.main patches what the process runs.

Used by run_ranks (tests/gloo_ranks.py), ranks_cli and start_ranks_without_torchrun (tests/train_helpers.py),
ServerProcess (tests/serve_helpers.py) and the fault drivers (run_code). A forked rank is a real process with
torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR/PORT, TORCHELASTIC_RUN_ID ...), its own cwd, stdout and stderr;
it differs from a torchrun rank in what torchrun's agent adds: no restarts, no error files nor root-cause summary
(the process that starts the ranks hosts their rendezvous store, as the agent does: `agent_store`). The tests of
those keep real torchrun (tests/train_helpers.py::torchrun_cli; test_train_launch_faults' recipe-check, root-cause
and torchrun-stop tests, the restart and recipe-error tests of test_train_distributed). Settings torch or OpenMP read
when a process starts (TORCH_LOGS, an RLIMIT_AS below what torch maps) are the worker's: such tests start a fresh
interpreter instead.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Callable
from multiprocessing.connection import wait
from pathlib import Path

# what every rank imports and nothing of ours: torch and the distributed packages the trainer and export use, and
# torch._dynamo, which torch imports on a model's first initialiser (its torch._disable_dynamo wrapper; ~0.5 CPU-s a
# process, each rank of every launch paid it)
PRELOAD = ["torch", "torch.distributed.fsdp", "torch.distributed.tensor", "torch.distributed.checkpoint",
           "torch.distributed.checkpoint.state_dict", "torch.nn.attention.flex_attention", "torch._dynamo", "numpy"]
multiprocessing.set_forkserver_preload(PRELOAD)
_CONTEXT = multiprocessing.get_context("forkserver")


def agent_store():
    """(store, env): a rendezvous store hosted by this process on a port the OS picks, as torchrun's agent hosts its
    node's, and the environment that points a launch's ranks at it. With TORCHELASTIC_USE_AGENT_STORE=True torch's
    env:// rendezvous makes every rank a client of the store at MASTER_PORT, rank 0 included
    (torch/distributed/rendezvous.py, _create_c10d_store), so no rank binds a port. A port picked free here and bound
    later by rank 0 could be taken in between by another xdist worker's launch or server, and the launch then failed.
    Keep `store` referenced while the ranks run: its server stops when it is collected."""
    from torch.distributed import TCPStore

    store = TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    return store, {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(store.port), "TORCHELASTIC_USE_AGENT_STORE": "True"}


def start(target: Callable, args: tuple, env: dict[str, str], cwd: str | Path | None = None,
          stderr: Path | None = None, stdout: Path | None = None) -> multiprocessing.Process:
    """`target(*args)` in a process forked from the warm server, with exactly `env` as its environment and `cwd`
    (default: this process's) as its working directory: a forked process would otherwise keep the server's, taken
    when it started. `stderr`, `stdout`: files its fds 2 and 1 go to (the server's otherwise). `target` must be a
    module-level function (the process imports it by name)."""
    process = _CONTEXT.Process(target=_enter, args=(dict(env), str(cwd or os.getcwd()), stderr, stdout, target, args))
    process.start()
    return process


def _enter(env: dict[str, str], cwd: str, stderr: Path | None, stdout: Path | None, target: Callable,
           args: tuple) -> None:
    import faulthandler

    import torch

    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    tempfile.tempdir = None  # the server may have looked it up already: this process's TMPDIR decides
    for path, stream in ((stderr, 2), (stdout, 1)):
        if path is not None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, stream), os.close(fd)
    faulthandler.enable()  # a rank that crashes in native code says where (PYTHONFAULTHANDLER acts at start only)
    # OMP_NUM_THREADS is read once per process, at its first parallel op: the server ran none, so this decides
    torch.set_num_threads(int(env.get("OMP_NUM_THREADS", "1")))
    target(*args)


def run_cli(args: list[str], world: int | None, env: dict[str, str], tmp: Path, timeout: float,
            script: Path | None = None) -> tuple[list[int], str, str]:
    """`axk1 args...` (or `script args...`, which ends by calling axk1.cli.main) on `world` forked ranks with
    torchrun's environment over `env` (world None: one process outside torchrun). As torchrun's agent does, once a
    rank fails the others are stopped (SIGTERM, SIGKILL 10 s later). Returns (the exit codes, the ranks' stderr and
    stdout, rank by rank); past `timeout` s the ranks are killed and TimeoutError raised with their stderr's end."""
    store, store_env = agent_store() if world is not None else (None, {})
    procs = []
    for rank in range(world or 1):
        rank_env = env if world is None else {
            **env, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
            "LOCAL_WORLD_SIZE": str(world), "GROUP_RANK": "0", "ROLE_RANK": str(rank), "ROLE_WORLD_SIZE": str(world),
            **store_env, "TORCHELASTIC_RUN_ID": "warm-ranks", "TORCHELASTIC_RESTART_COUNT": "0",
            "TORCHELASTIC_MAX_RESTARTS": "0"}
        procs.append(start(cli_main, (args, script), rank_env, stderr=tmp / f"rank{rank}.stderr",
                           stdout=tmp / f"rank{rank}.stdout"))
    in_time = join_as_an_agent(procs, timeout)
    del store  # the ranks have ended
    err, out = ("".join((tmp / f"rank{rank}.{name}").read_text(errors="replace") for rank in range(world or 1))
                for name in ("stderr", "stdout"))
    if not in_time:
        raise TimeoutError(f"{world or 1} ranks of axk1 {' '.join(args)} ran past {timeout} s:\n{err[-3000:]}")
    return [p.exitcode for p in procs], err, out


def cli_main(args: list[str], script: Path | None) -> None:
    import sys

    if script is None:
        sys.argv = ["axk1", *args]
        from axk1.cli import main

        raise SystemExit(main())
    import runpy

    sys.argv = [str(script), *args]
    runpy.run_path(str(script), run_name="__main__")


class WarmProcess:
    """The subprocess.Popen calls the fault tests make (wait, poll, send_signal, kill) on a started process. `keep`:
    what must live as long as the process (the rendezvous store of its launch, `agent_store`)."""

    def __init__(self, process: multiprocessing.Process, keep: object = None) -> None:
        self.process, self.pid, self.keep = process, process.pid, keep

    def poll(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        import subprocess

        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired(f"process {self.pid}", timeout)
        return self.process.exitcode

    def send_signal(self, signum: int) -> None:
        if self.process.exitcode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        if self.process.exitcode is None:
            self.process.kill()


class WarmPopen(WarmProcess):
    """An `axk1` command started as a terminal (or `nohup`) would start it, in a process forked from the warm server,
    its stdout and stderr into one log file: what tests/serve_helpers.py::ServerProcess reads of a subprocess.Popen
    (stdout, returncode, terminate, communicate) besides WarmProcess's calls."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, nohup: bool = False) -> None:
        super().__init__(start(_command_main, (args, nohup), env, stderr=log, stdout=log))
        self.stdout = open(log, errors="replace")

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode

    def terminate(self) -> None:
        import signal

        self.send_signal(signal.SIGTERM)

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        self.wait(timeout)
        return self.stdout.read(), None


def _command_main(args: list[str], nohup: bool) -> None:
    import signal

    terminal_signals(signal.SIG_IGN if nohup else signal.SIG_DFL)
    cli_main(args, None)


def terminal_signals(sighup) -> None:
    """A terminal's signal dispositions, SIGHUP's `sighup` (SIG_IGN: as `nohup` starts a command), whatever the
    server inherited from the pytest worker (a suite run in the background ignores SIGINT and SIGHUP)."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, sighup)


def join_as_an_agent(procs: list, timeout: float) -> bool:
    """Wait for `procs` as torchrun's agent does: once one fails, the others are stopped. Whether every one ended
    before the timeout (those left are killed at it)."""
    import time

    deadline = time.monotonic() + timeout
    waiting = {p.sentinel: p for p in procs}
    while waiting:
        ready = wait(list(waiting), timeout=max(0.0, deadline - time.monotonic()))
        for sentinel in ready:
            waiting.pop(sentinel).join()
        if any(p.exitcode for p in procs if p.exitcode is not None) and waiting:
            _stop(list(waiting.values()), grace=10)
            return True
        if not ready and time.monotonic() >= deadline:
            _stop(list(waiting.values()), grace=0)
            return False
    return True


def _stop(procs: list, grace: float) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.join(grace)
        if p.exitcode is None:
            p.kill()
            p.join()


def run_code(code: str, args: list[str], env: dict[str, str], timeout: float, cwd: str | Path | None = None):
    """`python -c code args...` as subprocess.run(..., capture_output=True, text=True) runs it, in a process forked
    from the warm server: returns a subprocess.CompletedProcess; past `timeout` s the process is killed and
    subprocess.TimeoutExpired raised."""
    import subprocess

    argv = ["python", "-c", code, *args]
    with tempfile.TemporaryDirectory(prefix="axk1-python-") as tmp:
        err, out = Path(tmp) / "stderr", Path(tmp) / "stdout"
        proc = start(code_main, (code, list(args)), env, cwd, stderr=err, stdout=out)
        proc.join(timeout)
        if proc.exitcode is None:
            proc.kill()
            proc.join()
            raise subprocess.TimeoutExpired(argv, timeout, out.read_text(errors="replace"),
                                            err.read_text(errors="replace"))
        return subprocess.CompletedProcess(argv, proc.exitcode, out.read_text(errors="replace"),
                                           err.read_text(errors="replace"))


def code_main(code: str, args: list[str]) -> None:
    import sys

    sys.argv = ["-c", *args]
    exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
