"""Accounting for a run (in = kept + excluded + failed, with reasons) and `axk1 data stats` for a corpus."""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from axk1.compressed_file import read_lines
from axk1.json_text import json_lines, read_json_file
from axk1.text.side_files import side_file_reason
from axk1.token_shards import read_manifest
from axk1.user_file import regular_file


SIDE_SHOWN = 10  # side files a run's summary names, each with why (the count says how many more)
DATA_SUFFIXES = (".jsonl", ".jsonl.gz")


def data_files(path: str | Path) -> tuple[list[Path], list[str]]:
    """(the data files a path stands for, the JSONL-looking files under it that were skipped, each with why).
    A file given by name is read whatever its name; a folder gives its *.jsonl / *.jsonl.gz files (sorted, the
    suffix in any case) except synth side files (axk1/text/side_files.py), so a synth output folder with its
    .rejected/.failed files and its SQLite cache (x.jsonl.cache.sqlite) is read as its kept samples only. A
    JSONL-looking name that is no regular file (a FIFO, a broken link) is skipped too, and named."""
    path = Path(path)
    if not path.is_dir():
        return ([path] if path.exists() else []), []
    files, skipped = [], []
    for f in sorted(p for p in path.rglob("*") if not p.is_dir()):
        low = f.name.lower()  # EN.JSONL is a data file too
        if why := side_file_reason(f.name):
            skipped.append(f"{f} ({why})")
        elif not f.is_file():  # a FIFO would block the read for ever, a dangling link fail it: named, not read
            if low.endswith(DATA_SUFFIXES) or ".jsonl" in low:
                skipped.append(f"{f} (not a regular file: a pipe, device, socket or broken link)")
        elif low.endswith(DATA_SUFFIXES):
            files.append(f)
        elif ".jsonl" in low:
            skipped.append(f"{f} (not *.jsonl or *.jsonl.gz)")
    return files, skipped


def input_files(specs: list[str | Path], what: str) -> list[Path]:
    """The data files of the files/folders a command was given (data_files), checked before any long work: a path
    that does not exist or holds no data file is an error naming it; skipped files are named on stderr."""
    import sys

    files: list[Path] = []
    for spec in specs:
        p = Path(spec)
        if not p.exists():
            raise FileNotFoundError(f"{what} {p} does not exist: give JSONL files or folders of them "
                                    "(e.g. a run's documents/)")
        found, skipped = data_files(p)
        for s in skipped:
            print(f"{what}: skipped {s}", file=sys.stderr)
        if not found:
            raise ValueError(f"{what} {p} holds no *.jsonl or *.jsonl.gz data file")
        files += found
    return files


def read_jsonl_rows(files: list[Path]) -> Iterator[tuple[str, object]]:
    """("file:line", parsed row) for every non-blank line; a line that is not UTF-8 JSON is an error naming its
    file:line, and a compressed file (.gz, .zst, .bz2, .xz) cut short or damaged one naming the file
    (compressed_file.read_lines: a corrupt file must not be read in part without a word)."""
    for f in files:
        regular_file(f)  # a FIFO given by name is refused, never waited on
        lines = read_lines(f, "recompress it whole, or move it out of the input")
        for n, row in json_lines(lines, f, "fix or remove that line"):
            yield f"{f}:{n}", row


def iter_records(folder: str | Path) -> Iterator[dict]:
    """Records of every data file under folder (data_files); rows that are not objects are skipped (the
    pipeline writes objects only; corpus_stats reports them)."""
    for _, row in read_jsonl_rows(data_files(folder)[0]):
        if isinstance(row, dict):
            yield row


def _json_file(path: Path, keys: tuple[str, ...], what: str) -> dict:
    """A JSON object file the pipeline wrote, with the keys it must have; else an error naming the file."""
    data = read_json_file(path, "rerun the pipeline (axk1 data run --force)", what=what)
    missing = [k for k in keys if not isinstance(data, dict) or k not in data]
    if missing:
        raise ValueError(f"{path}: not a {what}: no {', '.join(map(repr, missing))}; rerun the pipeline "
                         "(axk1 data run --force) or remove the file")
    return data


