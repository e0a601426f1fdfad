"""One run per output folder: a lock file naming the run that holds it (axk1 train, sft, rl, the demos,
`axk1 data run` on its run.output_dir, `axk1 data tokenizer train` and `axk1 eval` on their -o, `axk1 posttrain
tasks` on its OUT; `axk1 export` and `axk1 merge` on the model folder they write, and `axk1 data synth` on its -o
file, each from beside it: model_folder_lock, `file`). The file was `.axk1-train.lock` in earlier versions, a name
that read oddly in a data or eval folder; a run of an older axk1 holds that one.

Two `axk1 train` on the same --out used to run side by side without a word: the second truncated the first's
metrics.jsonl, both wrote step-N folders into one checkpoints folder and each pruned the other's, so `--resume` and
`axk1 export` (newest step) took whichever wrote last. Now a run takes `<out>/.axk1-run.lock` first (a training
run the same in its checkpoints folder, wherever that lies: run_locks): an exclusive
`fcntl.lockf` lock, held while the process lives, with the holder's pid and host written in the file for the
message a second run gets. The kernel drops the lock when its process dies, SIGKILL included, so the lock file a
killed run leaves is taken over by the next run without anyone deleting it. lockf's locks are POSIX record locks,
which NFS and Lustre (mounted with `flock`) keep between nodes. On a file system without locks the pid in the file
is checked instead: a live process of that pid on this host holds the folder.

A run that fails under its lock (a `with` block left by an exception) removes the lock file and the folders the lock
made (and those its caller made for it, `made`), while they hold nothing else: a refused `axk1 export` left its new
OUT's parent folders and lock file. The file is removed while still locked, and a lock taken on a file removed
meanwhile is taken again on the new one (`_linked`), so no two runs ever hold the folder at once. A folder removed
so between this run making it and opening its lock file in it is made again (`_open`).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import sys
import time
from pathlib import Path

from axk1.output_folder import DISK_FULL, file_in_the_way, missing_folders
from axk1.output_folder import remove_made as remove_made_folders
from axk1.process_rank import process_rank

LOCK_FILE = ".axk1-run.lock"
_HELD = (errno.EACCES, errno.EAGAIN)  # what lockf says when another process holds the lock
_OPEN_TRIES = 5  # a folder another run's failure removed each time it was made: that many, then it is said


class FolderInUse(ValueError):
    """Another live run holds the output folder. A ValueError: the command line prints it as an error (exit 2)."""


class RunLock:
    """The lock on one output folder; `release()`, the end of a `with` block or the process ending gives it up."""

    def __init__(self, folder: str | Path, flag: str = "--out", job: str = "training run",
                 harm: str = "would mix their checkpoints and metrics", file: str | None = None,
                 kind: str | None = None, option: str | None = None, made: list[Path] | None = None) -> None:
        # `file`: one entry of the folder is locked, not the whole folder (`axk1 data synth` writes its -o beside other
        # runs' outputs): the lock file is then `.NAME.axk1-run.lock` beside it. `kind`: what that entry is, for the
        # refusal ("two runs in one folder", "another OUT folder"): a "file" by default, but a model folder that
        # `axk1 export` replaces whole is locked from beside it too (model_folder_lock)
        self.path = Path(folder) / (f".{file}{LOCK_FILE}" if file else LOCK_FILE)
        self.what = (Path(folder) / file if file else Path(folder), kind or ("file" if file else "folder"))
        # what the advice tells to change: the option that names the folder (or file) and what it names ("--out
        # folder"); `option` where the option's name says it already ("checkpoints folder ([checkpointing] dir)")
        self.option = option or f"{flag} {self.what[1]}"
        # where a writable one is found: for a file locked from beside it, the folder that holds it is what failed
        self._writable = " in a folder you can write to" if file and not kind else ", one you can write to"
        self.job, self.harm = job, harm  # what holds such a folder, and what two of them in it would do
        # what this lock (`_open`) and its caller (`made`, writable_folder's) made, removed again if it cannot write
        # its file (`_take`) or its run fails (`__exit__`)
        self._made = list(made or ())
        while True:
            self._open()
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = self._holder()
                self.release()
                if e.errno in _HELD:
                    raise self._in_use(holder) from None
                if not _alive_here(holder):  # no locks on this file system: the pid in the file decides
                    self._take()
                    return
                raise self._in_use(holder) from None
            if self._linked():
                break
            # the file was removed after this process opened it (a run that made it failed and took it back): the
            # lock is on a file no other run sees, so the one now at the path is locked instead
            self.release()
        self._take()

    def _open(self) -> None:
        """Opens the lock file, making it (and its folder) where missing; an unwritable place is said as such, with
        the option that gives the folder."""
        self._made_file = False  # whether this process made the file now at the path (O_EXCL: one maker)
        try:
            for tries_left in reversed(range(_OPEN_TRIES)):
                try:
                    self._fd: int | None = self._make_and_open()
                    break
                except FileNotFoundError:
                    # a run that made the folder failed between this mkdir and the open and removed it, empty: it
                    # is made again (and then this run's to remove). It said "cannot write ..., give this run
                    # another --out folder", of a folder that was fine
                    if not tries_left:
                        raise
        except OSError as e:  # read-only, not a folder, no permission, full: found now, not at the first save
            self._fd = None
            self.remove_made()
            file = file_in_the_way(self.path.parent)  # "Not a directory" alone leaves the reader to find which
            moved = f", or move away the file {file} that stands in its path" if file else ""
            # the caller's option (`axk1 export`'s OUT is positional: "another OUT folder", not --out)
            advice = (_full_disk(self.path.parent, self.option) if e.errno in DISK_FULL else
                      f"give this run another {self.option}{self._writable}{moved}")
            error = PermissionError(e.errno, f"the run cannot write to {self.path.parent} ({e.strerror}): {advice}",
                                    str(e.filename or self.path))
            error.folder = self.path.parent  # which of a run's folders refused it (train/trainer_base.py)
            raise error from None

    def _make_and_open(self) -> int:
        """The lock file's descriptor, its folders made first; those this makes join `_made`."""
        folder = self.path.parent
        # outermost first, each once: the caller's, then this lock's (again after a retry: the earlier ones may
        # have been another run's, removed since, and are this one's now)
        self._made = sorted({*self._made, *missing_folders(folder)}, key=lambda p: len(p.parts))
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            self._made_file = True
            return fd
        except FileExistsError:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    def _linked(self) -> bool:
        """Whether the locked file is still the one at the lock file's path."""
        try:
            now, held = os.stat(self.path), os.fstat(self._fd)
        except FileNotFoundError:
            return False
        return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)

    def _holder(self) -> str:
        try:
            return os.pread(self._fd, 200, 0).decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def _take(self) -> None:
        """Writes this process's pid and host into the lock file (its content only informs a refused run). A disk
        already full failed here with a bare "[Errno 28] No space left on device" and left the folder an empty lock
        file: now the error names the folder and what to do, and what this lock made is removed."""
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()} {socket.gethostname()} {launch_id()}\n".encode(), 0)
        except OSError as e:
            self.remove_made()  # before the lock is given up: no run can have taken the file meanwhile
            self.release()
            folder = self.path.parent
            why = (_full_disk(folder, self.option) if e.errno in DISK_FULL else
                   f"give this run another {self.option}{self._writable}")
            error = OSError(f"the run cannot write its lock file in {folder} ({e.strerror}): {why}")
            error.errno, error.folder = e.errno, folder  # the message alone is what the command line prints
            raise error from None

    def remove_made(self) -> None:
        """The lock file, where this lock made it, and the folders it made, while they hold nothing else. Called
        while the file is still locked (or not open at all): a run that took it meanwhile would lose its lock file."""
        if self._made_file:
            self.path.unlink(missing_ok=True)
            self._made_file = False
        remove_made_folders(self._made)

    def _in_use(self, holder: str) -> FolderInUse:
        who = f"process {holder.split()[0]} on {holder.split()[1]}" if len(holder.split()) >= 2 else "another process"
        target, kind = self.what
        return FolderInUse(f"{target} is in use by another {self.job} ({who} holds {self.path}): two runs "
                           f"in one {kind} {self.harm}. Wait for it to end (or stop it), or give this run another "
                           f"{self.option}")

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, failed, *exc) -> None:
        if failed is not None:  # the run did not go ahead or did not finish: it leaves nothing of the lock's
            self.remove_made()
        self.release()

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file drops the lock; the file stays (deleting it would race a new run)
            self._fd = None


