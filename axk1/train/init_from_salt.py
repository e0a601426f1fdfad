"""The salt a run started from a model folder ([model] init_from) adds to every row's seed (train/data.py's draw), so
it does not draw again the rows the run that wrote the folder drew."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SAMPLE = 1 << 16  # bytes read of each weights file at its start, and again where its tensors start


def init_from_salt(folder: str | Path | None) -> tuple[int, ...]:
    """(a checksum of the [model] init_from folder,) or () without one. A run started from an export of another run
    at step 0 with the same [data] seed drew the same rows as it had: every row whose stage shares a domain with the
    first run's re-read that run's window at the same step (16 of 48 rows of a stage-2-only run from stage 1's
    export). The folder's config.json and, of each safetensors file, its name, size, first 64 KiB and the first 64 KiB
    of its tensors tell it apart from the run it came from, without reading a 1 TB release whole. The tensors' start
    is read apart because a large model's safetensors header (the tensors' names and offsets, the same for every
    export of one architecture) runs past 64 KiB: two exports of one run, stage 1's and stage 2's, would otherwise
    give one salt, and a stage-3 run from stage 2's export would re-draw stage 2's rows."""
    if folder is None or not Path(folder).is_dir():
        return ()  # nothing to start from, or a folder the model's loading will name as missing
    crc = 0
    for path in [Path(folder) / "config.json", *sorted(Path(folder).glob("*.safetensors"))]:
        if path.is_file():
            with open(path, "rb") as f:
                head = f.read(SAMPLE)
                crc = zlib.crc32(f"{path.name}:{path.stat().st_size}".encode() + head, crc)
                if path.suffix == ".safetensors" and len(head) >= 8:
                    # the format: an 8-byte little-endian header length, the JSON header, then the tensors. A cut
                    # or foreign file reads short or nothing here, and the model's loading names it
                    f.seek(8 + struct.unpack("<Q", head[:8])[0])
                    crc = zlib.crc32(f.read(SAMPLE), crc)
    return (crc,)