@dataclass
class Accounting:
    inputs: int = 0
    kept: int = 0
    excluded: Counter = field(default_factory=Counter)   # reason -> count
    failed: Counter = field(default_factory=Counter)     # reason -> count
    failed_items: list = field(default_factory=list)     # (id, reason), first 50
    kept_stage: str = ""
    vendored_folders: list = field(default_factory=list)  # code sources' folders not read (source_files.VENDORED_DIRS)
    other_files: int = 0                                  # typed sources' files of another kind, not read
    other_examples: list = field(default_factory=list)    # the first of them (source/path)
    side_files: int = 0                                   # side files not read (axk1/text/side_files.py)
    side_examples: list = field(default_factory=list)     # the first of them (source/path: why)
    dedup_pending: bool = False                           # dedup ran, annotate (which removes what it found) not yet
    non_page_records: Counter = field(default_factory=Counter)  # WARC records describing the crawl (type -> count)
    kept_by_source: Counter = field(default_factory=Counter)  # metadata.source -> kept documents
    excluded_by_source: dict = field(default_factory=dict)    # metadata.source -> Counter(reason -> count)

    def wholly_excluded(self) -> dict[str, Counter]:
        """The sources none of whose documents was kept though some were read and excluded: a source the filters
        remove entirely (the starter's PDFs, each removed as dup_5_gram) is easy to miss in the reasons' totals."""
        return {src: reasons for src, reasons in sorted(self.excluded_by_source.items())
                if not self.kept_by_source[src]}

    @property
    def balanced(self) -> bool:
        return self.inputs == self.kept + sum(self.excluded.values()) + sum(self.failed.values())

    def as_dict(self) -> dict:
        return {"inputs": self.inputs, "kept": self.kept, "kept_stage": self.kept_stage,
                "excluded": dict(self.excluded), "failed": dict(self.failed), "balanced": self.balanced,
                "failed_items": self.failed_items, "vendored_folders": self.vendored_folders,
                "other_files": self.other_files, "other_examples": self.other_examples, "side_files": self.side_files,
                "side_examples": self.side_examples, "non_page_records": dict(self.non_page_records),
                "dedup_pending": self.dedup_pending}


def account(out_dir: str | Path) -> Accounting:
    out = Path(out_dir)
    acc = Accounting()
    for p in sorted((out / "counts").glob("*.json")):
        counts = _json_file(p, ("inputs",), "task count file")
        acc.inputs += counts["inputs"]
        acc.vendored_folders += counts.get("vendored_folders", [])
        acc.other_files += counts.get("other_files", 0)
        acc.other_examples += counts.get("other_examples", [])
        acc.side_files += counts.get("side_files", 0)
        acc.side_examples += counts.get("side_examples", [])
        acc.non_page_records.update(counts.get("non_page_records", {}))
    acc.kept_stage = "documents" if (out / "documents").exists() else "clean"
    for r in iter_records(out / acc.kept_stage):
        acc.kept += 1
        acc.kept_by_source[_source(r)] += 1
    excl_dirs = sorted((out / "excluded").glob("*"))
    if acc.kept_stage == "clean":
        # Before annotate, clean/ still holds the duplicates. The exact ones are written out when the near-dedup
        # stages run (excluded/exact_duplicate/): they are counted there, not as kept (they were both, and the
        # table said "kept" only). Near duplicates are written by annotate alone.
        excl_dirs = [d for d in excl_dirs if d.name != "near_duplicate"]
        for r in iter_records(out / "excluded" / "exact_duplicate"):
            acc.kept -= 1
            acc.kept_by_source[_source(r)] -= 1
        acc.dedup_pending = (out / "dedup").is_dir()
    for d in excl_dirs:
        for r in iter_records(d):
            reason = r.get("metadata", {}).get("filter_reason", d.name)
            acc.excluded[reason] += 1
            acc.excluded_by_source.setdefault(_source(r), Counter())[reason] += 1
    for r in iter_records(out / "failed"):
        reason = r.get("metadata", {}).get("failure_reason", "unknown")
        acc.failed[re.match(r"[\w]*", reason).group(0) or "unknown"] += 1  # "invalid_utf8 at byte 3" -> invalid_utf8
        if len(acc.failed_items) < 50:
            acc.failed_items.append((r.get("id", "?"), reason))
    return acc


def _source(record: dict) -> str:
    meta = record.get("metadata")
    return str(meta.get("source", "-")) if isinstance(meta, dict) else "-"


