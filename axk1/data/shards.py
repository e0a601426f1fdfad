"""Token shards: documents tokenised and packed into flat little-endian uint32 arrays, one per task, grouped by
domain and difficulty bucket, with document offsets and a manifest.json that the trainer's stage mixtures read
(the format and its manifest: axk1/token_shards.py).

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

from axk1.data.tokenizer import encode_plain
from axk1.json_text import read_json_file
from axk1.token_shards import OFFSET_DTYPE, TOKEN_DTYPE, shard_entry, write_manifest
from axk1.text.tokenizer_file import BOS, load_tokenizer, tokenizer_hash


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
                ids = np.asarray([bos] + enc.ids, dtype=TOKEN_DTYPE)
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
            np.asarray(g["offsets"], dtype=OFFSET_DTYPE).tofile(g["folder"] / f"{rank:05d}.idx")
            (g["folder"] / f"{rank:05d}.json").write_text(json.dumps({
                "domain": domain, "bucket": bucket, "docs": len(g["offsets"]) - 1, "tokens": g["offsets"][-1],
                "sources": dict(sorted(g["sources"].items())), "languages": dict(sorted(g["languages"].items())),
            }, sort_keys=True))
        return
        yield  # a generator that yields nothing: the last step of its stage


def write_corpus_manifest(tokens_dir: str | Path, tokenizer: str, difficulty_buckets: list[float]) -> dict:
    """Collects the per-shard counts into tokens/manifest.json (the format: axk1/token_shards.py)."""
    tokens_dir = Path(tokens_dir)
    shards, sources, languages = [], Counter(), Counter()
    for meta_path in sorted(tokens_dir.glob("*/*/*.json")):
        m = read_json_file(meta_path, "rerun the pipeline (axk1 data run --force)", what="token-shard counts",
                           need_object=True)
        rel = meta_path.relative_to(tokens_dir).with_suffix("")
        shards.append(shard_entry(str(rel), m["domain"], m["bucket"], m["docs"], m["tokens"]))
        sources.update(m["sources"])
        languages.update(m["languages"])
    return write_manifest(
        tokens_dir, shards, load_tokenizer(tokenizer).get_vocab_size(), BOS,
        tokenizer_hash=tokenizer_hash(tokenizer), difficulty_buckets=list(difficulty_buckets),
        sources=dict(sources), languages=dict(languages))


class ManifestStep(PipelineStep):
    """write_corpus_manifest as a one-task stage, so a cluster run finishes with the manifest too."""

    name = "axk1 manifest"
    type = "🔢 - TOKENIZER"

    def __init__(self, tokens_dir: str, tokenizer: str, difficulty_buckets: list[float]):
        super().__init__()
        self.tokens_dir, self.tokenizer, self.bounds = str(tokens_dir), tokenizer, list(difficulty_buckets)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        write_corpus_manifest(self.tokens_dir, self.tokenizer, self.bounds)
        return
        yield