def run_locks(out: str | Path, checkpoints: str | Path, rank: int, held: list[RunLock] | None = None) -> list[RunLock]:
    """The locks of one run: its output folder's and its checkpoints folder's, wherever that lies (one lock where
    they are the same folder). The launch's first rank takes them; the others wait until it holds them
    (wait_for_launch_lock). Refused at a later one, the run gives up the earlier ones, unless the caller passed
    `held`: that list gets each lock as it is taken, for the caller to tidy what it made under them, then release."""
    out, checkpoints = Path(out).absolute(), Path(checkpoints).absolute()
    # the checkpoints folder is locked even inside the output folder: a second run with its own --out and this
    # [checkpointing] dir took only its own folders' locks, so it resumed from and pruned the step folders a live
    # run was writing. Taken in one order (resolved paths, so a symlinked path counts as its target) that every run
    # follows: two runs that each want both folders never each take one and both get refused.
    by_target = {d.resolve(): d for d in (checkpoints, out)}  # out last: the name a folder given twice is known by
    folders = [by_target[t] for t in sorted(by_target)]
    if rank != 0:
        # each of them: the first rank takes them in turn, and refused the second (in use) after it held the first,
        # while these ranks, seeing only the first, went on to say the checkpoints were an earlier run's
        for folder in folders:
            wait_for_launch_lock(folder, rank=rank)
        return []
    taken = [] if held is None else held
    try:
        for d in folders:
            # the refusal's advice names the option that gives the folder ("another --out folder" for a checkpoints
            # folder in use sent the reader to the wrong option)
            taken.append(RunLock(d, flag="--out") if d == out else
                         RunLock(d, flag="[checkpointing] dir", option="checkpoints folder ([checkpointing] dir)"))
    except BaseException:
        for lock in taken if held is None else ():  # a run that is not going ahead keeps none
            lock.release()
        raise
    return taken


