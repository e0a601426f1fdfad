"""The one list of the sources' files a run reads: the one its launch recorded (run.output_dir/inputs.json,
axk1/data/run_folder.py), shared out among the extract tasks whatever the sources hold by the time a task starts.

Each task walked the sources when it started and took the files at positions rank, rank + world_size, ...: a file
added while the run went on (sorting among the others) moved the later files along, so a later task read a file in
place of another one, which no task read, and the accounting balanced all the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

from axk1.json_text import read_json_file


def launch_files(listing: str | None, specs: list, found: list[tuple[int, Path]]) -> list[tuple[int, Path]]:
    """The files the extract tasks share out, as (source index, path) in order: the ones the launch recorded in
    `listing` (its inputs.json), not `found` (a task's own walk of the sources); `found` where nothing was recorded
    (a cluster's submitting host that does not see the sources)."""
    recorded = recorded_inputs(Path(listing)) if listing else None
    if recorded is None or [s.get("source") for s in recorded] != [spec.name for spec in specs]:
        return found
    return [(i, _source_file(spec, rel)) for i, (spec, source) in enumerate(zip(specs, recorded))
            for rel in source["files"]]


def _source_file(spec, rel: str) -> Path:
    root = Path(spec.path)
    return root if root.is_file() else root / rel  # (a source that is one file records its name)


def recorded_inputs(path: Path) -> list[dict] | None:
    """The listing an earlier launch recorded; None where there is none, or none that reads as one (a damaged
    file is said, then written afresh)."""
    if not path.is_file():
        return None
    try:
        before = read_json_file(path, "it is written afresh")
        if isinstance(before, list) and all(isinstance(s, dict) and isinstance(s.get("files"), dict) for s in before):
            return before
    except (ValueError, OSError):
        pass
    print(f"note: {path} is not a listing of the sources' files (damaged?): the inputs are not compared with the "
          "earlier run's, and it is written afresh", file=sys.stderr)
    return None
