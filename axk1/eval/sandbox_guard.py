"""The Python layer of the sandbox: an audit hook (it cannot be removed) installed in the process that runs the
untrusted program, just before its first line (standard library only; loaded by sandbox_child.py).

It refuses what a graded program never needs: starting processes, signals to other processes, sockets, native
calls through ctypes, writing outside its folder, reading outside its folder and the Python installation, and
descriptors on folders outside its folder (an `os.open(name, dir_fd=d)` event carries only `name`, so a folder
descriptor opened elsewhere would let a relative name land anywhere). The kernel layers (sandbox_ns.py) hold
without it; this layer is what remains where the kernel refuses namespaces, and it fails a program early and with
a clear message.
"""

import fcntl
import os
import re
import sys
from socket import AF_UNIX

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
SPAWN_EVENTS = {"os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system", "os.startfile",
                "subprocess.Popen", "pty.spawn"}
# event -> (position of a path argument, position of the dir_fd it is relative to or None), for each path
PATH_EVENTS = {"os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),), "os.rename": ((0, 2), (1, 3)),
               "os.link": ((0, 2), (1, 3)), "os.symlink": ((1, 2),), "os.chmod": ((0, 2),),
               "os.chown": ((0, 3),), "os.utime": ((0, 3),), "os.mkfifo": ((0, 2),), "os.mknod": ((0, 3),),
               "os.truncate": ((0, None),), "os.chflags": ((0, None),), "os.lchflags": ((0, None),),
               "shutil.rmtree": ((0, None),), "shutil.copyfile": ((0, None), (1, None)),
               "shutil.copytree": ((0, None), (1, None)), "shutil.move": ((0, None), (1, None))}
LIST_EVENTS = {"os.listdir", "os.scandir"}
# The ways into the hook while it runs, or past its stand-ins: a tracer sees (and rewrites) the variables of its
# running frames, another thread's frames may be inside it, gc hands out every object, and a function's code can be
# swapped. A graded program needs none of them. (A traceback's frames are finished: the program may read them.)
INTROSPECTION_EVENTS = {"gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames",
                        "sys.settrace", "sys.setprofile"}
# cffi: native calls; _posixsubprocess: loaded once, disarmed (_disarm_fork_exec); readline: writes and reads history
# files anywhere, with no audit event. And CPython's own test and experimental modules (_testcapi, _xxsubinterpreters,
# ...): raw C APIs, among them subinterpreters started where no hook sees it (_testcapi.run_in_subinterp).
BLOCKED_IMPORTS = {"cffi", "_posixsubprocess", "readline"}
BLOCKED_IMPORT_PREFIXES = ("_test", "_xx")
# A subinterpreter has audit hooks of its own, none: code run there would be outside the guard.
NEW_INTERPRETER = "cpython.PyInterpreterState_New"
# Events refused outright: the network, native calls, the host's log, native code in sqlite3.
REFUSED_PREFIXES = ("socket.", "ctypes.", "syslog.", "sqlite3.enable_load_extension", "sqlite3.load_extension")
# The program's own descriptors by name: allowed as written (resolving them would give the file's real place), but
# only for what the descriptor itself allows: reopening one for writing makes a new, writable descriptor on the same
# file (a read-only /proc/self/mem, reopened, rewrote the guard's functions in memory).
OWN_FD = re.compile(r"^/(proc/self/fd/\d+|dev/fd/\d+|dev/std(in|out|err))$")
STD_NAMES = ("/dev/stdin", "/dev/stdout", "/dev/stderr")
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


def _no_fork_exec(*args, **kwargs):
    """Stands in for _posixsubprocess.fork_exec, which starts a process without raising an audit event."""
    raise PermissionError("sandbox: starting processes is not allowed (_posixsubprocess.fork_exec)")


def _disarm_fork_exec() -> None:
    """Import _posixsubprocess now, with its fork_exec replaced, so that `import subprocess` (asyncio imports it)
    works and starting a process still fails. The real function goes with this frame; a second copy would need
    the module loaded again, and that import is refused (BLOCKED_IMPORTS)."""
    try:
        import _posixsubprocess
    except ImportError:
        return
    _posixsubprocess.fork_exec = _no_fork_exec
    if "subprocess" in sys.modules:  # imported before the guard: it holds its own name for the function
        sys.modules["subprocess"]._fork_exec = _no_fork_exec


