"""The file-size limit a failed write ran into, in words: a checkpoint save (axk1/checkpoint/save_failure.py) and a
data run's stage (axk1/data/pipeline.py) say it the same way, and never as a full disk.

A process limit (`ulimit -f`, RLIMIT_FSIZE) fails the write with EFBIG (Python ignores the SIGXFSZ that would kill
the process); a per-file quota of the file system does too. torch's zip writer hides the errno as "unexpected pos
704 vs 598" (a short write), which is the limit when one is set.
"""

from __future__ import annotations

import errno
import resource
from collections.abc import Iterable

ZIP_SHORT_WRITE = "unexpected pos"  # torch's zip writer when a write came up short, the errno lost
RAISE_IT = "Raise the limit (`ulimit -f unlimited` in the job script)"


def limit_bytes() -> int | None:
    """This process's file-size limit in bytes (ulimit -f), or None where there is none."""
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def file_size_limit(causes: Iterable[BaseException]) -> str | None:
    """`ulimit -f: 153,600 bytes a file` (or `ulimit -f` where no process limit is set: a quota's) when one of
    `causes` is a write that ran into a file-size limit, else None."""
    soft = limit_bytes()
    said = f"ulimit -f: {soft:,} bytes a file" if soft is not None else "ulimit -f"
    causes = list(causes)
    if any(isinstance(c, OSError) and c.errno == errno.EFBIG for c in causes):
        return said
    if soft is not None and any(ZIP_SHORT_WRITE in str(c) for c in causes):
        return said
    return None
