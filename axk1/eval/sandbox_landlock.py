"""Landlock for the sandbox's runner where the kernel refuses namespaces (standard library + ctypes only; loaded by
sandbox_child.py).

Without namespaces the Python guard was the only thing between the program and the host's files, and a program can
switch the guard off: ctypes pointers and numpy's array interface write any address of the process (no audit event
sees it), the guard's functions included. Landlock (Linux 5.13+) needs no namespace and no privilege: once the
runner restricts itself, it and every process it forks read only beneath the places the guard lets them read, and
write only in the run folder, whatever happens to the guard. A kernel without Landlock (or a container that filters
its system calls) leaves the guard alone, and the run's isolation report says so.
"""

import ctypes
import os
import stat
import struct

# The same numbers on x86_64, arm64 and riscv64 (the generic system call table)
CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION, RULE_PATH_BENEATH = 1, 1
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
ABI1 = (1 << 13) - 1  # execute .. make_sym: everything version 1 knows
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # versions 2, 3 and 5
FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # what a rule on a file (not a folder) may hold
READ = EXECUTE | READ_FILE | READ_DIR
BIND_TCP, CONNECT_TCP = 1 << 0, 1 << 1  # version 4: with no rule for any port, neither is allowed
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # version 6: nothing outside the run's own processes


def _syscall(libc, *args) -> int:
    result = libc.syscall(*[a if isinstance(a, ctypes.c_char_p | ctypes.Array) else ctypes.c_long(a) for a in args])
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def version(libc) -> str:
    """"landlock-vN" (the kernel's Landlock ABI), or "none" where it has none or refuses the call."""
    try:
        return f"landlock-v{_syscall(libc, CREATE_RULESET, 0, 0, CREATE_RULESET_VERSION)}"
    except OSError:
        return "none"


def restrict(libc, read: list[str], write: list[str]) -> None:
    """From now on this process and its children read (and execute) only beneath `read` and `write`, and change
    files only beneath `write`. Raises OSError where that fails (the runner then ends before the program starts)."""
    abi = _syscall(libc, CREATE_RULESET, 0, 0, CREATE_RULESET_VERSION)
    handled = ABI1 | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0) | (IOCTL_DEV if abi >= 5 else 0)
    # Where the kernel knows them: no TCP (in case there is no network namespace either), and no signal or abstract
    # UNIX socket beyond the run's own processes (where the harness is not root the program has the harness's uid,
    # and pidfd_send_signal raises no audit event)
    fields = [handled, BIND_TCP | CONNECT_TCP if abi >= 4 else 0, SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL]
    fields = fields[: 3 if abi >= 6 else 2 if abi >= 4 else 1]
    attr = ctypes.create_string_buffer(struct.pack(f"={len(fields)}Q", *fields), 8 * len(fields))
    ruleset = _syscall(libc, CREATE_RULESET, attr, 8 * len(fields), 0)
    try:
        for paths, rights in ((read, READ), (write, handled)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue  # not on this machine: nothing to allow
                try:
                    allowed = rights & handled
                    if not stat.S_ISDIR(os.fstat(fd).st_mode):
                        allowed &= FILE_ONLY
                    rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed, fd), 12)
                    _syscall(libc, ADD_RULE, ruleset, RULE_PATH_BENEATH, rule, 0)
                finally:
                    os.close(fd)
        _syscall(libc, RESTRICT_SELF, ruleset, 0)
    finally:
        os.close(ruleset)