def _clearing_tracers_is_a_no_op() -> None:
    """sys.settrace(None) and sys.setprofile(None) set no tracer (doctest calls them): they return at once. Their
    audit events carry no argument, so the hook cannot tell them from setting one; any other value still reaches the
    real function, and its event is refused."""

    def settrace(function, real=sys.settrace):
        if function is not None:
            real(function)

    def setprofile(function, real=sys.setprofile):
        if function is not None:
            real(function)

    sys.settrace, sys.setprofile = settrace, setprofile


def resolver(lstat, readlink, getcwd, exists):
    """os.path.realpath (missing parts kept as written, as it does), from the C calls given alone.

    No `try` here or in the hook: a program's signal handler runs between the hook's bytecodes, and an OSError it
    raised inside `try: lstat(...) except OSError` read as "no such entry", so a link was kept as written and not
    followed. `exists` (os.access, which answers False instead of raising) asks first; any error after it refuses."""

    def resolve(path: str, lstat=lstat, readlink=readlink, getcwd=getcwd, exists=exists) -> str:
        if not path.startswith("/"):
            path = getcwd() + "/" + path
        done, todo, hops = "", path.split("/")[::-1], 0
        while todo:
            part = todo.pop()
            if part == "" or part == ".":
                continue
            if part == "..":
                done = done[: done.rfind("/")] if done else ""
                continue
            here = done + "/" + part
            mode = lstat(here).st_mode if exists(here, 0, follow_symlinks=False) else 0  # 0: F_OK
            if mode & 0o170000 != 0o120000 or hops >= 40:  # not a link (or a loop, left as it stands)
                done = here
                continue
            hops += 1
            target = readlink(here)
            if target.startswith("/"):
                done = ""
            todo.extend(target.split("/")[::-1])
        return done or "/"

    return resolve


