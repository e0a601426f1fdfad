"""Kernel-level containment for the sandbox child (standard library + ctypes only; loaded by sandbox_child.py).

* `enter_namespaces` (in the supervisor, before it forks): new mount, PID, network, IPC and UTS namespaces, plus a
  user namespace when the harness is not root (uid 0 inside maps to the harness's uid, nothing else is mapped).
* `build_root` (in the first process of the new PID namespace): a read-only tmpfs root holding only what Python
  needs (the interpreter, site-packages, system libraries), the run's work folder writable at its usual path, a
  fresh /proc that shows only this run's processes, and a few /dev nodes; then pivot_root, so the host tree (other
  folders, /etc/passwd, datasets, /tmp) is not there at all.
* `drop_capabilities`, `no_new_privs`, `set_dumpable`: what keeps the program from undoing the above or from
  reaching the judge process beside it.
* Without namespaces (a kernel or container that refuses them): `set_subreaper` + `kill_descendants`, so processes
  that leave the process group (setsid) are still found and killed through their ancestry.
"""

import ctypes
import errno
import os
import signal

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = 1024, 2048, 4096, 16384, 1 << 18, 1 << 21
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_KEEPCAPS, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 8, 24, 38
CAP_KILL = 5
PR_SET_CHILD_SUBREAPER, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_SET_NAME = 36, 47, 4, 15
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41}.get(os.uname().machine)
# statvfs flag -> mount flag: a remount inside a user namespace must keep the flags the host set (they are locked)
KEEP_FLAGS = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
              (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME))
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc/ld.so.cache",
                "/etc/localtime")
DEVICES = ("null", "zero", "full", "random", "urandom")

_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def enter_namespaces(network: bool = True) -> str:
    """Move this process into new namespaces (its next child is PID 1 of the new PID namespace). Returns the
    namespaces entered; raises OSError when the kernel refuses (the caller falls back)."""
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | (CLONE_NEWNET if network else 0)
    uid, gid = os.getuid(), os.getgid()
    if uid != 0:
        flags |= CLONE_NEWUSER
    _check(libc().unshare(flags), "unshare")
    if uid != 0:  # uid/gid 0 inside = the harness's own ids outside; no other id exists in there
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    return ("user+" if uid != 0 else "") + "mount+pid+ipc+uts" + ("+net" if network else "")


def _mount(source, target, fstype, flags, data=None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(libc().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {source or ''} on {target}")


def _bind(source: str, target: str, writable: bool, device: bool = False) -> None:
    _mount(source, target, None, MS_BIND | (0 if device else MS_REC))
    kept = os.statvfs(source).f_flag
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (0 if device else MS_NODEV) | (0 if writable else MS_RDONLY)
    for st_flag, ms_flag in KEEP_FLAGS:
        if kept & st_flag:
            flags |= ms_flag
    _mount(None, target, None, flags)


def _expose(root: str, path: str, done: set, writable: bool = False) -> None:
    """Make `path` appear at the same place under `root`: a symlink as a symlink (and what it points to), a folder
    or a file as a bind mount (read-only unless `writable`)."""
    if path in done or any(path.startswith(d + "/") for d in done if d != "/") or not os.path.lexists(path):
        return
    done.add(path)
    target = root + path
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.islink(path):
        os.symlink(os.readlink(path), target)
        _expose(root, os.path.realpath(path), done)
    elif os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
        _bind(path, target, writable)
    else:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        _bind(path, target, writable, device=path.startswith("/dev/"))


def build_root(root: str, workdir: str, extra: list[str]) -> dict:
    """Build the run's file tree on a tmpfs at `root` and make it `/` (see the module doc). Call as PID 1 of the
    new PID namespace, before dropping privileges."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted below propagates back to the host
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    done: set = set()
    for path in sorted({*SYSTEM_PATHS, *extra}, key=len):
        _expose(root, path, done)
    _expose(root, workdir, done, writable=True)
    for name in DEVICES:
        _expose(root, f"/dev/{name}", done)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    info = {"root": "tmpfs", "proc": "private"}
    os.makedirs(root + "/proc")
    try:
        _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError as e:  # e.g. a container that masks parts of its /proc forbids a new one in a user namespace
        info["proc"] = f"none ({e.strerror})"
    os.chdir(root)
    if SYS_PIVOT_ROOT is not None:
        _check(libc().syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
        _check(libc().umount2(b".", MNT_DETACH), "detach the old root")  # the host tree is gone from here on
    else:
        os.chroot(".")  # no pivot_root number known for this machine: chroot (the program has no caps to escape)
        info["root"] = "tmpfs (chroot)"
    os.chdir("/")
    _mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    return info


def drop_bounding_set() -> None:
    """No capability can come back through an exec (a setuid-root binary, or uid 0 exec'ing anything)."""
    lib = libc()
    cap = 0
    while lib.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    if ctypes.get_errno() not in (0, errno.EINVAL):
        raise OSError(ctypes.get_errno(), "dropping the capability bounding set")
    lib.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)


def drop_capabilities() -> None:
    """No capabilities now or after any exec. In a user namespace uid 0 holds every capability over it; without
    this the program could remount the tree writable or trace the judge."""
    drop_bounding_set()
    lib = libc()
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable x 2 words: all empty
    _check(lib.capset(header, data), "capset")


def become(uid: int, gid: int, keep_kill: bool = False) -> None:
    """setuid/setgid from root; with keep_kill the process keeps CAP_KILL alone (the judge must be able to stop the
    runner, which has another uid) and nothing else."""
    if keep_kill:
        _check(libc().prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "keepcaps")
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if keep_kill:
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)
        data = (ctypes.c_uint32 * 6)(1 << CAP_KILL, 1 << CAP_KILL, 0, 0, 0, 0)
        _check(libc().capset(header, data), "capset CAP_KILL")
        libc().prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0)


def kill_all_but_me() -> None:
    """As PID 1 of the namespace: SIGKILL every other process in it and reap them, so that when this returns the
    run's processes are gone (the supervisor's slower namespace teardown need not be waited for)."""
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass  # nothing else left
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def no_new_privs() -> None:
    """setuid binaries and file capabilities grant nothing to this process or anything it starts."""
    _check(libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def set_dumpable(flag: bool) -> None:
    """A non-dumpable process cannot be ptraced, nor its /proc/PID/{mem,fd} opened, by a same-uid process."""
    _check(libc().prctl(PR_SET_DUMPABLE, int(flag), 0, 0, 0), "dumpable")


def set_name(name: str) -> None:
    """The process name in /proc/PID/comm (inherited by forks): a run's processes can be found from outside."""
    libc().prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """`sig` arrives when the thread that forked this process ends (no fork server: the harness thread that
    started the run, which waits for it). Cleared by a fork and by a change of credentials."""
    _check(libc().prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0), "parent-death signal")


def set_subreaper() -> None:
    """Orphans below this process (a setsid'ed child whose parent exited) are re-parented here, not to init, so
    `kill_descendants` still finds them."""
    _check(libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "subreaper")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def kill_descendants(pid: int, rounds: int = 20) -> int:
    """SIGKILL every process below `pid`, again until none is left (a fork bomb keeps adding some); reaps what
    became our children. Returns how many were killed."""
    killed = 0
    for _ in range(rounds):
        tree, found, stack = _children(), [], [pid]
        while stack:
            for child in tree.get(stack.pop(), []):
                found.append(child)
                stack.append(child)
        if not found:
            break
        for child in found:
            try:
                os.kill(child, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
    return killed
