"""Small token shards in the data pipeline's format (axk1/data/shards.py), for tests and benchmarks.

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
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    shards, total = [], 0
    for domain in domains:
        successors = rng.integers(3, vocab_size, size=(vocab_size, 4))  # the chain's likely next tokens
        for bucket in buckets:
            folder = out_dir / domain / bucket
            folder.mkdir(parents=True, exist_ok=True)
            offsets, chunks = [0], []
            for _ in range(docs):
                n = int(rng.integers(*doc_len))
                ids = [bos, int(rng.integers(3, vocab_size))]
                for _ in range(n - 2):
                    ids.append(int(successors[ids[-1], rng.integers(4)]))
                chunks.append(np.asarray(ids, dtype="<u4"))
                offsets.append(offsets[-1] + n)
            np.concatenate(chunks).tofile(folder / "00000.bin")
            np.asarray(offsets, dtype="<u8").tofile(folder / "00000.idx")
            shards.append({"path": f"{domain}/{bucket}/00000.bin", "offsets": f"{domain}/{bucket}/00000.idx",
                           "domain": domain, "bucket": bucket, "docs": docs, "tokens": offsets[-1]})
            total += offsets[-1]
    manifest = {"format": "axk1-token-shards-v1", "dtype": "uint32", "byte_order": "little",
                "offsets_dtype": "uint64", "vocab_size": vocab_size, "total_tokens": total, "shards": shards}
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return path
