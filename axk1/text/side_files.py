"""The files `axk1 data synth` writes beside its kept samples (what it rejected, what failed, the input lines it
excluded, its summary), and writers' temporary files: never data. The one definition, shared by the writer
(axk1/synth/pipeline.py names them from here) and by every reader of a folder (`axk1 data run` sources,
`axk1 data stats`, `tokenizer train`, `contamination`): a synth output folder given as a corpus is read as its kept
samples only, and each file passed over is named with why, never skipped unseen. Before this was shared, a `jsonl`
source on a synth folder read `s.rejected.jsonl` as documents, and samples synth had rejected as copies of AIME 2025
problems reached the corpus.
"""

from __future__ import annotations

from pathlib import Path

# suffix -> what the file holds (the reason a reader gives for passing over it)
SYNTH_SIDE_FILES = {  # the first suffix a name ends with says what it is
    ".rejected.jsonl": "samples synth rejected (contaminated, copied, ungrounded, ...)",
    ".latest.failed.jsonl": "the failures of a synth run that kept an earlier run's files",
    ".failed.jsonl": "documents synth failed on",
    ".excluded.jsonl": "input lines synth could not use",
    ".summary.json": "synth's run summary",
}
SYNTH_CACHE_SUFFIX = ".cache.sqlite"  # synth's response cache, x.jsonl.cache.sqlite by default
TEMPORARY_SUFFIXES = (".tmp",)


def synth_side_paths(output: Path) -> dict[str, Path]:
    """The side files of a synth output `x.jsonl`: {"rejected": x.rejected.jsonl, "latest_failed":
    x.latest.failed.jsonl, ...}."""
    return {suffix[1:].rsplit(".", 1)[0].replace(".", "_"): output.with_name(output.stem + suffix)
            for suffix in SYNTH_SIDE_FILES}


def side_file_reason(name: str) -> str | None:
    """Why a file of this name is not data (None: it may be). Only the names a writer gives: a file given to a
    command by its own path is read whatever its name (the callers decide that)."""
    low = name.lower()
    for suffix, what in SYNTH_SIDE_FILES.items():
        if low.endswith(suffix):
            return f"a synth side file: {what}, not data"
    if low.endswith(SYNTH_CACHE_SUFFIX):
        return "synth's response cache, not data"
    if low.endswith(TEMPORARY_SUFFIXES):
        return "a writer's temporary file, not data"
    return None