def install_guard(workdir: str) -> None:
    """Audit hook that refuses what a graded program never needs. Raises PermissionError inside the program.

    Program code must never run inside the hook: from there `sys._getframe` reaches the hook's frames while they
    run. So everything the hook uses is bound here, before the program's first line: C functions (os.path.realpath
    is Python that looks os.fspath and os.lstat up at call time, which the program can rebind), immutable copies of
    the tables (this module's globals are reachable through sys.modules), builtins (a module global would shadow
    them); and it takes paths and names of the exact types str and bytes only (a subclass's __eq__, __hash__ or
    __fspath__ is the program's code). A program can raise any event with any arguments (sys.audit), so every
    argument's type is checked before use, and the helpers get exactly the arguments they expect.

    Every refusal's traceback ends in the hook's frames, and a program may read them (traceback.print_exc() does):
    so the hook's state is held where a frame cannot change it. Not closures (a cell's contents can be rewritten
    without any audit event) but default values: a tuple, of immutable things and of functions built the same way,
    whose replacement (`__defaults__`, `__code__`) is refused for these functions alone."""
    import posix

    _disarm_fork_exec()
    _clearing_tracers_is_a_no_op()
    workdir = os.path.realpath(workdir)
    readable = readable_roots(workdir)
    own_pid = str(os.getpid())
    stat = posix.stat
    str_, bytes_, int_, type_, len_, id_ = str, bytes, int, type, len, id
    PermissionError_, dir_entry = PermissionError, os.DirEntry
    own_fd, std_names, get_flags, getfl = OWN_FD.match, STD_NAMES, fcntl.fcntl, fcntl.F_GETFL
    access_mode, read_only = os.O_ACCMODE, os.O_RDONLY
    write_flags, spawn, introspection = WRITE_FLAGS, frozenset(SPAWN_EVENTS), frozenset(INTROSPECTION_EVENTS)
    path_names, path_events = frozenset(PATH_EVENTS), tuple(PATH_EVENTS.items())
    list_events, blocked, af_unix = frozenset(LIST_EVENTS), frozenset(BLOCKED_IMPORTS), AF_UNIX
    refused_prefixes, new_interpreter = tuple(REFUSED_PREFIXES), NEW_INTERPRETER
    blocked_prefixes = tuple(BLOCKED_IMPORT_PREFIXES)
    resolve = resolver(posix.lstat, posix.readlink, posix.getcwd, posix.access)
    exists = posix.access

    def refuse(message: str, PermissionError_=PermissionError_):
        raise PermissionError_(f"sandbox: {message}")

    def refuse_import(name: str, ImportError_=ImportError):
        # An ImportError, as for a module that is not installed: `try: import readline / except ImportError` (pdb,
        # which doctest imports) goes on without it.
        raise ImportError_(f"sandbox: importing {name} is not allowed", name=name)

    def text(path, str_=str_, bytes_=bytes_, type_=type_, refuse=refuse, dir_entry=dir_entry) -> str:
        if type_(path) is dir_entry:  # (shutil.copytree passes its subfolders so; a C type no class can extend)
            path = path.path
        if type_(path) is str_:
            return path
        if type_(path) is bytes_:
            return path.decode("utf-8", "replace")
        refuse("paths must be str or bytes")  # (not even the type's name: a metaclass could compute it)

    def is_dir(path: str, stat=stat, exists=exists) -> bool:
        return exists(path, 0) and stat(path).st_mode & 0o170000 == 0o040000  # (no try: see resolver)

    def under(full: str, roots) -> bool:
        for root in roots:
            if full == root or full.startswith(root + "/"):
                return True
        return False

    def writable_fd(name: str, std_names=std_names, int_=int_, get_flags=get_flags, getfl=getfl,
                    access_mode=access_mode, read_only=read_only) -> bool:
        fd = std_names.index(name) if name in std_names else int_(name[name.rfind("/") + 1:])
        return get_flags(fd, getfl) & access_mode != read_only  # (a descriptor that is not open raises: refused)

    def inside(path, type_=type_, int_=int_, text=text, own_fd=own_fd, under=under, resolve=resolve,
               workdir=workdir) -> bool:
        if type_(path) is int_:
            return True
        path = text(path)
        return own_fd(path) is not None or path == "/dev/null" or under(resolve(path), (workdir,))

    def link_target(target, type_=type_, int_=int_, text=text, inside=inside, refuse=refuse) -> None:
        # A relative target is read from the link's folder, not from the working directory, and a link can be moved
        # (renamed, or its folder renamed) after it is made: one that climbs ('..') would then point out of the
        # folder (a link made after a chdir deeper down led the runner's unguarded test files outside). A relative
        # target without '..' stays below its link wherever the link goes; an absolute one must be in the folder.
        if type_(target) is int_:
            refuse("os.symlink takes a path as its target")
        target = text(target)
        if not target.startswith("/") and ".." in target.split("/"):
            refuse(f"symbolic links whose relative target climbs with '..' are not allowed: {target!r}")
        if target.startswith("/") and not inside(target):
            refuse(f"symbolic links to places outside the sandbox directory are not allowed: {target!r}")

    def on_open(path, mode, flags, type_=type_, int_=int_, str_=str_, text=text, refuse=refuse, own_fd=own_fd,
                resolve=resolve, under=under, is_dir=is_dir, workdir=workdir, readable=readable,
                write_flags=write_flags, writable_fd=writable_fd) -> None:
        if type_(path) is int_:
            return
        name = text(path)
        if type_(flags) is not int_:
            refuse("open flags must be an int")
        writing = (flags & write_flags) != 0
        if type_(mode) is str_:
            for c in "wax+":
                if c in mode:
                    writing = True
        if own_fd(name) is not None:
            if writing and not writable_fd(name):
                refuse(f"reopening a read-only descriptor for writing is not allowed: {name!r}")
            return
        full = resolve(name)
        if writing and not (under(full, (workdir,)) or full == "/dev/null"):
            refuse(f"writing outside the sandbox directory is not allowed: {name!r}")
        if not under(full, readable):
            refuse(f"reading outside the sandbox directory and the Python installation is not allowed: {name!r}")
        if mode is None:  # os.open: the only way to a descriptor on a folder
            if not name.startswith("/") and ".." in name.split("/"):
                refuse(f"os.open of a relative path with '..' is not allowed: {name!r}")
            if not under(full, (workdir,)) and is_dir(full):
                refuse(f"descriptors on folders outside the sandbox directory are not allowed: {name!r}")

    def on_path(event: str, args: tuple, path_events=path_events, type_=type_, int_=int_, len_=len_, text=text,
                resolve=resolve, inside=inside, refuse=refuse) -> None:
        for name, specs in path_events:
            if name != event:
                continue
            for i, fd_at in specs:
                if i >= len_(args) or args[i] is None:
                    continue
                path, fd = args[i], args[fd_at] if fd_at is not None and fd_at < len_(args) else -1
                if type_(fd) is int_ and fd >= 0 and type_(path) is not int_ and not text(path).startswith("/"):
                    # relative to a folder descriptor (-1: none): judge the place it really names
                    path = resolve(f"/proc/self/fd/{fd}") + "/" + text(path)
                if not inside(path):
                    refuse(f"{event} outside the sandbox directory is not allowed")

    def hook(event: str, args: tuple, protected=(), on_open=on_open, on_path=on_path, refuse=refuse, text=text,
             resolve=resolve, under=under, type_=type_, str_=str_, int_=int_, len_=len_, id_=id_, own_pid=own_pid,
             spawn=spawn, introspection=introspection, path_names=path_names, list_events=list_events,
             blocked=blocked, readable=readable, af_unix=af_unix, refused_prefixes=refused_prefixes,
             inside=inside, bytes_=bytes_, new_interpreter=new_interpreter, blocked_prefixes=blocked_prefixes,
             refuse_import=refuse_import, link_target=link_target) -> None:
        if event == "open":
            if len_(args) != 3:
                refuse("an open event takes 3 arguments")
            on_open(args[0], args[1], args[2])
        elif event in spawn or event in introspection:
            refuse(f"{event} is not allowed")
        elif event == new_interpreter:
            refuse("subinterpreters are not allowed (the guard would not reach the code they run)")
        elif event == "object.__getattr__" or event == "object.__setattr__":
            if type_(args[1]) is not str_:
                refuse(f"{event} with an attribute name that is not a str is not allowed")
            # (the program's own functions may change: asyncio's import swaps a __code__, namedtuple sets defaults)
            if event == "object.__setattr__" and args[1] in ("__code__", "__defaults__", "__kwdefaults__") and \
                    id_(args[0]) in protected:
                refuse(f"replacing the {args[1]} of the sandbox guard's functions is not allowed")
        elif event == "os.kill" or event == "os.killpg" or event == "signal.pthread_kill":
            if event != "os.kill" or type_(args[0]) is not int_ or str_(args[0]) != own_pid:
                refuse(f"{event} is not allowed")
        elif event == "ctypes.dlopen" and args[0] is None:
            pass  # `import ctypes` opens the running program (numpy imports ctypes); finding symbols is refused
        elif event == "socket.__new__" and len_(args) > 1 and type_(args[1]) is int_ and args[1] == af_unix:
            pass  # a local socket (asyncio's event loop wakes itself through a socketpair); connect, bind, sendto
            # and sendmsg, the ways it could reach anything, raise events of their own, refused below
        elif event.startswith(refused_prefixes):
            refuse(f"{event} is not allowed (no network, no native calls)")
        elif event == "sqlite3.connect":  # sqlite opens its files in C, with no open event: the name is judged here
            database = args[0] if len_(args) == 1 else None
            if type_(database) is not str_ and type_(database) is not bytes_:
                refuse("sqlite3.connect takes a str or bytes file name in the sandbox")
            name = text(database)
            if name != ":memory:" and name != "" and (name.startswith("file:") or not inside(name)):
                refuse(f"sqlite3 databases outside the sandbox directory are not allowed: {name!r}")
        elif event == "import":
            if type_(args[0]) is not str_:
                refuse("a module name that is not a str is not allowed")
            if args[0] in blocked or args[0].startswith(blocked_prefixes):
                refuse_import(args[0])
        elif event in path_names:
            if event == "os.symlink" and len_(args) > 0:
                link_target(args[0])
            on_path(event, args)
        elif event in list_events and args and args[0] is not None and type_(args[0]) is not int_:
            if not under(resolve(text(args[0])), readable):
                refuse(f"listing {text(args[0])!r} is not allowed")

    functions = (refuse, refuse_import, text, is_dir, under, inside, writable_fd, link_target, on_open, on_path,
                 resolve, hook)
    # The one default that names the hook itself, set once it exists (before the hook is in place)
    hook.__defaults__ = (frozenset(map(id_, functions)),) + hook.__defaults__[1:]
    sys.addaudithook(hook)
