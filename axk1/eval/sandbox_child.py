"""The child side of the sandbox: run as `python -I -S -B sandbox_child.py SPEC.json` by axk1.eval.sandbox.

Standard library only and imports nothing from axk1: it starts in a fresh interpreter with no site processing
(fast start), confines itself, then runs the untrusted program. The order matters:
  1. resource limits (CPU seconds, address space, file size, process count, no core dumps);
  2. a private network namespace (root, or an unprivileged user namespace where the kernel allows one);
  3. as root: drop to an unprivileged uid, after re-pointing the import path at directory file descriptors
     (/proc/self/fd/N) so the interpreter can still import modules that live under a 0700 home directory;
  4. a Python audit hook (cannot be removed) that refuses process creation, signals to other processes, sockets,
     ctypes, writes outside the private directory and reading other processes' /proc entries;
  5. the job: `script` runs a file as __main__; `judge` loads a judge file that runs tests and writes results.
Layers 1-3 hold against native code; layer 4 closes what the OS layers leave open (e.g. a non-root user's
/tmp, or no namespaces).
"""

import json
import os
import resource
import sys

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
SPAWN_EVENTS = {"os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system", "os.startfile",
                "subprocess.Popen", "pty.spawn"}
PATH_EVENTS = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.symlink", "os.link", "os.chmod", "os.chown",
               "os.truncate", "os.utime", "os.chflags", "os.lchflags", "os.mkfifo", "os.mknod", "shutil.rmtree",
               "shutil.copyfile", "shutil.copytree", "shutil.move"}
BLOCKED_IMPORTS = {"cffi", "_posixsubprocess"}


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
    """Enter a new, empty network namespace (only a down loopback): connect() fails with ENETUNREACH."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) == 0:
            return "netns"
        if os.getuid() != 0 and libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
            return "userns+netns"
        return "none"
    except OSError:
        return "none"
    finally:
        for name in ("ctypes", "_ctypes", "ctypes._endian"):
            sys.modules.pop(name, None)


def _drop_privileges(uid: int, gid: int) -> None:
    """Become `uid`; keep imports working through descriptors opened while still allowed to (see module doc)."""
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
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def install_guard(workdir: str) -> None:
    """Audit hook that refuses what a graded program never needs. Raises PermissionError inside the program."""
    workdir = os.path.realpath(workdir)
    own_pid = str(os.getpid())
    realpath, fspath, isinstance_, str_, bytes_ = os.path.realpath, os.fspath, isinstance, str, bytes

    def inside(path) -> bool:
        if isinstance_(path, int):
            return True
        path = fspath(path)
        if isinstance_(path, bytes_):
            path = path.decode("utf-8", "replace")
        full = realpath(path)
        return full == workdir or full.startswith(workdir + "/")

    def foreign_proc(path) -> bool:
        if isinstance_(path, int):
            return False
        path = realpath(fspath(path) if not isinstance_(path, bytes_) else path.decode("utf-8", "replace"))
        parts = path.split("/")
        return len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() and parts[2] != own_pid

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (isinstance_(mode, str_) and any(c in mode for c in "wax+")) or bool(flags & WRITE_FLAGS)
            if writing and not inside(path):
                raise PermissionError(f"sandbox: writing outside the sandbox directory is not allowed: {path!r}")
            if foreign_proc(path):
                raise PermissionError(f"sandbox: reading other processes is not allowed: {path!r}")
        elif event in SPAWN_EVENTS:
            raise PermissionError(f"sandbox: {event} is not allowed")
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            if event != "os.kill" or str_(args[0]) != own_pid:
                raise PermissionError(f"sandbox: {event} is not allowed")
        elif event == "ctypes.dlopen" and args[0] is None:
            pass  # `import ctypes` opens the running program (numpy imports ctypes); finding symbols is refused
        elif event.startswith(("socket.", "ctypes.")):
            raise PermissionError(f"sandbox: {event} is not allowed (no network, no native calls)")
        elif event == "import" and args[0] in BLOCKED_IMPORTS:
            raise PermissionError(f"sandbox: importing {args[0]} is not allowed")
        elif event in PATH_EVENTS:
            for path in args[:2] if event in ("os.rename", "os.link", "shutil.move", "shutil.copyfile") else args[:1]:
                if path is not None and not inside(path):
                    raise PermissionError(f"sandbox: {event} outside the sandbox directory is not allowed")

    sys.addaudithook(hook)


def _run_script(path: str, guard: bool, workdir: str) -> None:
    import runpy

    if guard:
        install_guard(workdir)
    sys.argv = [path]
    runpy.run_path(path, run_name="__main__")


def _load_judge(path: str):
    import importlib.util

    loader = importlib.util.spec_from_file_location("_axk1_judge", path)
    judge = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(judge)
    return judge


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    workdir = spec["workdir"]
    sys.path.extend(spec.get("site_packages", []))
    import builtins

    # -S skips `site`, which is what defines exit() and quit(); programs call them.
    builtins.exit = builtins.quit = sys.exit
    # The judge reports through a descriptor opened before the privilege drop, in a directory the program
    # cannot open by name.
    result_fd = os.open(spec["result_path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    _set_limits(spec["limits"])
    network = _unshare_network() if spec.get("network_namespace", True) else "none"
    judge = _load_judge(spec["judge"]) if spec["mode"] == "judge" else None  # before the drop: it may live in /root
    if spec.get("drop_to") is not None and os.getuid() == 0:
        _drop_privileges(*spec["drop_to"])
    os.chdir(workdir)
    if spec["mode"] == "script":
        isolation = {"network": network, "uid": os.getuid(), "guard": bool(spec.get("guard", True))}
        os.write(result_fd, json.dumps({"isolation": isolation}).encode())
        os.close(result_fd)
        _run_script(spec["script"], spec.get("guard", True), workdir)
    elif judge is not None:
        judge.run(spec["payload"], result_fd, install_guard if spec.get("guard", True) else None, workdir)
    else:
        raise SystemExit(f"unknown sandbox mode {spec['mode']!r}")


if __name__ == "__main__":
    main()
