"""The child side of the sandbox: `main(plan)`, called in a process forked by the fork server (sandbox_zygote.py),
or `python -I -S -B sandbox_child.py PLAN_JSON` where there is none (axk1/eval/sandbox_boot.py decides).

Standard library only and nothing from the axk1 package (a fresh interpreter with no site processing starts
fast). Three processes, each with one job:

* supervisor (this process): resource limits, then new namespaces (sandbox_ns.py) or, where the kernel refuses
  them, the old network namespace and a subreaper. It forks the judge, waits for it, and kills whatever is left
  (in a PID namespace the judge does; without one, every descendant is found by ancestry). It also ends the run
  on its own when its parent dies (the harness, or the fork server that exits with it) or when its own clock, a
  few seconds past the harness's, runs out (a harness stopped or stuck): no run outlives its harness.
* judge (PID 1 of the new PID namespace): builds the read-only root, forks the runner, drops privileges (its own
  uid keeping CAP_KILL alone, or no capabilities in a user namespace), becomes non-dumpable, and only then reads
  the payload (tests and expected answers) from a descriptor the runner closed: nothing the runner can read holds
  an expected answer. It drives the tests (code_judge.py), decides the verdict, writes it to the result descriptor,
  kills every other process of the namespace and exits, which closes the harness's `done` pipe.
* runner (a uid of its own per run when the harness is root): closes the payload, result and done descriptors,
  restricts its files with Landlock where there are no namespaces (sandbox_landlock.py), installs the Python guard
  (sandbox_guard.py) and runs the untrusted code (code_runner.py), answering the judge over a pipe with outputs and
  plain values (sandbox_wire.py).

So the verdict never comes from the program's exit status or from anything the program can write: the program can
only answer the questions it is asked; sys.exit or os._exit in it leaves questions unanswered, which fails.
"""

import json
import os
import resource
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
SETUP_FAILED = 70  # the judge could not build the namespaced root: the harness retries without namespaces
BACKSTOP_S = 3.0  # the supervisor's own wall clock: the harness's limit plus this (the harness normally ends it)
sys.path.insert(0, HERE)  # the sibling modules, imported as top-level modules, then the folder leaves sys.path
import sandbox_files  # noqa: E402
import sandbox_landlock  # noqa: E402
import sandbox_ns  # noqa: E402
import sandbox_wire as wire  # noqa: E402
from sandbox_guard import install_guard, readable_roots  # noqa: E402

sys.path.remove(HERE)


def _set_limits(limits: dict) -> None:
    def cap(kind, value):
        soft, hard = resource.getrlimit(kind)
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        resource.setrlimit(kind, (value, value))

    cap(resource.RLIMIT_CPU, limits["cpu_s"])
    cap(resource.RLIMIT_AS, limits["memory_mb"] * 2**20)
    cap(resource.RLIMIT_FSIZE, limits["fsize_mb"] * 2**20)
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_NPROC, limits["nproc"])


def _unshare_network() -> str:
    """Without the full set of namespaces: at least an empty network namespace (connect() fails)."""
    try:
        if sandbox_ns.libc().unshare(CLONE_NEWNET) == 0:
            return "netns"
        if os.getuid() != 0 and sandbox_ns.libc().unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
            return "userns+netns"
    except OSError:
        pass
    return "none"


def _remap_imports() -> None:
    """Re-point the import path at directory descriptors opened while still root (/proc/self/fd/N), so modules
    under a 0700 home directory stay importable after the drop to an unprivileged uid (no namespaced root)."""
    mapping = {}
    for entry in sys.path:
        if entry and os.path.isdir(entry):
            mapping[entry] = f"/proc/self/fd/{os.open(entry, os.O_RDONLY | os.O_DIRECTORY)}"

    def remap(path: str) -> str:
        for src, dst in mapping.items():
            if path == src or path.startswith(src + "/"):
                return dst + path[len(src):]
        return path

    for module in list(sys.modules.values()):
        package_path = getattr(module, "__path__", None)
        if isinstance(package_path, list):
            package_path[:] = [remap(p) for p in package_path]
    sys.path[:] = [mapping.get(p, p) for p in sys.path if p in mapping]
    sys.path_importer_cache.clear()


def _become(ids, keep_kill: bool = False) -> None:
    """Drop to (uid, gid) when root outside a user namespace: the capabilities go with uid 0 (but CAP_KILL for
    the judge inside a PID namespace, where it ends every process of the run)."""
    if ids is not None and os.getuid() == 0:
        sandbox_ns.become(ids[0], ids[1], keep_kill)


def _import_jobs():
    """The test drivers, loaded before the root changes (their folder is not in the namespaced root)."""
    sys.path.insert(0, HERE)
    try:
        import code_judge
        import code_runner
    finally:
        sys.path.remove(HERE)
    return code_judge, code_runner


