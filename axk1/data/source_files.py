"""Which files a source covers: the walk of its folder (links followed, each real folder once; hidden files, and a
code source's vendored and build folders, passed over), the suffixes each source type reads (compressed JSON lines
and crawls, Debian's .pdf.gz manuals), and the files of another kind found on the way, which the run's accounting
names under "not read" so that nothing in a source's folder goes unread unseen, as it names the side files of synth
and other writers that no source reads (docs/data.md).

`spec` below is a SourceConfig (axk1/data/sources.py, whose reader reads the files listed here).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from axk1.text.side_files import side_file_reason

# a code source reads the files of these suffixes; each document is labelled with the language
CODE_LANGUAGES = {
    ".py": "python", ".js": "javascript", ".mjs": "javascript", ".ts": "typescript", ".tsx": "typescript",
    ".java": "java", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".rs": "rust", ".go": "go",
    ".rb": "ruby", ".php": "php", ".cs": "csharp", ".kt": "kotlin", ".swift": "swift", ".scala": "scala",
    ".sh": "shell", ".bash": "shell", ".sql": "sql", ".lua": "lua", ".r": "r", ".jl": "julia", ".m": "objc",
    ".hs": "haskell", ".ml": "ocaml", ".pl": "perl", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml",
    ".json": "json", ".md": "markdown", ".rst": "rst", ".html": "html", ".css": "css",
}
# folders a code source passes over: other projects' copies and build products (named under "not read")
VENDORED_DIRS = {".git", ".hg", ".svn", "node_modules", "vendor", "vendors", "third_party", "third-party",
                 "__pycache__", "site-packages", "dist-packages", ".venv", "venv", "build", "dist", ".tox",
                 ".mypy_cache", ".pytest_cache", "bower_components", "Pods", "target"}


def check_source_paths(specs: list) -> None:
    """Every source's path exists. Checked before a local run writes anything: a missing one otherwise failed inside
    every reader task, each printing a worker's traceback, after the run folder and its settings were written (a run
    of a shipped recipe from another folder than the one its relative paths assume does this)."""
    for i, spec in enumerate(specs):
        if not Path(spec.path).exists():
            raise FileNotFoundError(f"source {spec.name!r}: {spec.path} does not exist; fix its `path` in the pipeline "
                                    f"file (relative to the file's folder) or give it as --sources.{i}.path DIR")


OTHER_EXAMPLES = 20  # files of another kind named in the accounting (the rest counted)
# what a typed source reads, for the accounting's "not read" line
KIND_NAMES = {"pdf": "a PDF", "html": "an HTML page", "warc": "a WARC", "jsonl": "JSON lines", "parquet": "Parquet",
              "code": "code of a known language"}


def list_files(spec, vendored: list[str] | None = None, other: list[str] | None = None, skip: str | None = None,
               side: list[str] | None = None) -> list[Path]:
    """The files a source covers, sorted (so task assignment and output order are deterministic). A code source
    passes over vendored and build folders (VENDORED_DIRS: copies of other projects' code and build products), which
    are appended to `vendored` (as `source/path`) for the run's accounting to name; a typed source's files of
    another kind (a `.pdf.zst` or README in a PDF folder) are appended to `other` (as `source/path`), so that
    nothing in a source's folder goes unread unseen. `skip`: the run's output folder, never an input where a source
    holds it (a relaunch read the run's own settings.json and outputs as documents). Side files (synth's rejected,
    failed, excluded and summary files, temporary files: axk1/text/side_files.py) are never read from a folder, by
    any source type; each is appended to `side` as `source/path: why` for the accounting to name."""
    root = Path(spec.path)
    if not root.exists():
        raise FileNotFoundError(f"source {spec.name!r}: {root} does not exist; fix `path` in the pipeline file")
    if root.is_file():
        return [root]
    out, seen = [], {root.resolve()} | ({Path(skip).resolve()} if skip else set())
    # Symlinked folders are followed (a corpus assembled from links must not be skipped silently), each real folder
    # once, so a link loop ends.
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        keep = []
        for d in sorted(dirnames):
            real = (Path(dirpath) / d).resolve()
            if spec.type == "code" and d in VENDORED_DIRS and not d.startswith(".") and vendored is not None:
                vendored.append(f"{spec.name}/{relpath(spec, Path(dirpath) / d)}")
            if (spec.type == "code" and d in VENDORED_DIRS) or d.startswith(".") or real in seen:
                continue
            seen.add(real)
            keep.append(d)
        dirnames[:] = keep
        for fn in sorted(filenames):
            p = Path(dirpath) / fn
            if spec.glob and not p.match(spec.glob):
                continue
            why = None if fn.startswith(".") else side_file_reason(fn)
            if why:
                if side is not None:
                    side.append(f"{spec.name}/{relpath(spec, p)}: {why}")
            elif _wanted(spec.type, p):
                out.append(p)
            elif other is not None and spec.type in KIND_NAMES and not fn.startswith("."):
                other.append(f"{spec.name}/{relpath(spec, p)}")
    return out


PDF_SUFFIXES = (".pdf", ".pdf.gz", ".pdf.bz2", ".pdf.xz")
_WARC_NAME = re.compile(r"\.w?arc(\.wet|\.wat)?(\.gz|\.zst|\.zstd)?$")
_JSONL_NAME = re.compile(r"\.(jsonl|json|ndjson)(\.(gz|zst|zstd|bz2|xz|lz4|br|snappy))?$")


def _wanted(kind: str, p: Path) -> bool:
    name = p.name.lower()
    if kind == "jsonl":  # any compression: what cannot be read fails with a reason, never skipped unseen
        return _JSONL_NAME.search(name) is not None
    if kind == "parquet":
        return name.endswith(".parquet")
    if kind == "pdf":  # as Debian ships manuals: install.ko.pdf.gz
        return name.endswith(PDF_SUFFIXES)
    if kind == "warc":  # every compression and crawl product (WET, zstd): what cannot be read fails with a reason
        return _WARC_NAME.search(name) is not None
    if kind == "html":
        return name.endswith((".html", ".htm", ".xhtml"))
    if kind == "code":
        return p.suffix.lower() in CODE_LANGUAGES
    return not name.startswith(".")  # text: every file; binary ones fail with a reason


def relpath(spec, path: Path) -> str:
    root = Path(spec.path)
    return path.name if root.is_file() else str(path.relative_to(root))
