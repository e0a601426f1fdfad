"""Accounting for a run (in = kept + excluded + failed, with reasons) and `axk1 data stats` for a corpus."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator


def iter_records(folder: str | Path) -> Iterator[dict]:
    """Records of every *.jsonl / *.jsonl.gz under folder (sorted)."""
    folder = Path(folder)
    if not folder.exists():
        return
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*.jsonl*") if p.is_file())
    for f in files:
        opener = gzip.open if f.name.endswith(".gz") else open
        with opener(f, "rt", encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)


@dataclass
class Accounting:
    inputs: int = 0
    kept: int = 0
    excluded: Counter = field(default_factory=Counter)   # reason -> count
    failed: Counter = field(default_factory=Counter)     # reason -> count
    failed_items: list = field(default_factory=list)     # (id, reason), first 50
    kept_stage: str = ""

    @property
    def balanced(self) -> bool:
        return self.inputs == self.kept + sum(self.excluded.values()) + sum(self.failed.values())

    def as_dict(self) -> dict:
        return {"inputs": self.inputs, "kept": self.kept, "kept_stage": self.kept_stage,
                "excluded": dict(self.excluded), "failed": dict(self.failed), "balanced": self.balanced,
                "failed_items": self.failed_items}


def account(out_dir: str | Path) -> Accounting:
    out = Path(out_dir)
    acc = Accounting()
    for p in sorted((out / "counts").glob("*.json")):
        acc.inputs += json.loads(p.read_text())["inputs"]
    acc.kept_stage = "documents" if (out / "documents").exists() else "clean"
    acc.kept = sum(1 for _ in iter_records(out / acc.kept_stage))
    if acc.kept_stage == "clean":  # dedup not applied yet: its exclusions would double count
        excl_dirs = [d for d in (out / "excluded").glob("*") if d.name not in ("exact_duplicate", "near_duplicate")]
    else:
        excl_dirs = sorted((out / "excluded").glob("*"))
    for d in excl_dirs:
        for r in iter_records(d):
            acc.excluded[r.get("metadata", {}).get("filter_reason", d.name)] += 1
    for r in iter_records(out / "failed"):
        reason = r.get("metadata", {}).get("failure_reason", "unknown")
        acc.failed[re.match(r"[\w]*", reason).group(0) or "unknown"] += 1  # "invalid_utf8 at byte 3" -> invalid_utf8
        if len(acc.failed_items) < 50:
            acc.failed_items.append((r.get("id", "?"), reason))
    return acc


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
    console = Console(file=buf, width=100, force_terminal=False)
    console.print(table)
    total = acc.kept + sum(acc.excluded.values()) + sum(acc.failed.values())
    line = (f"in {acc.inputs} = kept {acc.kept} + excluded {sum(acc.excluded.values())} + failed "
            f"{sum(acc.failed.values())}" + ("" if acc.balanced else f"  ** UNBALANCED: outputs sum to {total} **"))
    console.print(line)
    for item_id, reason in acc.failed_items[:20]:
        console.print(f"  failed: {item_id}: {reason}")
    return buf.getvalue()


def corpus_stats(path: str | Path) -> dict:
    """Summary of a corpus: a run folder (documents/ or clean/ inside), a folder of JSONL files, or one file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    folder = p / "documents" if (p / "documents").exists() else p / "clean" if (p / "clean").exists() else p
    run_folder = (p / "counts").is_dir() or (p / "failed").is_dir()  # a pipeline's output folder
    docs = chars = 0
    domains, languages, sources = Counter(), Counter(), Counter()
    difficulties = []
    # a run folder with neither documents/ nor clean/ kept nothing: its failed/ and excluded/ are not documents
    for r in ([] if folder == p and run_folder else iter_records(folder)):
        docs += 1
        chars += len(r.get("text", ""))
        m = r.get("metadata", {})
        domains[m.get("domain", "-")] += 1
        languages[m.get("language", "-")] += 1
        sources[m.get("source", "-")] += 1
        if "difficulty" in m:
            difficulties.append(m["difficulty"])
    out = {"folder": str(folder), "documents": docs, "characters": chars, "domains": dict(domains.most_common()),
           "languages": dict(languages.most_common()), "sources": dict(sources.most_common())}
    if difficulties:
        s = sorted(difficulties)
        out["difficulty_quantiles"] = {q: s[min(len(s) - 1, int(q * len(s)))] for q in (0.1, 0.5, 0.9)}
    manifest = p / "tokens" / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        out["tokens"] = {"total": m["total_tokens"], "tokenizer_hash": m["tokenizer_hash"],
                         "by_domain": {d: v["tokens"] for d, v in m["domains"].items()}}
    if (p / "counts").exists():
        out["accounting"] = account(p).as_dict()
    return out