# what holds a model folder's lock, as a refused run is told: every axk1 command that writes a model folder
MODEL_WRITERS = ("model export or merge (`axk1 export`, `axk1 merge`, or the export at the end of `axk1 sft`, "
                 "`axk1 rl` or a demo)")


def model_folder_lock(out: str | Path, flag: str, option: str | None = None) -> RunLock:
    """The run lock of a model folder that `axk1 export` or `axk1 merge` writes (`flag`: the option naming it;
    `option`: the advice's words where the flag names a folder above it). Two of them into one folder both said
    they were done: the second renamed the first's staging folder aside as an interrupted one's and deleted it, and
    one model was lost. The lock file lies beside the folder (`.OUT.axk1-run.lock`), not in it: the model folder is
    replaced whole and holds only what transformers reads. `axk1 sft`, `axk1 rl` and the demos take it too
    (exporting_lock): their export at the end replaces the folder the same way."""
    out = Path(out).absolute()  # "." has no name to put beside it
    return RunLock(out.parent, flag=flag, job=MODEL_WRITERS, file=out.name, kind="folder", option=option,
                   harm="would each write a model and one would be lost (the second deletes the first's shards)")


def exporting_lock(out: str | Path | None, option: str) -> contextlib.AbstractContextManager:
    """model_folder_lock(out) for a run that ends by exporting a model into `out` (`axk1 sft`, `axk1 rl`, the
    demos), on the launch's first rank only (the others write their shards into the staging folder it makes, as
    `axk1 export`'s do); nothing where the run exports nothing (`out` None). Taken before the run trains and held
    until its export is written: an `axk1 export` into the folder meanwhile would be overwritten at the end, and
    one running at the end lost one of the two models. `option`: what the refusal tells to change."""
    if out is None or process_rank() != 0:
        return contextlib.nullcontext()
    return model_folder_lock(out, flag="", option=option)


