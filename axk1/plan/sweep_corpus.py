"""A corpus for a scaling-law sweep on any machine: the Python standard library's source as bytes.

A sweep needs text whose loss keeps falling with model size and tokens as a power law; a random chain (the
trainer tests' synthetic shards) is learnt completely by the smallest model. Source code is real text, present
offline on every machine with Python, ~30 MB: enough for the millions of tokens a CPU sweep trains on, so its
runs see each token about once. Bytes are the tokens (id = byte + 3, leaving 0-2 for pad/bos/eos), so no tokenizer
has to be trained first. Written in the token-shard format the trainer reads (axk1/data/shards.py).
"""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import numpy as np

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
    out_dir = Path(out_dir)
    folder = out_dir / DOMAIN / "d0"
    folder.mkdir(parents=True, exist_ok=True)
    chunks, offsets = [], [0]
    for path in files:
        data = path.read_bytes()
        for start in range(0, len(data), DOC_BYTES):
            ids = np.frombuffer(data[start:start + DOC_BYTES], dtype=np.uint8).astype("<u4") + BYTE_OFFSET
            chunks.append(np.concatenate([np.array([bos], dtype="<u4"), ids]))
            offsets.append(offsets[-1] + len(chunks[-1]))
    np.concatenate(chunks).tofile(folder / "00000.bin")
    np.asarray(offsets, dtype="<u8").tofile(folder / "00000.idx")
    manifest = {"format": "axk1-token-shards-v1", "dtype": "uint32", "byte_order": "little", "offsets_dtype": "uint64",
                "vocab_size": VOCAB_SIZE, "total_tokens": offsets[-1], "tokenizer": "bytes (id = byte + 3)",
                "shards": [{"path": f"{DOMAIN}/d0/00000.bin", "offsets": f"{DOMAIN}/d0/00000.idx", "domain": DOMAIN,
                            "bucket": "d0", "docs": len(chunks), "tokens": offsets[-1]}]}
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return path
