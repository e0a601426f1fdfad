"""Finding sandbox runs' processes from outside: every process of a run is named sbx-<its folder's random suffix>
(/proc/PID/comm, set by the supervisor and inherited by forks), and the folder is removed when the run returns."""

import os
import signal
import tempfile
import time
import uuid
from pathlib import Path

from axk1.eval import sandbox_ns


def _name(pid: str) -> str:
    """The process's name, or "" when it is gone or a zombie (dead: it holds nothing but its pid)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            name, state = f.read().split(" (", 1)[1].rsplit(") ", 1)
        return "" if state.startswith(("Z", "X")) else name
    except (OSError, IndexError, ValueError):
        return ""


def run_folder(name: str) -> str:
    """The folder of the run whose processes are named `name` (sbx-<its random suffix>)."""
    return os.path.join(tempfile.gettempdir(), f"axk1-sandbox-{name[4:]}")


def orphaned_runs() -> list[str]:
    """`pid name` of every live sandbox process whose run has already returned (its folder is gone), but those of
    another test process's runs (below another pytest or xdist worker process, still being torn down there: the
    other worker's runs failed this check by chance when it was host-wide)."""
    found = [(int(pid), name) for pid, name in ((pid, _name(pid)) for pid in os.listdir("/proc") if pid.isdigit())
             if name.startswith("sbx-") and not os.path.exists(run_folder(name))]
    if not found:
        return []
    parent = {child: pid for pid, children in sandbox_ns._children().items() for child in children}
    cmdlines = _cmdlines()
    return [f"{pid} {name}" for pid, name in found if not _another_tests(pid, parent, cmdlines)]


def _is_test_process(cmdline: str) -> bool:
    """An xdist worker (execnet's bootstrap, `python -u -c import sys;exec(eval(...))`) or pytest itself."""
    return ("import sys;exec(eval(sys.stdin.readline()))" in cmdline or " -m pytest " in f"{cmdline} "
            or any(os.path.basename(a) in ("pytest", "py.test") for a in cmdline.split(" ")[:2]))


def _another_tests(pid: int, parent: dict[int, int], cmdlines: dict[int, str]) -> bool:
    """Whether `pid` descends from a test process other than this one (an escaped process, reparented to init or a
    subreaper, does not: it is counted wherever it came from)."""
    for _ in range(64):
        pid = parent.get(pid, 0)
        if pid == os.getpid() or pid <= 1:
            return False
        if _is_test_process(cmdlines.get(pid, "")):
            return True
    return False


def runs_below(pid: int) -> list[str]:
    """The names of the sandbox runs found below process `pid` (each run's supervisor and every process it forked
    carry its name): a run whose harness died keeps its folder, so orphaned_runs() would not report it."""
    tree, stack, found = sandbox_ns._children(), [pid], []
    while stack:
        for child in tree.get(stack.pop(), []):
            name = _name(str(child))
            if name.startswith("sbx-"):
                found += [name] if name not in found else []
            else:
                stack.append(child)
    return found


def run_below(pid: int) -> str:
    """The name of the first sandbox run found below process `pid`, or "" (see runs_below)."""
    return next(iter(runs_below(pid)), "")


def processes_named(name: str) -> list[int]:
    """Live processes (zombies left out) named `name`: all of one run's, for a name run_below gave."""
    return [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and _name(pid) == name]


def kill_named(name: str, rounds: int = 500) -> None:
    """SIGKILL every process named `name` until none is left (a fork bomb adds some while we kill): a failing
    test must not leave a run spinning on the machine."""
    for _ in range(rounds):
        pids = processes_named(name)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)


def _cmdlines() -> dict[int, str]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    out[int(entry)] = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                pass
    return out


class Outside:
    """What a run must leave alone: a world-writable folder outside the sandbox, and the host's processes."""

    def __init__(self):
        self.marker = uuid.uuid4().hex
        self.folder = Path(f"/tmp/axk1-hostile-{self.marker}")
        self.folder.mkdir()
        self.folder.chmod(0o777)

    def leftovers(self) -> list[str]:
        """Processes carrying the case's marker, and sandbox processes whose run has returned."""
        return [c[:200] for c in _cmdlines().values() if self.marker in c] + orphaned_runs()

    def unchanged(self) -> None:
        assert list(self.folder.iterdir()) == [], "a file appeared outside the sandbox"
        deadline = time.monotonic() + 3  # a supervisor may still be leaving its namespaces: give it a moment
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.05)
        left = self.leftovers()
        assert left == [], f"a process of the run outlived it: {left}"
        assert list(self.folder.iterdir()) == [], "a file appeared outside the sandbox"


def guard_functions(monkeypatch, folder) -> list:
    """The guard installed in this process (its audit hook caught, not added: pytest's process keeps running), and
    every function its hook reaches through default arguments, the hook first. install_guard replaces fork_exec,
    settrace and setprofile for good: monkeypatch gives pytest's process the real ones back afterwards."""
    import _posixsubprocess
    import subprocess
    import sys

    from axk1.eval import sandbox_guard

    installed = []
    monkeypatch.setattr(sys, "addaudithook", installed.append)
    monkeypatch.setattr(_posixsubprocess, "fork_exec", _posixsubprocess.fork_exec)
    monkeypatch.setattr(subprocess, "_fork_exec", subprocess._fork_exec)
    monkeypatch.setattr(sys, "settrace", sys.settrace)
    monkeypatch.setattr(sys, "setprofile", sys.setprofile)
    sandbox_guard.install_guard(str(folder))
    todo, found = [installed[0]], {}
    while todo:
        fn = todo.pop()
        if fn.__name__ not in found:
            found[fn.__name__] = fn
            todo += [d for d in fn.__defaults__ or () if callable(d) and getattr(d, "__code__", None)]
    return list(found.values())