def summary_text(acc: Accounting) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title="data pipeline: where every input went")
    table.add_column("outcome")
    table.add_column("reason")
    table.add_column("documents", justify="right")
    table.add_row("kept", acc.kept_stage, str(acc.kept))
    for reason, n in sorted(acc.excluded.items(), key=lambda x: -x[1]):
        table.add_row("excluded", reason, str(n))
    for reason, n in sorted(acc.failed.items(), key=lambda x: -x[1]):
        table.add_row("failed", reason, str(n))
    buf = StringIO()
    # no markup, emoji codes or highlighting: ids, keys and file names are the user's data ("[/meta]" raised
    # rich's MarkupError at the end of a finished run; "pq/a.parquet:100:" printed as an emoji)
    console = Console(file=buf, width=100, force_terminal=False, markup=False, emoji=False, highlight=False)
    console.print(table)
    total = acc.kept + sum(acc.excluded.values()) + sum(acc.failed.values())
    line = (f"in {acc.inputs} = kept {acc.kept} + excluded {sum(acc.excluded.values())} + failed "
            f"{sum(acc.failed.values())}" + ("" if acc.balanced else f"  ** UNBALANCED: outputs sum to {total} **"))
    console.print(line)
    for item_id, reason in acc.failed_items[:20]:
        console.print(f"  failed: {item_id}: {reason}")
    for src, reasons in acc.wholly_excluded().items():
        (reason, n), total = reasons.most_common(1)[0], sum(reasons.values())
        console.print(f"source '{src}': none of its documents was kept ({total} excluded, {n} of them as "
                      f"{reason}), so none reaches the token shards: its records are under excluded/, each with "
                      "its filter_reason", soft_wrap=True)
    if acc.dedup_pending:
        console.print("dedup has run but annotate has not: any near duplicates it found (and exact ones where near "
                      "dedup is off) are still in clean/, counted as kept until annotate removes them")
    if acc.vendored_folders:
        shown = ", ".join(acc.vendored_folders[:5]) + (", ..." if len(acc.vendored_folders) > 5 else "")
        console.print(f"not read: {len(acc.vendored_folders)} vendored or build folder(s) of code sources ({shown}): "
                      "other projects' copies and build output (docs/data.md, \"Sources\")")
    if acc.other_files:
        shown = ", ".join(acc.other_examples[:5]) + (", ..." if acc.other_files > 5 else "")
        console.print(f"not read: {acc.other_files} file(s) of a kind their source does not read ({shown}): give "
                      "them a source of their kind (docs/data.md, \"Sources\")")
    if acc.non_page_records:
        kinds = ", ".join(f"{n} {t}" for t, n in sorted(acc.non_page_records.items(), key=lambda x: (-x[1], x[0])))
        console.print(f"not inputs: {sum(acc.non_page_records.values())} WARC record(s) that describe the crawl, "
                      f"not pages ({kinds})", soft_wrap=True)
    if acc.side_files:
        console.print(f"not read: {acc.side_files} side file(s), which no source reads (docs/data.md, "
                      "\"Sources\"):")
        for line in acc.side_examples[:SIDE_SHOWN]:
            console.print(f"  {line}", soft_wrap=True)
        if acc.side_files > SIDE_SHOWN:
            console.print(f"  ... and {acc.side_files - SIDE_SHOWN} more")
    return buf.getvalue()


def _row_problem(row: object) -> str | None:
    """Why a row cannot be summarised (None: it can)."""
    if not isinstance(row, dict):
        return f"a JSON {type(row).__name__}, not an object"
    if not isinstance(row.get("text"), str):
        return "no `text` string"
    m = row.get("metadata", {})
    if not isinstance(m, dict):
        return "`metadata` is not an object"
    for key in ("domain", "language", "source"):
        if key in m and not isinstance(m[key], str):
            return f"metadata.{key} is not a string"
    d = m.get("difficulty")
    if d is not None and (isinstance(d, bool) or not isinstance(d, (int, float))):
        return "metadata.difficulty is not a number"
    return None


# Difficulty quantiles from a uniform sample of this many documents: a list of every document's score is 32 bytes a
# document (320 GB for 10^10), a sample's quantiles are within ~0.5% of rank at this size.
DIFFICULTY_SAMPLE = 100_000