# ---- runner: the only process that runs untrusted code ----------------------------------------------------------
# What native code may read besides the guard's places (CPU counts for OpenBLAS and os.cpu_count, memory size)
NATIVE_READS = ("/sys/devices/system/cpu", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/etc/ld.so.cache")


def _runner(plan: dict, requests: int, replies: int, code_runner, landlock: bool) -> None:
    for fd in (plan["payload_fd"], plan["result_fd"], plan["done_fd"]):
        os.close(fd)  # the tests, the verdict and the end of the run stay with the judge
    sandbox_ns.die_with_parent()
    if landlock:  # no namespaces: the kernel still keeps the files, should the program switch the guard off
        # (sys.path as it stands: where the harness is root, descriptors opened before the drop, see _remap_imports)
        sandbox_landlock.restrict(sandbox_ns.libc(), [*sys.path, *readable_roots(plan["workdir"]), *NATIVE_READS],
                                  [plan["workdir"], "/dev/null"])
    guard = (lambda: install_guard(plan["workdir"])) if plan["guard"] else (lambda: None)
    if plan["mode"] == "script":
        import runpy

        os.close(requests)
        os.close(replies)
        guard()
        sys.argv = [plan["script"]]
        runpy.run_path(plan["script"], run_name="__main__")
        raise SystemExit(0)  # a normal interpreter exit: buffers flushed, non-daemon threads joined
    code_runner.serve(requests, replies, guard, plan["workdir"])
    os._exit(0)


# ---- judge: trusted, never runs untrusted code --------------------------------------------------------------
def _confine(plan: dict, isolation: dict) -> None:
    """In the judge, before the runner exists: the namespaced root, and no way back to privileges for either."""
    namespaced = isolation["namespaces"] != "none"
    sandbox_ns.die_with_parent()
    os.setpgid(0, 0)  # its own group (PID 1 of the namespace, where that exists): the program's killpg misses it
    if namespaced:
        extra = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *plan["site_packages"],
                 os.path.dirname(os.path.realpath(sys.executable))]
        isolation.update(sandbox_ns.build_root(plan["root_dir"], plan["workdir"], [p for p in extra if p]))
    if os.getuid() == 0 and plan["drop_to"] is not None:  # root outside a user namespace: two uids follow
        sandbox_ns.drop_bounding_set()
        if not namespaced:
            _remap_imports()
    elif os.getuid() == 0:  # uid 0 of a user namespace: keep the uid, lose every capability
        sandbox_ns.drop_capabilities()
    sandbox_ns.no_new_privs()
    os.chdir(plan["workdir"])


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _judge(plan: dict, isolation: dict) -> None:
    result_fd = plan["result_fd"]
    code_judge, code_runner = _import_jobs() if plan["mode"] != "script" else (None, None)
    try:
        _confine(plan, isolation)
    except OSError as e:
        _write_all(result_fd, json.dumps({"setup_error": str(e), "isolation": isolation}).encode())
        os._exit(SETUP_FAILED)
    namespaced = isolation["namespaces"] != "none"
    if not namespaced:
        isolation["landlock"] = sandbox_landlock.version(sandbox_ns.libc())
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(req_w)
        os.close(rep_r)
        os.setpgid(0, 0)
        _become(plan["drop_to"])
        _runner(plan, req_r, rep_w, code_runner, isolation.get("landlock", "none") != "none")
    os.close(req_r)
    os.close(rep_w)
    # A uid of its own (the program cannot signal it), never dumpable (no ptrace, no /proc/PID/fd or mem for the
    # runner), deaf to SIGINT.
    _become(plan["judge_ids"], keep_kill=namespaced)
    sandbox_ns.set_dumpable(False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    isolation.update(uid=os.getuid() if plan["drop_to"] is None else plan["drop_to"][0], judge_uid=os.getuid())
    try:
        with os.fdopen(plan["payload_fd"], "rb") as f:
            payload = json.loads(f.read())  # read only now: the runner, forked above, never held it
        if plan["mode"] == "script":
            os.close(req_w)
            report = {"exit": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}
        else:
            report = code_judge.judge(payload, wire.Runner(pid, req_w, rep_r))
    except Exception as e:  # noqa: BLE001 - a fault of the judge itself, reported as such, never as a verdict
        report = {"judge_error": f"{type(e).__name__}: {e}"[:500]}
    report["isolation"] = isolation
    _write_all(result_fd, json.dumps(report).encode())
    if namespaced:  # lingering threads or processes of the program do not matter: the verdict is written
        sandbox_ns.kill_all_but_me()
    os._exit(0)  # closes `done`: the harness reads the verdict (without namespaces, after the supervisor's sweep)


# ---- supervisor -----------------------------------------------------------------------------------------------
def main(plan: dict | None = None) -> None:
    """The supervisor: from the command line (PLAN_JSON), or called by the fork server with the plan."""
    plan = plan if plan is not None else json.loads(sys.argv[1])
    sys.path.extend(plan["site_packages"])  # graded programs may import what the harness has installed (numpy)
    import builtins

    # -S skips `site`, which is what defines exit() and quit(); programs call them.
    builtins.exit = builtins.quit = sys.exit
    _set_limits(plan["limits"])
    # sbx-<the run folder's random suffix>: every process of the run carries it (tests look for leftovers by it)
    sandbox_ns.set_name("sbx-" + os.path.basename(os.path.dirname(plan["workdir"]))[-8:])
    # The folder holding the run's folder, opened now: once the harness is gone nobody else removes the run's folder,
    # and in a mount namespace the judge's pivot_root takes the host's paths from this process too. The judge
    # closes it at once (the program must never hold a way into the host's files).
    run_folder = os.path.dirname(plan["workdir"])
    above = os.open(os.path.dirname(run_folder), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    isolation = {"guard": bool(plan["guard"]), "namespaces": "none"}
    if plan["namespaces"]:
        try:
            isolation["namespaces"] = sandbox_ns.enter_namespaces(plan["network_namespace"])
            isolation["network"] = "netns" if plan["network_namespace"] else "host"
        except OSError as e:
            isolation["namespaces_error"] = str(e)
    if isolation["namespaces"] == "none":
        isolation["network"] = _unshare_network() if plan["network_namespace"] else "none"
        sandbox_ns.set_subreaper()
    namespaced = isolation["namespaces"] != "none"
    judge: list[int] = []

    def stop(signum, frame):  # a wall clock ran out, or the harness is gone: everything below goes, then this
        if namespaced and judge:
            os.kill(judge[0], signal.SIGKILL)  # PID 1 of the namespace: the kernel kills the rest with it,
            os.waitpid(judge[0], 0)  # and its exit completes only once they are all gone
        elif not namespaced:
            sandbox_ns.kill_descendants(os.getpid())
        if signum == signal.SIGALRM and os.fstat(plan["result_fd"]).st_size == 0:  # our own clock: say so
            _write_all(plan["result_fd"], json.dumps({"supervisor_timeout": True, "isolation": isolation}).encode())
        if signum == signal.SIGTERM and os.getppid() != plan["parent_pid"]:
            # the harness died (SIGKILL, the OOM killer): it will never remove the run's folder, so this does (on
            # the harness's own timeout it still reads the outputs there and removes the folder itself)
            sandbox_files.remove_tree(os.path.basename(run_folder), dir_fd=above)
        os._exit(128 + signal.SIGKILL)

    signal.signal(signal.SIGTERM, stop)  # before the fork: a timeout may come at any moment
    # The harness's end must not leave the run going (without a PID namespace its processes would go to init and
    # spin on): the death of our parent (the fork server, which exits with the harness, or the harness itself)
    # sends the same SIGTERM. Set after the namespaces are entered (a change of credentials clears it); a parent
    # already gone before this call sends nothing, hence the check after it.
    sandbox_ns.die_with_parent(signal.SIGTERM)
    if os.getppid() != plan["parent_pid"]:
        stop(signal.SIGTERM, None)
    # A harness alive but stuck (or stopped) never sends its SIGTERM: our own clock, a little past the harness's,
    # so that the harness's fires first whenever it runs (the run is then reported as timed out either way).
    signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, plan["limits"]["wall_s"] + BACKSTOP_S)
    pid = os.fork()
    if pid == 0:
        os.close(above)
        for sig in (signal.SIGTERM, signal.SIGALRM):  # the program's own alarm() must not run the sweep
            signal.signal(sig, signal.SIG_DFL)
        _judge(plan, isolation)
        os._exit(0)
    judge.append(pid)
    os.close(plan["payload_fd"])
    if namespaced:
        os.close(plan["done_fd"])  # the judge's exit, after it killed the namespace's processes, ends the run
    status = os.waitpid(pid, 0)[1]
    signal.setitimer(signal.ITIMER_REAL, 0)
    for sig in (signal.SIGTERM, signal.SIGALRM):  # the judge is done: the sweep below ends the run
        signal.signal(sig, signal.SIG_IGN)
    code = os.waitstatus_to_exitcode(status)
    if os.fstat(plan["result_fd"]).st_size == 0:  # the judge died before its report: say how
        _write_all(plan["result_fd"], json.dumps({"judge_status": code, "isolation": isolation}).encode())
    if not namespaced:
        sandbox_ns.kill_descendants(os.getpid())  # in a PID namespace the judge did this before it exited
        os.close(plan["done_fd"])
    os._exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
