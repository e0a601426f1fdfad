"""The Python layer of the sandbox: an audit hook (it cannot be removed) installed in the process that runs the
untrusted program, just before its first line (standard library only; loaded by sandbox_child.py).

It refuses what a graded program never needs: starting processes, signals to other processes, sockets, native
calls through ctypes, writing outside its folder, reading outside its folder and the Python installation, and
descriptors on folders outside its folder (an `os.open(name, dir_fd=d)` event carries only `name`, so a folder
descriptor opened elsewhere would let a relative name land anywhere). The kernel layers (sandbox_ns.py) hold
without it; this layer is what remains where the kernel refuses namespaces, and it fails a program early and with
a clear message.
"""

import os
import re
import sys

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
SPAWN_EVENTS = {"os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system", "os.startfile",
                "subprocess.Popen", "pty.spawn"}
# event -> (position of a path argument, position of the dir_fd it is relative to or None), for each path
PATH_EVENTS = {"os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),), "os.rename": ((0, 2), (1, 3)),
               "os.link": ((0, 2), (1, 3)), "os.symlink": ((0, None), (1, 2)), "os.chmod": ((0, 2),),
               "os.chown": ((0, 3),), "os.utime": ((0, 3),), "os.mkfifo": ((0, 2),), "os.mknod": ((0, 3),),
               "os.truncate": ((0, None),), "os.chflags": ((0, None),), "os.lchflags": ((0, None),),
               "shutil.rmtree": ((0, None),), "shutil.copyfile": ((0, None), (1, None)),
               "shutil.copytree": ((0, None), (1, None)), "shutil.move": ((0, None), (1, None))}
LIST_EVENTS = {"os.listdir", "os.scandir"}
# The ways to the hook's own state: gc hands out every object (the hook's closure cells are writable), a traceback's
# frame (the PermissionError below is raised inside the hook) or a tracer's frames hold its locals, and a function's
# code can be swapped. A graded program needs none of them.
INTROSPECTION_EVENTS = {"gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames",
                        "sys.settrace", "sys.setprofile"}
FRAME_ATTRIBUTES = {"tb_frame", "gi_frame", "cr_frame", "ag_frame"}
BLOCKED_IMPORTS = {"cffi", "_posixsubprocess"}
# The program's own descriptors by name: allowed as written (resolving them would give the file's real place).
OWN_FD = re.compile(r"^/(proc/self/fd/\d+|dev/fd/\d+|dev/std(in|out|err))$")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/etc/localtime")


def readable_roots(workdir: str) -> tuple[str, ...]:
    """Where a program may read: its folder, the interpreter and its site-packages, system libraries, a few
    devices, its own /proc entry. /etc/passwd, home folders, other runs' folders, datasets are not among them."""
    roots = {workdir, *DEVICES, f"/proc/{os.getpid()}"}
    for path in [*sys.path, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *SYSTEM_READ]:
        if path:  # a /proc/self/fd/N entry (see _drop_privileges) resolves to the folder it stands for
            roots.add(os.path.realpath(path))
    return tuple(sorted(roots))


def install_guard(workdir: str) -> None:
    """Audit hook that refuses what a graded program never needs. Raises PermissionError inside the program."""
    workdir = os.path.realpath(workdir)
    readable = readable_roots(workdir)
    own_pid = str(os.getpid())
    realpath, fspath, isdir, join, str_, bytes_, type_ = (os.path.realpath, os.fspath, os.path.isdir,
                                                          os.path.join, str, bytes, type)
    own_fd = OWN_FD.match
    import pathlib
    path_types = (str, bytes, pathlib.PosixPath, pathlib.PurePosixPath)

    def text(path) -> str:
        # Only types whose conversion runs no code of the program's: a path-like object of its own (or a subclass
        # overriding __fspath__ or __str__) would run the program inside the hook, with the hook's frames above it.
        if type_(path) not in path_types:
            refuse(f"paths must be str, bytes or pathlib paths, not {type_(path).__name__}")
        path = fspath(path)
        return path.decode("utf-8", "replace") if type_(path) is bytes_ else path

    def under(full: str, roots) -> bool:
        return any(full == r or full.startswith(r + "/") for r in roots)

    def inside(path) -> bool:
        if type_(path) is int:
            return True
        path = text(path)
        return bool(own_fd(path)) or path == "/dev/null" or under(realpath(path), (workdir,))

    def refuse(message: str):
        raise PermissionError(f"sandbox: {message}")

    def on_open(path, mode, flags) -> None:
        if type_(path) is int:
            return
        name = text(path)
        writing = (type_(mode) is str_ and any(c in mode for c in "wax+")) or bool(flags & WRITE_FLAGS)
        if own_fd(name):
            return
        full = realpath(name)
        if writing and not (under(full, (workdir,)) or full == "/dev/null"):
            refuse(f"writing outside the sandbox directory is not allowed: {name!r}")
        if not under(full, readable):
            refuse(f"reading outside the sandbox directory and the Python installation is not allowed: {name!r}")
        if mode is None:  # os.open: the only way to a descriptor on a folder
            if not name.startswith("/") and ".." in name.split("/"):
                refuse(f"os.open of a relative path with '..' is not allowed: {name!r}")
            if not under(full, (workdir,)) and isdir(full):
                refuse(f"descriptors on folders outside the sandbox directory are not allowed: {name!r}")

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            on_open(*args)
        elif event in SPAWN_EVENTS or event in INTROSPECTION_EVENTS:
            refuse(f"{event} is not allowed")
        elif event == "object.__getattr__" and args[1] in FRAME_ATTRIBUTES:
            refuse(f"reading {args[1]} is not allowed")
        elif event == "object.__setattr__" and args[1] == "__code__":
            refuse("replacing a function's code is not allowed")
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            if event != "os.kill" or str_(args[0]) != own_pid:
                refuse(f"{event} is not allowed")
        elif event == "ctypes.dlopen" and args[0] is None:
            pass  # `import ctypes` opens the running program (numpy imports ctypes); finding symbols is refused
        elif event.startswith(("socket.", "ctypes.")):
            refuse(f"{event} is not allowed (no network, no native calls)")
        elif event == "import" and args[0] in BLOCKED_IMPORTS:
            refuse(f"importing {args[0]} is not allowed")
        elif event in PATH_EVENTS:
            for i, fd_at in PATH_EVENTS[event]:
                if i >= len(args) or args[i] is None:
                    continue
                path, fd = args[i], args[fd_at] if fd_at is not None and fd_at < len(args) else -1
                if type_(fd) is int and fd >= 0 and type_(path) is not int and not text(path).startswith("/"):
                    # relative to a folder descriptor (-1: none): judge the place it really names
                    path = join(realpath(f"/proc/self/fd/{fd}"), text(path))
                if not inside(path):
                    refuse(f"{event} outside the sandbox directory is not allowed")
        elif event in LIST_EVENTS and args and args[0] is not None and type_(args[0]) is not int:
            if not under(realpath(text(args[0])), readable):
                refuse(f"listing {text(args[0])!r} is not allowed")

    sys.addaudithook(hook)