def unfinished_stages(out: Path) -> list[str]:
    """`2 of 4 tasks of stage 'filter' done` for each stage of a run folder that began and has not finished: its
    tasks' outputs are partial (a shard cut short by the kill, documents the later stages have not had), and read
    as the corpus they gave a gzip error or an accounting of 0 kept. datatrove writes logs/<stage>/executor.json as
    a stage starts and completions/<rank> as each task ends."""
    left = []
    for executor in sorted((out / "logs").glob("*/executor.json")):
        try:
            tasks = int(read_json_file(executor, "rerun the pipeline")["world_size"])
        except (ValueError, OSError, KeyError, TypeError):
            continue  # not one of datatrove's (a killed write): the stage's tasks are not known
        markers = executor.parent / "completions"
        done = sum(1 for m in markers.iterdir() if m.is_file()) if markers.is_dir() else 0
        if done < tasks:
            left.append(f"{done} of {tasks} tasks of stage '{executor.parent.name}' done")
    return left


def corpus_stats(path: str | Path) -> dict:
    """Summary of a corpus: a run folder (documents/ or clean/ inside), a folder of JSONL files, or one file.
    Rows that cannot be summarised are counted by reason (bad_rows), with the first few by file:line."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist: give a run folder of `axk1 data run` (its run.output_dir, e.g. "
                                "out/data), a folder of JSONL files or one JSONL file")
    folder = p / "documents" if (p / "documents").exists() else p / "clean" if (p / "clean").exists() else p
    run_folder = (p / "counts").is_dir() or (p / "failed").is_dir()  # a pipeline's output folder
    if run_folder and (left := unfinished_stages(p)):
        raise ValueError(f"the run in {p} is unfinished: {'; '.join(left)} (a launch was stopped, or is still "
                         "running): its outputs are not the corpus yet. Run the same `axk1 data run` again to finish "
                         f"it (it keeps the finished tasks), then `axk1 data stats {p}`")
    docs = chars = 0
    domains, languages, sources, bad = Counter(), Counter(), Counter(), Counter()
    bad_examples: list[str] = []
    difficulties: list[float] = []  # a uniform sample of DIFFICULTY_SAMPLE at most (a seeded reservoir)
    rated, rng = 0, random.Random(0)
    # a run folder with neither documents/ nor clean/ kept nothing: its failed/ and excluded/ are not documents
    files, skipped = ([], []) if folder == p and run_folder else data_files(folder)
    for where, r in read_jsonl_rows(files):
        problem = _row_problem(r)
        if problem:
            bad[problem] += 1
            if len(bad_examples) < 10:
                bad_examples.append(f"{where}: {problem}")
            continue
        docs += 1
        chars += len(r["text"])
        m = r.get("metadata", {})
        domains[m.get("domain", "-")] += 1
        languages[m.get("language", "-")] += 1
        sources[m.get("source", "-")] += 1
        if m.get("difficulty") is not None:
            rated += 1
            if len(difficulties) < DIFFICULTY_SAMPLE:
                difficulties.append(m["difficulty"])
            elif (j := rng.randrange(rated)) < DIFFICULTY_SAMPLE:
                difficulties[j] = m["difficulty"]
    out = {"folder": str(folder), "documents": docs, "characters": chars, "domains": dict(domains.most_common()),
           "languages": dict(languages.most_common()), "sources": dict(sources.most_common())}
    if bad:
        out["bad_rows"] = dict(bad.most_common())
        out["bad_row_examples"] = bad_examples
    if skipped:
        out["skipped_files"] = skipped
    if difficulties:
        s = sorted(difficulties)
        out["difficulty_quantiles"] = {q: s[min(len(s) - 1, int(q * len(s)))] for q in (0.1, 0.5, 0.9)}
        if rated > len(s):
            out["difficulty_sample"] = len(s)  # the quantiles are a sample's, of `rated` documents
    manifest = p / "tokens" / "manifest.json"
    if manifest.exists():
        m = read_manifest(manifest)  # its format and layout checked, as training reads it (axk1/token_shards.py)
        try:
            out["tokens"] = {"total": m["total_tokens"], "tokenizer_hash": m["tokenizer_hash"],
                             "by_domain": {d: v["tokens"] for d, v in m["domains"].items()}}
        except (AttributeError, KeyError, TypeError):
            raise ValueError(f"{manifest}: not a token-shard manifest of a data run: it needs `total_tokens`, "
                             "`tokenizer_hash` and `domains` mapping each domain to an object with `tokens`; rerun "
                             "the pipeline (axk1 data run --force)") from None
    if (p / "counts").exists():
        out["accounting"] = account(p).as_dict()
    return out
