"""CRC-32 of a checkpoint's files: recorded when it is saved, checked before `--resume` or `axk1 export` reads a
tensor.

dcp_safe checks that every file is as long as the metadata says, so a truncated file is named. Bytes changed in
place (a disk or a copy gone wrong, a stray write) keep the size, and torch reads a tensor's raw bytes without a
check of its own: a resume trained on from a NaN in the embedding, or silently from other weights. Here each rank
hashes the files it wrote (DCP names them `__{rank}_{n}.distcp`; rank 0, the coordinator, also writes `.metadata`)
right after the write, while they are in the page cache; rank 0 gathers the table into train_state.json, which is
written after every rank's files and before the folder is renamed into place, so a step folder's table is complete
(async saves too: the same `finish`). A resume splits the check over its ranks, and all of them raise the same
error. zlib's CRC-32 (4.8 GB/s in memory on the 2-core machine this was written on; docs/training.md has the cost
per GB from disk) finds accidental damage, not a forger, who could rewrite train_state.json as well. A checkpoint
written before carries no table and loads as it did.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import torch.distributed as dist

from axk1.checkpoint.dcp_safe import METADATA, corrupt
from axk1.config import TRAIN_STATE

CHECKSUMS = "crc32"  # train_state.json's key: {file name: its CRC-32 as 8 hex digits}
_CHUNK = 16 << 20


def file_crc32(path: Path) -> str:
    crc, buf = 0, bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            crc = zlib.crc32(view[:n], crc)
    return f"{crc:08x}"


def _rank_world(group) -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(group), dist.get_world_size(group)
    return 0, 1


def record(folder: Path, group) -> dict[str, str] | None:
    """Every rank, once its DCP write has ended (collective in a launch): the folder's table on rank 0, None on the
    others. A file no rank claimed (were DCP to name its files otherwise) is hashed by rank 0, so none goes
    unchecked."""
    rank, world = _rank_world(group)
    mine = {p.name: file_crc32(p) for p in sorted(folder.iterdir())
            if p.is_file() and (p.name.startswith(f"__{rank}_") or (rank == 0 and p.name == METADATA))}
    if world > 1:
        tables: list | None = [None] * world if rank == 0 else None
        dist.gather_object(mine, tables, dst=dist.get_global_rank(group, 0) if group is not None else 0, group=group)
        if rank != 0:
            return None
        for table in tables:
            mine |= table
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.name not in mine and not p.name.endswith(".json"):
            mine[p.name] = file_crc32(p)
    return dict(sorted(mine.items()))


def verify(folder: Path, table: object, group, alone: bool = False) -> None:
    """Before a resume or an export reads a tensor (collective in a launch: each rank checks its share of the files,
    and every rank raises the same error, naming the first damaged file; `alone`: this process checks them all and
    joins no collective, as an export in one process of a launch does). `table`: train_state.json's, None for a
    checkpoint written before checksums were saved (nothing to check)."""
    if table is None:
        return
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise corrupt(folder / TRAIN_STATE, f"its {CHECKSUMS!r} table is not file name -> checksum")
    rank, world = (0, 1) if alone else _rank_world(group)
    bad = None
    for name in sorted(table)[rank::world]:
        path = folder / name
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            bad = (str(folder / TRAIN_STATE), f"its {CHECKSUMS!r} table names {name!r}, not a file here")
        elif not path.is_file():
            bad = (str(path), "missing")
        elif (got := file_crc32(path)) != table[name]:
            bad = (str(path), f"CRC-32 {got}, saved as {table[name]}: its bytes changed after the save")
        if bad:
            break
    if world > 1:  # every rank learns of any rank's find, so none goes on into the load alone
        found: list = [None] * world
        dist.all_gather_object(found, bad, group=group)
        bad = next((b for b in found if b is not None), None)
    if bad:
        raise corrupt(Path(bad[0]), bad[1])
