"""A model folder's weights fingerprint: tells a changed model from the one an earlier run read, without reading the
weights whole.

`axk1 eval` keeps completions to go on after an interruption, keyed by what decides them; the model was keyed by its
folder's path, so a folder whose weights were replaced (post-training re-exports to the same `model/` folder, a
`cp -r` over it) had its earlier model's completions reused and reported as the new model's scores. The fingerprint
hashes each weight file's name, size and safetensors header (every tensor's name, dtype, shape and offsets) and a
sample of every tensor's bytes, its first and last SAMPLE_BYTES: training, a merge or a fine-tune changes every
tensor it touches throughout, so both ends of a changed tensor differ (the chance that only a middle changes is a
hand-edit's, not a training run's). Cost: two small reads a tensor (A.X K1's ~35,000 tensors: ~280 MB), against
~1 TB to hash the weights whole.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

SAMPLE_BYTES = 4096
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own bound on a header


def weights_fingerprint(folder: str | Path) -> str:
    """sha256 (hex, 16 digits) of config.json and the folder's weight files (names, sizes, headers, samples): the
    files the loader reads (the index's shards or model.safetensors, and mtp.safetensors), checked as it checks them
    (regular files inside the folder); any other weight file (another format, a stray shard) by name and size. A
    header that is not a table of tensors with in-file offsets is hashed alone, never followed."""
    from axk1.checkpoint.folder import mtp_file, weight_files

    folder = Path(folder)
    h = hashlib.sha256()
    config = folder / "config.json"
    if config.is_file():
        h.update(config.read_bytes())
    read = [*weight_files(folder), *filter(None, [mtp_file(folder)])]
    for file in sorted(read):
        _hash_safetensors(h, file)
    for file in sorted(p for pattern in ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf")
                       for p in folder.glob(pattern) if p not in read):
        h.update(f"{file.name}\0{file.lstat().st_size}\0".encode())
    return h.hexdigest()[:16]


def _hash_safetensors(h, file: Path) -> None:
    size_on_disk = file.stat().st_size
    h.update(f"{file.name}\0{size_on_disk}\0".encode())
    with open(file, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        if size > min(_MAX_HEADER, size_on_disk - 8):  # not a header the loader would have read
            return
        header = f.read(size)
        h.update(header)
        data_bytes = size_on_disk - 8 - size
        try:
            tensors = json.loads(header)
            spans = sorted((k, *v["data_offsets"]) for k, v in tensors.items() if k != "__metadata__")
        except (ValueError, TypeError, KeyError, AttributeError):
            return
        for span in spans:
            if len(span) != 3 or not all(type(x) is int for x in span[1:]) or not 0 <= span[1] <= span[2] <= data_bytes:
                return  # offsets the loader would refuse: the header alone stands for the file
        for _, start, end in spans:
            for at in sorted({start, max(start, end - SAMPLE_BYTES)}):
                f.seek(8 + size + at)
                h.update(f.read(min(SAMPLE_BYTES, end - at)))
