"""The files an evaluation writes when it ends (samples.jsonl, config.json, results.json, report.md, the plots),
replaced in its output folder as one set: a run cut short (Ctrl-C, SIGTERM, a full disk) leaves the whole previous
set or the whole new one, never some of each.

Each file used to be replaced as it was written, so a run stopped while its report was drawn (matplotlib takes
seconds) left the new config.json and results.json beside the old report.md and scores.png. Now the whole set is
written first into DIR/.eval-staging (where a full disk or an error stops it, DIR untouched), then each file is
renamed into DIR with Ctrl-C and SIGTERM held until the last rename (axk1/file_set.py, as post-training's task
files are): the renames take microseconds, and only a SIGKILL or a power loss inside them could mix two sets.
completions.jsonl is not part of the set: it is appended as completions arrive (axk1/eval/completion_store.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from axk1.file_set import publish_set

STAGING = ".eval-staging"
# Every name a set may hold: one the new set lacks (a task's plot) goes with the old set.
KNOWN = ("samples.jsonl", "config.json", "results.json", "report.md", "scores.png", "passkey.png")


class ResultsNotWritten(OSError):
    """The new set could not be written (a full disk, a read-only folder): the previous set is left as it was."""


def publish(out: Path, write: Callable[[Path], None]) -> None:
    """Writes a new set with `write(folder)` into a staging folder under `out`, then renames it into `out` whole
    (axk1/file_set.py). The caller holds `out`'s run lock: nothing else writes there meanwhile."""
    out = Path(out)

    def not_written(what: str) -> ResultsNotWritten:
        return ResultsNotWritten(f"cannot write this run's results into {out}: {what}. The previous results there "
                                 "are unchanged, and the completions this run got are kept in "
                                 f"{out / 'completions.jsonl'}: make room (or fix the folder) and run the same "
                                 "command again")

    publish_set(out, STAGING, write, KNOWN, not_written)
