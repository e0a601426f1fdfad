"""Run untrusted Python programs: each run in its own namespaces (where the kernel allows) with limits, a private
directory, a scrubbed environment and no network. The confinement itself happens in the child
(axk1/eval/sandbox_child.py, started through sandbox_boot.py); this side prepares the directory, starts the run,
enforces the wall-clock timeout and collects the result. docs/evaluation.md, "Sandbox", says what is contained at
which layer.

    result = run_python("print(input()[::-1])", stdin="abc", limits=Limits(wall_s=5))
    result.stdout == "cba\\n"
"""

from __future__ import annotations

import functools
import json
import logging
import os
import select
import signal
import secrets
import site
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from axk1.eval.sandbox_boot import launch
from axk1.eval.sandbox_files import remove_tree

# Where the harness is root, each run's program gets a uid (and gid) of its own, drawn from 2^24 ids no account uses:
# the kernel then refuses its signals (kill, and pidfd_send_signal, which no audit event sees) to any other run's
# processes, and RLIMIT_NPROC, which counts processes per uid, is its own (a shared `nobody` pooled both).
RUN_UID_BASE = 1 << 30
JUDGE_IDS = (65533, 65533)  # the sandbox's judge: another uid, so the program can neither signal nor trace it
_NAMESPACES: dict = {"usable": None}  # None until a run tells; False once the kernel refused them
_NAMESPACES_LOCK = threading.Lock()
_RUNS = threading.local()  # .stop: the _StopSignal of the run_parallel whose job this thread runs (None outside one)
log = logging.getLogger(__name__)


class RunsStopped(Exception):
    """A run cut short because its run_parallel was interrupted (Ctrl-C, SIGTERM): it has no result."""


