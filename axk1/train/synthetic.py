"""Small token shards in the data pipeline's format (axk1/data/shards.py), for tests, benchmarks and the
long-context demo (axk1/long_context.py).

Documents come from a per-domain random bigram chain (each token has a few likely successors), so a model can
learn them and the loss falls well below the unigram entropy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_synthetic_shards(out_dir: str | Path, vocab_size: int = 512, domains: tuple[str, ...] = ("web", "code"),
                           buckets: tuple[str, ...] = ("d0",), docs: int = 64, doc_len: tuple[int, int] = (16, 96),
                           seed: int = 0, bos: int = 1) -> Path:
    """Writes <domain>/<bucket>/00000.{bin,idx} and manifest.json; returns the manifest path."""
    rng = np.random.default_rng(seed)
    documents: dict[tuple[str, str], list[list[int]]] = {}
    for domain in domains:
        successors = rng.integers(3, vocab_size, size=(vocab_size, 4))  # the chain's likely next tokens
        for bucket in buckets:
            documents[domain, bucket] = []
            for _ in range(docs):
                n = int(rng.integers(*doc_len))
                ids = [bos, int(rng.integers(3, vocab_size))]
                for _ in range(n - 2):
                    ids.append(int(successors[ids[-1], rng.integers(4)]))
                documents[domain, bucket].append(ids)
    return write_token_shards(out_dir, documents, vocab_size)


def write_token_shards(out_dir: str | Path, documents: dict[tuple[str, str], list[list[int]]], vocab_size: int) -> Path:
    """Token documents per (domain, bucket) (each already starting with bos) as one shard each plus manifest.json,
    in the layout the data pipeline writes (axk1/data/shards.py); returns the manifest path."""
    out_dir = Path(out_dir)
    shards, total = [], 0
    for (domain, bucket), docs in documents.items():
        folder = out_dir / domain / bucket
        folder.mkdir(parents=True, exist_ok=True)
        offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])]).astype("<u8")
        np.concatenate([np.asarray(d, dtype="<u4") for d in docs]).tofile(folder / "00000.bin")
        offsets.tofile(folder / "00000.idx")
        shards.append({"path": f"{domain}/{bucket}/00000.bin", "offsets": f"{domain}/{bucket}/00000.idx",
                       "domain": domain, "bucket": bucket, "docs": len(docs), "tokens": int(offsets[-1])})
        total += int(offsets[-1])
    manifest = {"format": "axk1-token-shards-v1", "dtype": "uint32", "byte_order": "little",
                "offsets_dtype": "uint64", "vocab_size": vocab_size, "total_tokens": total, "shards": shards}
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return path
