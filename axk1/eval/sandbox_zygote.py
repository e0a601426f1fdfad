"""A fork server for sandbox runs (standard library only; started by axk1.eval.sandbox_boot, one per harness
process): it starts once, imports what every run needs, and forks a fresh supervisor (sandbox_child.main) per
run, so a run does not pay for an interpreter start and ~40 module imports.

It never reads a payload or runs a program: it receives a plan (limits, folders, flags; no tests) and the run's
descriptors over a socketpair only the harness holds, forks, and answers with the supervisor's pid and a pidfd.
The child sets up its descriptors, session, folder and environment, then becomes the supervisor. Every run still
gets its own namespaces, uids and limits; what runs share is the interpreter's startup state (modules already
imported, the str hash seed). `random` reseeds itself in every fork.
"""

import json
import os
import signal
import socket
import sys

import sandbox_child
import sandbox_ns

# Imported here once instead of in every run: the judge's and runner's modules (code_runner brings code_upstream),
# and upstream LiveCodeBench's import prelude (code_upstream.UPSTREAM_IMPORTS), which strict and call-based programs
# execute first.
PRELOAD = ("code_judge", "code_runner", "ast", "decimal", "importlib", "runpy", "string", "re", "datetime",
           "collections", "heapq", "bisect", "copy", "math", "random", "statistics", "itertools", "functools",
           "operator", "io", "json", "typing")


def _start(message: bytes, fds: list[int], parent: int) -> None:
    """In the forked child: take the run's descriptors and become its supervisor. Only a script run's program
    returns from here (by SystemExit or an exception): it unwinds to the interpreter's exit, as if started alone."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the supervisor waits for its own children
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        plan = json.loads(message)
        stdin, stdout, stderr, payload, result, done = fds
        for target, fd in ((0, stdin), (1, stdout), (2, stderr)):
            os.dup2(fd, target)
        for fd in (stdin, stdout, stderr):
            if fd > 2:
                os.close(fd)
        plan.update(payload_fd=payload, result_fd=result, done_fd=done, parent_pid=parent)
        os.setsid()  # the run's own session and process group, as Popen(start_new_session=True) would
        os.chdir(plan["workdir"])
        os.environ.clear()
        os.environ.update(plan["env"])
        sandbox_ns.set_dumpable(True)  # back to the default: the supervisor drops it where it matters
    except BaseException:  # noqa: BLE001 - a run that cannot start must not go on as a second fork server
        os._exit(70)
    sandbox_child.main(plan)
    os._exit(0)


def _reap(*_) -> None:
    """Reap finished supervisors (at SIGCHLD: a run's processes leave no zombie behind)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def serve(control: int) -> None:
    # Not dumpable: a process of the harness's uid (a program run without namespaces) cannot trace it or open its
    # descriptors through /proc.
    sandbox_ns.set_dumpable(False)
    sandbox_ns.set_name("axk1-sbx-forkd")
    for name in PRELOAD:
        __import__(name)
    signal.signal(signal.SIGCHLD, _reap)
    sock = socket.socket(fileno=control)
    me = os.getpid()
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, 1 << 16, 8)
        except OSError:
            return
        if not message:
            return  # the harness closed its end (or exited): so do we
        # SIGCHLD held from fork to pidfd_open: a supervisor that ends at once must not be reaped before we hold it
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        pid = os.fork()
        if pid == 0:
            sock.close()
            _start(message, fds, me)  # this server's pid: the supervisor checks that it is still its parent
        pidfd = os.pidfd_open(pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        try:
            socket.send_fds(sock, [str(pid).encode()], [pidfd])
        except OSError:
            return
        finally:
            for fd in (pidfd, *fds):
                os.close(fd)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
