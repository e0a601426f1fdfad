"""Small token shards for the trainer's tests and benchmarks, in the one token-shard format (axk1/token_shards.py).

Documents come from a per-domain random bigram chain (each token has a few likely successors), so a model can
learn them and the loss falls well below the unigram entropy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from axk1.token_shards import write_token_shards


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
    return write_token_shards(out_dir, documents, vocab_size, document_prefix=f"token id {bos}")
