"""What crosses between the judge and the untrusted program inside the sandbox: length-prefixed JSON frames on a
pipe, and values reduced to plain builtin data (standard library only; loaded by sandbox_child.py).

The judge never takes an object from the program, only a copy built from exact builtin types: a value whose type is
a subclass of a scalar (an `int` with its own `__eq__`), or any other class, is refused before anything of it runs;
a subclass of dict, list or tuple (Counter, defaultdict, a namedtuple) travels as the base type's copy of its items,
read with the base type's C methods. The copy
is rebuilt on the judge's side from JSON, so comparing it runs no code of the program. numpy scalars (C types whose
methods a program cannot replace) are accepted as the Python number they hold; builtin iterators (generators, map,
zip, ...) as an iterator over their items.

    frame = encode((1, [2.5, "x"], {3: None}))
    decode(json.loads(json.dumps(frame))) == (1, [2.5, "x"], {3: None})
"""

import json
import os
import select
import struct
import time

MAX_FRAME = 64 << 20  # one message; a larger one is a broken channel, not an answer
MAX_DEPTH = 200  # nesting of a value; deeper is refused rather than risking the judge's stack
_HEADER = struct.Struct(">I")
_SAFE_INT = 1 << 53  # ints beyond travel as hex: json writes ints through str(), capped at 4300 digits in 3.11
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: set on every class created by Python code


class NotPlain(TypeError):
    """The value holds something other than builtin data."""


class ChannelClosed(Exception):
    """The other side exited or closed the pipe."""


class ChannelTimeout(Exception):
    """No message before the deadline."""


class ChannelBroken(Exception):
    """A message that is not a frame of JSON: whoever wrote it, it is not an answer."""


# ---- values ---------------------------------------------------------------------------------------------------
def _numpy_scalar(value) -> bool:
    kind = type(value)
    return not (kind.__flags__ & _HEAPTYPE) and kind.__module__ == "numpy" and hasattr(kind, "item")


def encode(value, depth: int = 0):
    """A JSON-ready copy of `value`, which must be made of builtin data only (NotPlain otherwise). Type checks are
    exact (`type(x) is int`) or read a container subclass through its base type, so no method of the program's
    classes is looked up or called."""
    if depth > MAX_DEPTH:
        raise NotPlain("value nested too deeply")
    kind = type(value)
    if kind is str or kind is bool or value is None or kind is float:
        return value
    if kind is int:
        return value if -_SAFE_INT < value < _SAFE_INT else {"$": "int", "v": hex(value)}
    if kind is list:
        return [encode(v, depth + 1) for v in value]
    if kind is tuple or kind is set or kind is frozenset:
        return {"$": kind.__name__, "v": [encode(v, depth + 1) for v in value]}
    if kind is dict:
        return {"$": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if kind is bytes:
        return {"$": "bytes", "v": value.hex()}
    if kind is complex:
        return {"$": "complex", "v": [value.real, value.imag]}
    if kind is range:
        return {"$": "range", "v": [value.start, value.stop, value.step]}
    if type(kind) is type and issubclass(kind, (dict, list, tuple)):
        # A container's subclass (Counter, defaultdict, OrderedDict, a namedtuple, or the program's own): what it
        # holds, read through the base type's own C methods, so no method of the subclass runs and none of its
        # overrides travels (an __eq__ that says yes to everything); the judge compares the data, as it would
        # compare the base type's.
        if issubclass(kind, dict):
            return {"$": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in dict.items(value)]}
        if issubclass(kind, list):
            return [encode(v, depth + 1) for v in list.__iter__(value)]
        return {"$": "tuple", "v": [encode(v, depth + 1) for v in tuple.__iter__(value)]}
    if _numpy_scalar(value):
        return encode(value.item(), depth + 1)
    if not (kind.__flags__ & _HEAPTYPE) and hasattr(kind, "__next__"):
        # A builtin iterator (a generator, map, zip, ...): its items, read here in the program's process, travel
        # as a list and come back as an iterator over them, so `tuple(f(x))` works and `f(x) == [...]` stays False.
        return {"$": "iter", "v": [encode(v, depth + 1) for v in value]}
    raise NotPlain(f"{kind.__module__}.{kind.__qualname__} is not plain data")


_BUILD = {"tuple": tuple, "set": set, "frozenset": frozenset}


def decode(data):
    """Inverse of encode, from the parsed JSON; anything not produced by encode raises ChannelBroken."""
    kind = type(data)
    if kind is list:
        return [decode(v) for v in data]
    if kind is not dict:
        return data
    tag, items = data.get("$"), data.get("v")
    try:
        if tag in _BUILD:
            return _BUILD[tag](decode(v) for v in items)
        if tag == "dict":
            return {decode(k): decode(v) for k, v in items}
        if tag == "int":
            return int(items, 16)
        if tag == "bytes":
            return bytes.fromhex(items)
        if tag == "complex":
            return complex(*items)
        if tag == "range":
            return range(*items)
        if tag == "iter":
            return iter([decode(v) for v in items])
    except (TypeError, ValueError) as e:
        raise ChannelBroken(f"bad {tag} value: {e}") from None
    raise ChannelBroken(f"unknown value tag {tag!r}")


# ---- frames ---------------------------------------------------------------------------------------------------
def send(fd: int, message: dict) -> None:
    data = json.dumps(message).encode()
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, left = [], n
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise ChannelTimeout()
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise ChannelClosed()
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv(fd: int, timeout: float | None = None) -> dict:
    """The next message; raises ChannelClosed, ChannelTimeout or ChannelBroken."""
    deadline = None if timeout is None else time.monotonic() + timeout
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if size > MAX_FRAME:
        raise ChannelBroken(f"a {size}-byte message")
    try:
        message = json.loads(_read_exact(fd, size, deadline))
    except (ValueError, RecursionError) as e:
        raise ChannelBroken(f"not JSON: {type(e).__name__}") from None
    if type(message) is not dict:
        raise ChannelBroken("a message that is not an object")
    return message


# ---- the judge's handle on the runner -------------------------------------------------------------------------
class Runner:
    """Questions from the judge to the process running the program, one at a time, each answer matched to its
    question by a sequence number. Any failure of the channel stops the runner for good: a runner that timed out,
    exited or wrote something that is not an answer gives no further answers."""

    def __init__(self, pid: int, requests: int, replies: int):
        self.pid, self.requests, self.replies, self.seq = pid, requests, replies, 0
        self.gone: str | None = None

    def ask(self, message: dict, timeout: float | None = None) -> dict:
        if self.gone is not None:
            raise ChannelClosed(self.gone)
        self.seq += 1
        try:
            send(self.requests, dict(message, seq=self.seq))
            reply = recv(self.replies, timeout)
            if reply.get("seq") != self.seq:
                raise ChannelBroken("an answer out of sequence")
            return reply
        except BrokenPipeError:
            self.stop("the program's process ended")
            raise ChannelClosed(self.gone) from None
        except ChannelClosed:
            self.stop("the program's process ended")
            raise
        except ChannelTimeout:
            self.stop("time limit")
            raise
        except ChannelBroken as e:
            self.stop(f"broken channel: {e}")
            raise

    def stop(self, why: str) -> None:
        """No more questions; kill the runner where allowed (without namespaces the judge may lack the right: the
        supervisor's sweep ends it after the verdict)."""
        if self.gone is None:
            self.gone = why
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError, PermissionError):
                pass
