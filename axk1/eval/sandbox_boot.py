"""How the harness starts sandbox runs quickly.

* The child's modules (sandbox_child.py and the files it loads) are compiled once per harness process into a sealed
  memfd; a child loads the code objects from it instead of compiling ~1,400 lines of source (no bytecode cache is
  written for them: a cache folder the program could write would be a way into the next run's judge). Sealed (no
  write, grow, shrink, or new seals): not even a process of the same uid can change what the next child executes.
* A fork server (sandbox_zygote.py) started from that code once per harness process forks each run's supervisor,
  so a run pays neither an interpreter start nor the imports. Runs are still separate processes with their own
  namespaces, uids and limits.
Where memfd, sealing, pidfds or the fork server are missing, each run starts `python sandbox_child.py` as before.
"""

from __future__ import annotations

import fcntl
import json
import marshal
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

HERE = Path(__file__).parent
MODULES = ("sandbox_child", "sandbox_wire", "sandbox_ns", "sandbox_landlock", "sandbox_guard", "code_runner",
           "code_upstream", "code_judge", "code_compare", "sandbox_zygote", "sandbox_files")
SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
# Run with `python -I -S -B -c BOOT FD MODULE ARGS...`: sibling imports are answered from the code objects, then
# MODULE runs as __main__ with the argv it expects (sandbox_child PLAN, or sandbox_zygote CONTROL_FD).
BOOT = """
import marshal, os, sys
from importlib.machinery import ModuleSpec
fd, main = int(sys.argv.pop(1)), sys.argv.pop(1)
codes = marshal.loads(os.pread(fd, os.fstat(fd).st_size, 0))
os.close(fd)
class Bundle:
    @staticmethod
    def find_spec(name, path=None, target=None):
        return ModuleSpec(name, Bundle, origin=codes[name].co_filename) if name in codes else None
    @staticmethod
    def create_module(spec):
        return None
    @staticmethod
    def exec_module(module):
        module.__file__ = module.__spec__.origin
        exec(codes[module.__name__], module.__dict__)
sys.meta_path.insert(0, Bundle)
exec(codes[main], {"__name__": "__main__", "__file__": codes[main].co_filename, "__builtins__": __builtins__})
"""

_lock = threading.Lock()
_bundle: dict = {}


def _sealed_code() -> int | None:
    codes = {}
    for name in MODULES:
        path = HERE / f"{name}.py"
        codes[name] = compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)
    data = marshal.dumps(codes)
    try:
        fd = os.memfd_create("axk1-sandbox-code", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    except (AttributeError, OSError):
        return None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
    except OSError:
        os.close(fd)
        return None
    return fd


def child_command() -> tuple[list[str], tuple[int, ...]]:
    """(argv before the plan, descriptors to pass) for starting one sandbox child."""
    with _lock:
        if "fd" not in _bundle:
            _bundle["fd"] = _sealed_code()
    fd = _bundle["fd"]
    if fd is None:
        return [sys.executable, "-I", "-S", "-B", str(HERE / "sandbox_child.py")], ()
    return [sys.executable, "-I", "-S", "-B", "-c", BOOT, str(fd), "sandbox_child"], (fd,)


class ForkServer:
    """The harness's end of the fork server: one request at a time (a lock), each answered at once."""

    def __init__(self, code_fd: int, env: dict):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", "-c", BOOT, str(code_fd), "sandbox_zygote", str(theirs.fileno())],
                pass_fds=(code_fd, theirs.fileno()), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        finally:
            theirs.close()
        self.sock, self.lock, self.owner = ours, threading.Lock(), os.getpid()

    def spawn(self, plan: dict, fds: list[int]) -> tuple[int, int]:
        """Fork a supervisor for `plan` with fds = stdin, stdout, stderr, payload, result, done -> (pid, pidfd)."""
        with self.lock:
            socket.send_fds(self.sock, [json.dumps(plan).encode()], fds)
            message, got, _, _ = socket.recv_fds(self.sock, 64, 1)
        if not message or len(got) != 1:
            for fd in got:
                os.close(fd)
            raise OSError("the sandbox fork server did not answer")
        return int(message), got[0]


class Launched:
    """One run's supervisor: its pid, a pidfd to wait on and signal it without a pid-reuse race, and (started
    without the fork server) the Popen object to reap."""

    def __init__(self, pid: int, pidfd: int | None, proc: subprocess.Popen | None = None):
        self.pid, self.pidfd, self.proc = pid, pidfd, proc

    def signal(self, sig: int) -> None:
        try:
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, sig)
            elif self.proc is not None:
                self.proc.send_signal(sig)
        except (ProcessLookupError, OSError):
            pass

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        if self.proc is not None and self.proc.poll() is None:
            proc = self.proc  # still leaving its namespaces (the kernel waits out RCU there): reap it later
            threading.Thread(target=proc.wait, name="axk1-sandbox-reaper", daemon=True).start()


def _fork_server(env: dict) -> ForkServer | None:
    """This process's fork server, started on first use; a forked harness process starts its own (two processes
    on one socket would read each other's answers). After 3 failures runs start the slow way."""
    with _lock:
        if "fd" not in _bundle:
            _bundle["fd"] = _sealed_code()
        server = _bundle.get("server")
        if server is not None and server.owner == os.getpid() and server.proc.poll() is None:
            return server
        if _bundle["fd"] is None or _bundle.get("failures", 0) >= 3 or not hasattr(os, "pidfd_open"):
            return None
        try:
            _bundle["server"] = ForkServer(_bundle["fd"], env)
        except OSError:
            _bundle["failures"] = _bundle.get("failures", 0) + 1
            return None
        return _bundle["server"]


def launch(plan: dict, stdio: tuple[int, int, int], fds: tuple[int, int, int], env: dict) -> Launched:
    """Start one run's supervisor on `plan`; fds = payload, result, done (their numbers go into the plan)."""
    server = _fork_server(env)
    if server is not None:
        try:
            pid, pidfd = server.spawn(dict(plan, env=env), [*stdio, *fds])
            return Launched(pid, pidfd)
        except OSError:
            with _lock:
                _bundle["failures"] = _bundle.get("failures", 0) + 1
                if _bundle.get("server") is server:
                    _bundle["server"] = None  # the next run starts a new one
    argv, code_fds = child_command()
    plan = dict(plan, payload_fd=fds[0], result_fd=fds[1], done_fd=fds[2], env=env, parent_pid=os.getpid())
    proc = subprocess.Popen([*argv, json.dumps(plan)], stdin=stdio[0], stdout=stdio[1], stderr=stdio[2],
                            cwd=plan["workdir"], env=env, start_new_session=True, close_fds=True,
                            pass_fds=(*fds, *code_fds))
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    return Launched(proc.pid, pidfd, proc)