class _StopSignal:
    """A pipe that turns readable once set: each run of a run_parallel polls it beside its own pipes, so an
    interrupt ends the runs in flight at once, as their wall clock would, instead of after their whole limit."""

    def __init__(self):
        self.r, self.w = os.pipe()

    def set(self) -> None:
        os.write(self.w, b"x")  # never read back: it stays readable for every run that polls it

    def is_set(self) -> bool:
        poller = select.poll()  # (not select(): it refuses descriptors past 1023, which a busy trainer has)
        poller.register(self.r, select.POLLIN)
        return bool(poller.poll(0))

    def close(self) -> None:
        os.close(self.r)
        os.close(self.w)


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0  # wall clock for the whole run, enforced here (its supervisor then kills every process;
    # it also keeps a clock of its own, a few seconds longer, for a harness that stopped or hangs)
    cpu_s: int = 10  # RLIMIT_CPU, per process
    memory_mb: int = 1024  # RLIMIT_AS, per process (address space; the interpreter itself needs ~30 MB)
    fsize_mb: int = 64  # RLIMIT_FSIZE: the largest file (and captured stdout) the program may write
    nproc: int = 64  # RLIMIT_NPROC for the unprivileged uid: bounds a fork bomb even without the Python guard
    output_bytes: int = 1 << 20  # stdout kept; stderr: its first output_bytes and last 64 KiB

    def __post_init__(self):
        for name in ("wall_s", "cpu_s", "memory_mb", "fsize_mb", "nproc", "output_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"sandbox limit {name} must be > 0, got {getattr(self, name)}")


@dataclass
class SandboxResult:
    returncode: int | None  # None when killed at the wall-clock limit
    stdout: str
    stderr: str
    wall_s: float
    timed_out: bool
    signal: int | None = None  # the signal that ended the program (e.g. SIGKILL from RLIMIT_CPU's hard limit)
    report: dict = field(default_factory=dict)  # what the child wrote to its result channel (judge results)
    pid: int = 0  # the run's supervisor (its session and process group id)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


@functools.lru_cache(maxsize=1)
def _site_packages() -> list[str]:
    """The harness's site-packages, so graded programs may import what is installed (numpy, ...)."""
    paths = site.getsitepackages() if hasattr(site, "getsitepackages") else []
    return [p for p in paths if os.path.isdir(p)]


def _drop_target() -> tuple[int, int] | None:
    if os.getuid() != 0:
        return None
    uid = RUN_UID_BASE + secrets.randbelow(1 << 24)
    return uid, uid


def _read(path: Path, limit: int) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        return ""
    text = data[:limit].decode("utf-8", "replace")
    return text + "\n[output truncated]" if len(data) > limit else text


class _Stderr:
    """Descriptor 2 of every process of a run: a pipe this side drains while it waits, keeping the first `limit`
    bytes and the last TAIL (where a traceback that ends a run is). A pipe, not a file: RLIMIT_FSIZE does not apply
    to it, so no amount of debugging output fails a program (a shared file failed a correct one at 64 MB in all)."""

    TAIL = 64 << 10

    def __init__(self, limit: int):
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        self.limit, self.head, self.tail, self.total, self.eof = limit, bytearray(), bytearray(), 0, False

    def drain(self) -> None:
        """Read what the pipe holds now (never waits)."""
        while not self.eof:
            try:
                data = os.read(self.r, 1 << 16)
            except BlockingIOError:
                return
            if not data:
                self.eof = True
                return
            self.total += len(data)
            room = self.limit - len(self.head)
            self.head += data[:max(room, 0)]
            if len(data) > room:
                self.tail += data[max(room, 0):]
                del self.tail[:-self.TAIL]

    def close(self) -> str:
        """Take the rest, close the pipe, and give the text kept."""
        self.drain()
        os.close(self.r)
        text = self.head.decode("utf-8", "replace")
        omitted = self.total - len(self.head) - len(self.tail)
        if omitted:
            text += f"\n[output truncated: {omitted} bytes left out]\n"
        return text + self.tail.decode("utf-8", "replace")


def _wait_done(run, done_r: int, timeout: float, err: _Stderr, stop_r: int | None = None) -> str:
    """"done" if the run ended within `timeout` (its `done` pipe reached end-of-file: the judge exited after the
    run's processes; or the supervisor exited), "late" if not, "stopped" once `stop_r` (a _StopSignal's) turned
    readable first. Meanwhile the run's stderr pipe is drained (a writer blocked on a full pipe would stall).
    poll() wakes at once; Popen.wait(timeout) sleeps in steps of up to 50 ms, which would dominate short runs."""
    poller = select.poll()
    poller.register(done_r, select.POLLIN | select.POLLHUP)
    if stop_r is not None:
        poller.register(stop_r, select.POLLIN)
    if not err.eof:
        poller.register(err.r, select.POLLIN | select.POLLHUP)
    if run.pidfd is not None:
        poller.register(run.pidfd, select.POLLIN)
    polling = run.pidfd is None and run.proc is not None  # no pidfd: poll the process in short steps
    deadline = time.monotonic() + timeout
    while True:
        if polling and run.proc.poll() is not None:
            return "done"
        left = deadline - time.monotonic()
        if left <= 0:
            return "late"
        for fd, _ in poller.poll(min(left, 0.02) * 1000 if polling else left * 1000):
            if fd == stop_r:
                return "stopped"
            if fd != err.r:
                return "done"
            err.drain()
            if err.eof:
                poller.unregister(err.r)


def _plan(mode: str, base: Path, limits: Limits, guard: bool, network: bool, namespaces: bool) -> dict:
    drop_to = _drop_target()
    return {"mode": mode, "workdir": str(base / "work"), "root_dir": str(base / "root"), "limits": asdict(limits),
            "site_packages": list(_site_packages()), "drop_to": drop_to,
            "judge_ids": JUDGE_IDS if drop_to is not None else None, "guard": guard,
            "network_namespace": network, "namespaces": namespaces, "script": str(base / "work" / "main.py")}


def _note_isolation(isolation: dict, asked: bool) -> None:
    """Remember (and say once per process) when the kernel refused namespaces: later runs skip the attempt. Only a
    refusal counts (a run killed at its time limit reports nothing, which says nothing about the kernel)."""
    if not asked or not (isolation.get("namespaces_error") or isolation.get("setup_error")):
        return
    with _NAMESPACES_LOCK:
        if _NAMESPACES["usable"] is False:
            return
        _NAMESPACES["usable"] = False
        log.warning("sandbox: no namespaces here (%s); programs run with the Python guard, resource limits, an "
                    "unprivileged uid where the harness is root, a network namespace if allowed (%s) and a supervisor "
                    "that kills all their descendants. Not contained: native code (numpy; ctypes with the guard off) "
                    "reading world-readable files or writing world-writable folders, the host's processes being "
                    "visible, and, where the harness is not root, a program sharing its uid. See "
                    "docs/evaluation.md, 'Sandbox'.",
                    isolation.get("namespaces_error") or isolation.get("setup_error") or "refused",
                    isolation.get("network", "none"))


def _run(mode: str, base: Path, stdin: str | bytes, limits: Limits, payload: dict, guard: bool = True,
         network: bool = True, namespaces: bool | None = None) -> SandboxResult:
    """Start the child on `payload` inside `base` (already holding `work/`), wait, clean up, collect."""
    stop = getattr(_RUNS, "stop", None)
    if stop is not None and stop.is_set():  # interrupted while this job was on its way here: start nothing
        raise RunsStopped("interrupted before the run started")
    use_ns = _NAMESPACES["usable"] is not False if namespaces is None else namespaces
    work = base / "work"
    plan = _plan(mode, base, limits, guard, network, use_ns)
    (base / "root").mkdir(exist_ok=True)  # the namespaced root is mounted here (visible only inside the run)
    (base / "stdin").write_bytes(stdin.encode() if isinstance(stdin, str) else stdin)
    # The program may pass through `base` to reach work/ but not list it; stdin and outputs stay private.
    os.chmod(base, 0o711)
    os.chmod(base / "stdin", 0o600)
    if plan["drop_to"] is not None:
        for path in [work, *work.rglob("*")]:
            os.chown(path, *plan["drop_to"])
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8",
           "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    # The payload (tests, expected answers) and the result travel in files without a name: nothing in the run can
    # open them by path, and the runner closes its copies before the program starts.
    with tempfile.TemporaryFile() as payload_file, tempfile.TemporaryFile() as result_file, \
            open(base / "stdin", "rb") as fin, open(base / "stdout", "wb") as fout:
        payload_file.write(json.dumps(payload).encode())
        payload_file.seek(0)
        os.chmod(base / "stdout", 0o600)
        start = time.perf_counter()
        done_r, done_w = os.pipe()  # end of file once the judge (and every process of the run) is gone
        err = _Stderr(limits.output_bytes)
        try:
            run = launch(plan, (fin.fileno(), fout.fileno(), err.w),
                         (payload_file.fileno(), result_file.fileno(), done_w), env)
        except BaseException:
            err.close()
            raise
        finally:
            os.close(done_w)
            os.close(err.w)
        try:
            ended = _wait_done(run, done_r, limits.wall_s, err, stop.r if stop is not None else None)
            timed_out = ended != "done"
            if timed_out:  # the supervisor kills everything below it (a whole PID namespace, or every descendant)
                run.signal(signal.SIGTERM)
                if _wait_done(run, done_r, 2.0, err) != "done":
                    run.signal(signal.SIGKILL)  # its judge follows (parent-death signal), and the namespace with it
                    _wait_done(run, done_r, 2.0, err)
        finally:
            os.close(done_r)
            run.close()
            stderr = err.close()
        if ended == "stopped":  # the caller (run_judge) still removes the folder
            raise RunsStopped("interrupted while the run was going")
        wall = time.perf_counter() - start
        result_file.seek(0)
        report_text = result_file.read(64 << 20).decode("utf-8", "replace")
    try:
        report = json.loads(report_text) if report_text.strip() else {}
    except json.JSONDecodeError:
        report = {"judge_error": "unreadable result channel", "raw": report_text[:200]}
    if "setup_error" in report:  # the kernel let us in but refused a mount: run again without namespaces
        _note_isolation({**report.get("isolation", {}), "namespaces": "none", "setup_error": report["setup_error"]},
                        True)
        return _run(mode, base, stdin, limits, payload, guard, network, namespaces=False)
    _note_isolation(report.get("isolation", {}), use_ns)
    timed_out = timed_out or bool(report.get("supervisor_timeout"))  # our clock was late: the supervisor's ran out
    if isinstance(report.get("exit"), int):  # a script run: the program's own exit status
        code = report["exit"]
    else:  # a judge run: 0 once it reported; without a report, how the judge ended (or None: unknown)
        code = report.get("judge_status", 0 if report.get("verdict") or report.get("results") is not None else None)
    return SandboxResult(
        returncode=None if timed_out else code, stdout=_read(base / "stdout", limits.output_bytes),
        stderr=stderr, wall_s=wall, timed_out=timed_out,
        signal=-code if code is not None and code < 0 else None, report=report, pid=run.pid)


def _fresh_dir(files: dict[str, str] | None) -> Path:
    base = Path(tempfile.mkdtemp(prefix="axk1-sandbox-"))
    (base / "work").mkdir()
    for name, text in (files or {}).items():
        target = (base / "work" / name).resolve()
        if not str(target).startswith(str(base / "work")):
            raise ValueError(f"sandbox file name {name!r} points outside the sandbox directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return base


def _remove_run_folder(base: Path) -> None:
    """Whatever the program left in it (folders nested past any recursion limit, folders it made unreadable):
    the run's result stands, and a folder that stays is only logged."""
    if not remove_tree(base):
        log.warning("sandbox: could not remove the run folder %s", base)


def run_python(code: str, stdin: str | bytes = "", limits: Limits = Limits(), files: dict[str, str] | None = None,
               guard: bool = True, network_namespace: bool = True, namespaces: bool | None = None) -> SandboxResult:
    """Run `code` as __main__ in a fresh confined process. guard=False leaves only the OS layers (for tests);
    namespaces=False forces the fallback used where the kernel refuses them (None: use them where allowed).

    This is a plain program run: its exit status is the program's to choose. Graders use run_judge, whose
    verdict the program cannot write."""
    base = _fresh_dir({**(files or {}), "main.py": code})
    try:
        result = _run("script", base, stdin, limits, {}, guard, network_namespace, namespaces)
        result.report = result.report.get("isolation", result.report)
        return result
    finally:
        _remove_run_folder(base)


def run_judge(payload: dict, limits: Limits, guard: bool = True, namespaces: bool | None = None) -> SandboxResult:
    """Grade in the sandbox: payload {"kind": "tests", ...} (LiveCodeBench) or {"kind": "check", ...} (a solution
    and its asserts); see code_judge.py. The verdict is in result.report."""
    base = _fresh_dir(None)
    try:
        return _run("judge", base, "", limits, payload, guard, True, namespaces)
    finally:
        _remove_run_folder(base)


def _job(stop: _StopSignal, fn, item):
    _RUNS.stop = stop  # the runs this job starts (in this thread) poll it
    try:
        return fn(item)
    finally:
        _RUNS.stop = None


def run_parallel(fn, items: list, workers: int | None = None, desc: str | None = None) -> list:
    """fn(item) for every item on `workers` threads (each waits on its own child process), in order.

    Cut short (Ctrl-C, the CLI's Terminated, a job that raised), it starts no queued job and stops the runs in
    flight as their wall clock would (their folders removed), then raises: an interrupted eval ended only once
    every queued program had run (a minute and more), and Python joins a pool's threads at exit anyway."""
    workers = max(1, workers or os.cpu_count() or 1)
    results: list = [None] * len(items)
    progress = None
    if desc and len(items) > 1:
        from tqdm import tqdm

        progress = tqdm(total=len(items), desc=desc, leave=False)
    stop, finished = _StopSignal(), False
    pool = ThreadPoolExecutor(workers)
    try:
        futures = {pool.submit(_job, stop, fn, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if progress:
                progress.update(1)
        finished = True
    finally:
        if not finished:
            stop.set()
        pool.shutdown(wait=True, cancel_futures=not finished)  # the stopped runs end within seconds
        stop.close()
        if progress:
            progress.close()
            if not sys.stderr.isatty():  # its line ends on a `\r` in a log: the next line was glued to it
                print(file=sys.stderr, flush=True)
    return results