def launch_id() -> str:
    """What names this torchrun launch (attempt included) the same on every rank; "" outside torchrun."""
    if "TORCHELASTIC_RUN_ID" not in os.environ:
        return ""
    e = os.environ
    return (f"{e['TORCHELASTIC_RUN_ID']}@{e.get('MASTER_ADDR', '')}:{e.get('MASTER_PORT', '')}"
            f"/{e.get('TORCHELASTIC_RESTART_COUNT', '0')}")


LOCK_WAIT_S = 300.0  # how long the other ranks wait for the first one's lock file: a slow start, not a lost one
WAIT_SAID_AFTER_S = 5.0  # the first rank takes it within this of starting; a longer wait is said on stderr


class LockNotSeen(OSError):
    """The first rank's lock file never appeared to this rank: the run folder is not on a file system the launch's
    nodes share. An OSError: the command line prints it as an error (exit 2)."""


def wait_for_launch_lock(folder: str | Path, seconds: float | None = None, rank: int | None = None) -> None:
    """On a launch's other ranks: wait until its first rank holds the folder's lock (the lock file names this
    launch). Only the first rank takes it; the others used to look at the checkpoints at once and, when another
    run held the folder, fail with their own error ("already holds checkpoints ... pass --resume", advice to
    resume a live run) beside the first rank's "in use". Now the first rank's refusal is the launch's one error
    (torchrun stops the others when it exits). A wait longer than a few seconds is said, and one of `seconds`
    (LOCK_WAIT_S) fails: a run folder each node has its own copy of (node-local disk) never shows this rank the
    first one's lock; the ranks used to wait 5 minutes silently, then write beside each other unlocked."""
    path, want = Path(folder) / LOCK_FILE, launch_id()
    if not want:  # not a torchrun launch: nothing names the first rank's lock
        return
    rank = process_rank() if rank is None else rank
    seconds = LOCK_WAIT_S if seconds is None else seconds
    start = time.monotonic()
    said = False
    while (waited := time.monotonic() - start) < seconds:
        try:
            if path.read_text(errors="replace").split()[2:3] == [want]:
                return
        except OSError:
            pass
        if not said and waited >= WAIT_SAID_AFTER_S:
            print(f"rank {rank}: waiting for the launch's first rank to lock {path.parent} (its lock file {path} "
                  "names this launch once it does); the run folder must be on a file system every node of the "
                  "launch sees", file=sys.stderr, flush=True)
            said = True
        time.sleep(0.2)
    raise LockNotSeen(f"rank {rank} waited {seconds:.0f} s for the launch's first rank to lock {path.parent} and "
                      f"never saw its lock file {path} name this launch: the run folder (--out, and [checkpointing] "
                      "dir) must be on a file system every node of the launch sees (NFS, Lustre, ...), not a "
                      "node's own disk; give the run such a folder")


def _full_disk(folder: Path, option: str) -> str:
    return (f"the disk holding {folder} is full (or the quota there is used up): free space on it, or give this run "
            f"a {option} on another disk")


def _alive_here(holder: str) -> bool:
    """Whether the 'pid host' read from a lock file names a live process other than this one on this host."""
    parts = holder.split()
    if len(parts) < 2 or not parts[0].isdigit() or parts[1] != socket.gethostname():
        return False
    pid = int(parts[0])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
