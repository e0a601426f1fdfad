"""Token shards: documents tokenised and packed into flat little-endian uint32 arrays, one per task, grouped by
domain and difficulty bucket, with document offsets and a manifest.json that the trainer's stage mixtures read.

Layout under tokens/:  <domain>/<bucket>/<rank>.bin   tokens (uint32), each document = [bos] + ids
                       <domain>/<bucket>/<rank>.idx   document start offsets (uint64), n_docs + 1 entries
                       <domain>/<bucket>/<rank>.json  counts for the manifest
                       manifest.json
Deterministic: same documents and tokenizer, same bytes (no timestamps, sorted keys).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from axk1.atomic_file import atomic_writer
from axk1.data.tokenizer import BOS, encode_plain
from axk1.json_text import read_json_file
from axk1.text.tokenizer_file import tokenizer_hash
from axk1.text.tokenizer_file import load_tokenizer


def bucket_name(difficulty: float, bounds: list[float]) -> str:
    """d0 for difficulty <= bounds[0], d1 up to bounds[1], ...; the last bucket is open-ended."""
    for i, b in enumerate(bounds):
        if difficulty <= b:
            return f"d{i}"
    return f"d{len(bounds)}"


class TokenShardWriter(PipelineStep):
    name = "axk1 token shards"
    type = "🔢 - TOKENIZER"

    def __init__(self, output_dir: str, tokenizer: str, difficulty_buckets: list[float], batch_size: int = 256):
        super().__init__()
        self.output_dir = str(output_dir)
        self.tokenizer_path = tokenizer
        self.bounds = list(difficulty_buckets)
        self.batch_size = batch_size

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        tok = load_tokenizer(self.tokenizer_path)
        bos = tok.token_to_id(BOS)
        if bos is None:
            raise ValueError(f"the tokenizer has no {BOS} token; train it with `axk1 data tokenizer train`")
        groups: dict[tuple[str, str], dict] = {}
        batch: list = []

        def flush() -> None:
            # document text, so special-token strings in it are plain text: no control id mid-document
            for doc, enc in zip(batch, encode_plain(tok, [d.text for d in batch])):
                key = (doc.metadata.get("domain", "web"), bucket_name(float(doc.metadata.get("difficulty", 0.0)),
                                                                    self.bounds))
                g = groups.get(key)
                if g is None:
                    folder = Path(self.output_dir, *key)
                    folder.mkdir(parents=True, exist_ok=True)
                    g = groups[key] = {"bin": open(folder / f"{rank:05d}.bin", "wb"), "offsets": [0],
                                       "sources": Counter(), "languages": Counter(), "folder": folder}
                ids = np.asarray([bos] + enc.ids, dtype="<u4")
                g["bin"].write(ids.tobytes())
                g["offsets"].append(g["offsets"][-1] + len(ids))
                g["sources"][doc.metadata.get("source", "unknown")] += 1
                g["languages"][doc.metadata.get("language", "unknown")] += 1
                self.stat_update("tokens", value=len(ids))
            batch.clear()

        for doc in data:
            batch.append(doc)
            if len(batch) >= self.batch_size:
                flush()
        if batch:
            flush()
        for (domain, bucket), g in sorted(groups.items()):
            g["bin"].close()
            np.asarray(g["offsets"], dtype="<u8").tofile(g["folder"] / f"{rank:05d}.idx")
            (g["folder"] / f"{rank:05d}.json").write_text(json.dumps({
                "domain": domain, "bucket": bucket, "docs": len(g["offsets"]) - 1, "tokens": g["offsets"][-1],
                "sources": dict(sorted(g["sources"].items())), "languages": dict(sorted(g["languages"].items())),
            }, sort_keys=True))
        return
        yield  # a generator that yields nothing: the last step of its stage


def write_manifest(tokens_dir: str | Path, tokenizer: str, difficulty_buckets: list[float]) -> dict:
    """Collects the per-shard counts into tokens/manifest.json."""
    tokens_dir = Path(tokens_dir)
    shards, by_domain, sources, languages = [], {}, Counter(), Counter()
    for meta_path in sorted(tokens_dir.glob("*/*/*.json")):
        m = read_json_file(meta_path, "rerun the pipeline (axk1 data run --force)", what="token-shard counts",
                           need_object=True)
        rel = meta_path.relative_to(tokens_dir).with_suffix("")
        shards.append({"path": f"{rel}.bin", "offsets": f"{rel}.idx", "domain": m["domain"], "bucket": m["bucket"],
                       "docs": m["docs"], "tokens": m["tokens"]})
        d = by_domain.setdefault(m["domain"], {"tokens": 0, "docs": 0, "buckets": {}})
        d["tokens"] += m["tokens"]
        d["docs"] += m["docs"]
        b = d["buckets"].setdefault(m["bucket"], {"tokens": 0, "docs": 0})
        b["tokens"] += m["tokens"]
        b["docs"] += m["docs"]
        sources.update(m["sources"])
        languages.update(m["languages"])
    tok = load_tokenizer(tokenizer)
    manifest = {
        "format": "axk1-token-shards-v1", "dtype": "uint32", "byte_order": "little", "offsets_dtype": "uint64",
        "document_prefix": BOS, "tokenizer_hash": tokenizer_hash(tokenizer), "vocab_size": tok.get_vocab_size(),
        "difficulty_buckets": list(difficulty_buckets),
        "total_tokens": sum(d["tokens"] for d in by_domain.values()),
        "total_docs": sum(d["docs"] for d in by_domain.values()),
        "domains": by_domain, "sources": dict(sources), "languages": dict(languages), "shards": shards,
    }
    with atomic_writer(tokens_dir / "manifest.json") as f:  # what training trusts as done: never cut short
        f.write(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False))
    return manifest


class ManifestStep(PipelineStep):
    """write_manifest as a one-task stage, so a cluster run finishes with the manifest too."""

    name = "axk1 manifest"
    type = "🔢 - TOKENIZER"

    def __init__(self, tokens_dir: str, tokenizer: str, difficulty_buckets: list[float]):
        super().__init__()
        self.tokens_dir, self.tokenizer, self.bounds = str(tokens_dir), tokenizer, list(difficulty_buckets)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        write_manifest(self.tokens_dir, self.tokenizer, self.bounds)
        return
        yield

