"""What `axk1 data run` keeps in run.output_dir: which entries it writes there (all `--force` may delete), and
which input files its run read (so that a relaunch over changed inputs is not a silent no-op).

`--force` deleted the whole folder: with `output_dir = "."` that was the inputs, the pipeline file and the user's
log, and a folder that never held a run was emptied too. It now deletes only the entries below, and refuses
(deleting nothing) a folder that holds anything else, holds no settings.json (no run made it), or holds a source
or the pipeline file.

datatrove's completion markers make a relaunch skip finished tasks whatever their inputs became: after every
document was rewritten and a file added, a relaunch printed the old table and exited 0. inputs.json records, per
source, each file's path (relative to the source), size and modification time; a relaunch over other files is
refused naming them. A partial redo is not offered: the extract tasks take files by their position in the sorted
list (an added file moves others to other tasks) and deduplication compares every document with every other, so
only a fresh run is right, and deleting finished work unasked on a touched file would be worse than asking.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from axk1.atomic_file import atomic_writer
from axk1.checkpoint.run_lock import LOCK_FILE
from axk1.data.config import PipelineConfig
from axk1.data.launch_listing import recorded_inputs
from axk1.data.source_files import list_files, relpath
from axk1.output_folder import discard, named, sort_entries

SETTINGS_FILE = "settings.json"
INPUTS_FILE = "inputs.json"
# Every entry the pipeline writes at the top of run.output_dir (axk1/data/pipeline.py's stages, `axk1 data run`'s
# summary.json and lock file, datatrove's logs/); tests/test_data_run_folder.py checks an extract, dedup and
# annotate run writes no other.
RUN_ENTRIES = (SETTINGS_FILE, INPUTS_FILE, "summary.json", "logs", "counts", "failed", "excluded", "extracted",
               "site_lines", "site_boilerplate", "clean", "dedup", "documents", "tokens", LOCK_FILE)
# what the tokenizer stage writes beside tokenizer.json when tokenize.tokenizer names the file itself
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def run_entries(cfg: PipelineConfig) -> set[str]:
    """The names of the entries of cfg.out the run writes: RUN_ENTRIES, and the tokenizer it trains when that lies
    inside cfg.out (a tokenizer it only reads is the user's)."""
    names = set(RUN_ENTRIES)
    t = cfg.tokenize
    if t.train_vocab_size > 0 and t.tokenizer:
        tok = Path(t.tokenizer).resolve()
        folder = tok.parent if tok.suffix == ".json" else tok  # as TokenizerTrainStep decides
        out = cfg.out.resolve()
        if folder == out:
            names.update(TOKENIZER_FILES)
        elif folder.is_relative_to(out):
            names.add(folder.relative_to(out).parts[0])
    return names


def clear_run_folder(cfg: PipelineConfig, keep: list[Path]) -> None:
    """`--force`: deletes the run's own entries of cfg.out. Refuses (ValueError, nothing deleted) a folder that holds
    anything else, that no run made, or that holds or is one of `keep` (the sources, the pipeline file)."""
    out = cfg.out
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"run.output_dir {out} is a file: set run.output_dir to a folder")
    where = out.resolve()
    inside = [p for p in keep if p.resolve() == where or p.resolve().is_relative_to(where)]
    if inside:
        raise ValueError(f"--force deletes the pipeline's outputs in run.output_dir {out}, which holds "
                         f"{named([str(p) for p in inside])} (a source or the pipeline file); nothing was deleted: "
                         "set run.output_dir to a folder of its own (e.g. out/data beside the pipeline file)")
    own, other = sort_entries(out, run_entries(cfg))
    # never deleted: the launch holds it (a new file at its path would be a second lock, and let a second run in)
    own = [p for p in own if p.name != LOCK_FILE]
    if other:
        raise ValueError(f"--force deletes only what `axk1 data run` writes in run.output_dir {out}, and it also holds "
                         f"{named(other)}; nothing was deleted: move those out of it, or set another run.output_dir")
    if own and not (out / SETTINGS_FILE).is_file():
        raise ValueError(f"run.output_dir {out} holds {named([p.name for p in own])} but no {SETTINGS_FILE}: no "
                         "`axk1 data run` made it, so --force deletes nothing there; set another run.output_dir")
    for p in own:
        discard(p)


