"""Files and folders a graded program controls, handled without trusting what it left there (standard library only:
the sandbox child's runner uses this too, loaded beside code_runner.py).

Removing a run folder (or anything in it): shutil.rmtree recurses once per level, so a program that nests folders past the recursion limit (each one moved
into the next, with names that stay short) makes it raise RecursionError, which `ignore_errors` does not catch:
the grade was lost and the folder stayed on the host. Here the tree is flattened instead: every folder met below
the top has its entries moved up into the top folder, then is removed, so no walk goes deeper than one level, no
path grows with the depth and at most two descriptors are open. Links are removed, never followed; a folder the
program made unreadable or unwritable (chmod 000) is given its owner's permissions back first.

    remove_tree("/tmp/axk1-sandbox-abc123")  # never raises; True when the folder is gone

A tolerant stdin test's files: the runner (no guard: it runs no program code) handles them by name in the folder
the program writes, where an earlier test's program may have left a link, a fifo or a folder under the next test's
names. So the names are made afresh (never followed), and read back only as the plain files they must be.
"""

import errno
import os
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_OWNER_ALL = stat.S_IRWXU


def _open_dir(name: str, dir_fd: int | None) -> int:
    """A descriptor of the folder `name` (never through a link), with read, write and search for its owner."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:  # no read or search permission: give them back, by name (it was found a folder)
        os.chmod(name, _OWNER_ALL, dir_fd=dir_fd)
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    try:
        if os.fstat(fd).st_mode & _OWNER_ALL != _OWNER_ALL:  # unlink and rename inside need write and search
            os.fchmod(fd, _OWNER_ALL)
    except OSError:
        pass  # (not the owner, e.g. root-made: removing inside may still work; what does not stays)
    return fd


def _names(fd: int) -> list[tuple[str, bool]]:
    """(name, is a real folder) for each entry of the folder open at `fd`."""
    with os.scandir(fd) as entries:
        return [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]


class _Flattener:
    def __init__(self, top: int):
        self.top, self.count = top, 0

    def lift(self, name: str, folder: int) -> None:
        """Move the folder `name` (in `folder`) into the top folder under a name of ours."""
        for _ in range(100):  # a name of ours the program also used: try the next
            self.count += 1
            try:
                os.rename(name, f".axk1-rm-{self.count}", src_dir_fd=folder, dst_dir_fd=self.top)
                return
            except FileExistsError:
                continue
            except OSError as e:
                if e.errno not in (errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                    raise

    def empty(self, name: str) -> None:
        """Empty the folder `name` (directly in the top folder) one level down, lifting its sub-folders, and remove
        it."""
        fd = _open_dir(name, self.top)
        try:
            for child, is_dir in _names(fd):
                if is_dir:
                    self.lift(child, fd)
                else:
                    os.unlink(child, dir_fd=fd)
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=self.top)


def _pass(flat: _Flattener) -> int:
    """One sweep over the top folder's entries; how many were removed or emptied."""
    done = 0
    for name, is_dir in _names(flat.top):
        try:
            if is_dir:
                flat.empty(name)
            else:
                os.unlink(name, dir_fd=flat.top)
            done += 1
        except OSError:
            pass  # left for the next sweep; a sweep that removes nothing ends the work
    return done


def remove_tree(path, dir_fd: int | None = None) -> bool:
    """Remove `path` (relative to the folder open at `dir_fd`, if given) and everything below it without following
    links and without recursion; never raises. True when nothing is left."""
    path = os.fspath(path)
    try:
        if not stat.S_ISDIR(os.lstat(path, dir_fd=dir_fd).st_mode):
            os.unlink(path, dir_fd=dir_fd)
            return True
        top = _open_dir(path, dir_fd)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        flat = _Flattener(top)
        while _pass(flat):
            pass
    except OSError:
        pass
    finally:
        os.close(top)
    try:
        os.rmdir(path, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def remove(path: str) -> None:
    """Whatever is at `path` (a file, a link, a fifo, a folder of any depth) gone, where it can be."""
    remove_tree(path)


def write_test_file(path: str, text: str) -> None:
    remove(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with open(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)


def read_test_file(path: str, limit: int = -1) -> str | None:
    """The file's text, or None when it is gone or is not a plain file (a link is not followed, a fifo not waited
    on)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    with open(fd, "rb") as f:
        return f.read(limit).decode("utf-8", "replace")
