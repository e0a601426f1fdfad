"""The token-shard format: the one place that knows what a token-shard folder's manifest.json holds, writes it and
checks it on read. The data pipeline (axk1/data/shards.py), the sweep's byte corpus (axk1/plan/sweep_corpus.py)
and the synthetic shards of tests and demos all write it here; the trainer reads it here (axk1/train/data.py).

Layout:  <domain>/<bucket>/<name>.bin   tokens, little-endian uint32, each document = [document prefix] + ids
         <domain>/<bucket>/<name>.idx   document start offsets, little-endian uint64, n_docs + 1 entries
         manifest.json                  FORMAT, the layout's dtypes, totals per domain and bucket, the shards
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from axk1.atomic_file import atomic_writer
from axk1.json_text import read_json_file

FORMAT = "axk1-token-shards-v1"
TOKEN_DTYPE, OFFSET_DTYPE = "<u4", "<u8"  # what the reader memory-maps: the layout's fields below, as numpy names
LAYOUT = {"format": FORMAT, "dtype": "uint32", "byte_order": "little", "offsets_dtype": "uint64"}
RERUN = "re-run the data pipeline (`axk1 data run ...`) or fix the file"


def shard_entry(rel: str, domain: str, bucket: str, docs: int, tokens: int) -> dict:
    """A manifest's line for the shard <rel>.bin / <rel>.idx (relative to the manifest's folder)."""
    return {"path": f"{rel}.bin", "offsets": f"{rel}.idx", "domain": domain, "bucket": bucket, "docs": int(docs),
            "tokens": int(tokens)}


def write_manifest(out_dir: str | Path, shards: list[dict], vocab_size: int, document_prefix: str, **extra) -> dict:
    """manifest.json for `shards` (shard_entry lines): the layout, totals per domain and bucket, and `extra` fields
    (the data pipeline's tokenizer hash, sources, ...). Written whole or not at all: training takes it as done."""
    by_domain: dict[str, dict] = {}
    for s in shards:
        d = by_domain.setdefault(s["domain"], {"tokens": 0, "docs": 0, "buckets": {}})
        b = d["buckets"].setdefault(s["bucket"], {"tokens": 0, "docs": 0})
        for totals in (d, b):
            totals["tokens"] += s["tokens"]
            totals["docs"] += s["docs"]
    manifest = {**extra, **LAYOUT, "document_prefix": document_prefix, "vocab_size": int(vocab_size),
                "total_tokens": sum(s["tokens"] for s in shards), "total_docs": sum(s["docs"] for s in shards),
                "domains": by_domain, "shards": shards}
    with atomic_writer(Path(out_dir) / "manifest.json") as f:
        f.write(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False))
    return manifest


def write_token_shards(out_dir: str | Path, documents: dict[tuple[str, str], list], vocab_size: int,
                       document_prefix: str, **extra) -> Path:
    """Token documents per (domain, bucket), each already starting with its prefix token, as one shard each
    (<domain>/<bucket>/00000.bin/.idx) plus manifest.json; returns the manifest's path."""
    out_dir = Path(out_dir)
    shards = []
    for (domain, bucket), docs in documents.items():
        folder = out_dir / domain / bucket
        folder.mkdir(parents=True, exist_ok=True)
        offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])]).astype(OFFSET_DTYPE)
        np.concatenate([np.asarray(d, dtype=TOKEN_DTYPE) for d in docs]).tofile(folder / "00000.bin")
        offsets.tofile(folder / "00000.idx")
        shards.append(shard_entry(f"{domain}/{bucket}/00000", domain, bucket, len(docs), int(offsets[-1])))
    write_manifest(out_dir, shards, vocab_size, document_prefix, **extra)
    return out_dir / "manifest.json"


def read_manifest(path: str | Path) -> dict:
    """A token-shard manifest, checked: a JSON object with a "shards" list, in this FORMAT and its layout (a
    manifest of another format, or of big-endian or 64-bit tokens, would be read as other tokens than were
    written). Each problem is a ValueError of one line naming the file and the field."""
    path = Path(path)
    manifest = read_json_file(path, RERUN, what="token-shard manifest")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("shards", []), list):
        raise ValueError(f"{path}: a token-shard manifest is a JSON object with a \"shards\" list, got "
                         f"{type(manifest).__name__}" + (f" with shards {manifest['shards']!r}"
                                                        if isinstance(manifest, dict) else "") + f": {RERUN}")
    if manifest.get("format") != FORMAT:
        found = f"\"format\" {manifest['format']!r}" if "format" in manifest else "no \"format\""
        raise ValueError(f"{path}: a token-shard manifest has \"format\" {FORMAT!r}, this one has {found} (written "
                         f"by another tool or version): {RERUN}")
    for field, want in LAYOUT.items():
        if field in manifest and manifest[field] != want:
            raise ValueError(f"{path}: field \"{field}\" is {manifest[field]!r} but {FORMAT} shards are "
                             f"{want} (the reader would take other tokens than were written): {RERUN}")
    return manifest
