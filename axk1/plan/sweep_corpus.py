"""A corpus for a scaling-law sweep on any machine: the Python standard library's source as bytes.

A sweep needs text whose loss keeps falling with model size and tokens as a power law; a random chain (the
trainer tests' synthetic shards) is learnt completely by the smallest model. Source code is real text, present
offline on every machine with Python, ~30 MB: enough for the millions of tokens a CPU sweep trains on, so its
runs see each token about once. Bytes are the tokens (id = byte + 3, leaving 0-2 for pad/bos/eos), so no tokenizer
has to be trained first. Written in the token-shard format the trainer reads (axk1/token_shards.py).
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np

from axk1.token_shards import write_token_shards

BYTE_OFFSET = 3
VOCAB_SIZE = 256 + BYTE_OFFSET
DOC_BYTES = 4000  # files are cut into documents of this size, so a held-out share is many small documents
DOMAIN = "code"


def write_byte_corpus(out_dir: str | Path, source: str | Path | None = None, bos: int = 1) -> Path:
    """Every *.py under `source` (default: the standard library, ~30 MB, installed packages left out), sorted, as
    byte-token documents; returns the manifest path. Deterministic: same files, same bytes."""
    src = Path(source or sysconfig.get_paths()["stdlib"])
    files = sorted(f for f in src.rglob("*.py") if "site-packages" not in f.relative_to(src).parts)
    if not files:
        raise ValueError(f"no *.py files under {src} to build the sweep's corpus from: pass --corpus-from DIR with "
                         "Python or other text files (*.py), or --manifest with token shards")
    documents = []
    for path in files:
        data = path.read_bytes()
        for start in range(0, len(data), DOC_BYTES):
            ids = np.frombuffer(data[start:start + DOC_BYTES], dtype=np.uint8).astype(np.uint32) + BYTE_OFFSET
            documents.append(np.concatenate([np.array([bos], dtype=np.uint32), ids]))
    return write_token_shards(out_dir, {(DOMAIN, "d0"): documents}, VOCAB_SIZE, document_prefix=f"token id {bos}",
                              tokenizer="bytes (id = byte + 3)")