def input_listing(cfg: PipelineConfig) -> list[dict] | None:
    """Per source, {relative path: [size, mtime_ns]} of the files it reads; None where a source's path is not
    here (a cluster's nodes may see other paths than the submitting host)."""
    listing = []
    for spec in cfg.sources:
        if not Path(spec.path).exists():
            return None
        files = {}
        for p in list_files(spec, skip=str(cfg.out)):  # the files the run reads, as SourceReader lists them
            try:
                st = p.stat()
            except OSError:  # a dangling link, a file gone since the listing: its reader fails it alone, with why
                files[relpath(spec, p)] = [-1, -1]
                continue
            files[relpath(spec, p)] = [st.st_size, st.st_mtime_ns]
        listing.append({"source": spec.name, "files": files})
    return listing


def input_changes(before: list[dict], now: list[dict], most: int = 3) -> list[str]:
    """`web: 2 changed (a.jsonl, b.jsonl), 1 added (c.jsonl)` for each source whose files differ."""
    lines = []
    for old, new in zip(before, now):
        a, b = old["files"], new["files"]
        parts = []
        for what, names in (("changed", [k for k in b if k in a and a[k] != b[k]]),
                            ("added", [k for k in b if k not in a]), ("removed", [k for k in a if k not in b])):
            if names:
                parts.append(f"{len(names)} {what} ({named(sorted(names), most)})")
        if parts:
            lines.append(f"{new['source']}: " + ", ".join(parts))
    return lines


def check_inputs(cfg: PipelineConfig, force: bool) -> None:
    """Refuses (ValueError) a relaunch whose sources' files differ from the ones the folder's run read; records
    them for the next. A folder made before inputs were recorded is not checked (nothing to compare)."""
    if "extract" not in cfg.run.stages:
        return  # the stages run read the folder's own files, not the sources
    now = input_listing(cfg)
    path = cfg.out / INPUTS_FILE
    if now is None:  # an earlier launch's listing is not left for this one's extract tasks to share out
        path.unlink(missing_ok=True)
        return
    before = recorded_inputs(path) if not force else None
    if before is not None:
        changes = input_changes(before, now) if len(before) == len(now) else []
        if changes:
            raise ValueError(f"the sources' files changed since the run in {cfg.out} read them (size or modification "
                             f"time): {'; '.join(changes)}. A relaunch skips the tasks that finished and would keep "
                             "what they made of the old files, and which files a task reads depends on them all: "
                             f"pass --force to delete the pipeline's outputs in {cfg.out} and run afresh, or set "
                             f"another run.output_dir (if only their times changed, by a copy or a touch, delete "
                             f"{path} to accept them as they are)")
    cfg.out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as f:  # a kill mid-write must not leave a file every relaunch then fails to read
        f.write(json.dumps(now, ensure_ascii=False))


def note_changed_inputs(cfg: PipelineConfig) -> None:
    """Says which sources' files changed while the run read them: it read them as the launch listed them, and a
    relaunch is refused until they are accepted or the run is made afresh (check_inputs)."""
    before = recorded_inputs(cfg.out / INPUTS_FILE)
    now = input_listing(cfg)
    changes = input_changes(before, now) if before is not None and now is not None and len(before) == len(now) else []
    if changes:
        print(f"note: the sources' files changed while this run read them: {'; '.join(changes)}. It read them as "
              f"they were at its launch ({cfg.out / INPUTS_FILE}); an added file was not read, a changed one was "
              "read as it was when its task read it. To read them as they are now, run again with --force",
              file=sys.stderr)
