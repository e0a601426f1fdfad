"""A check of MinHash-LSH's candidate pairs against the Jaccard threshold before anything is removed.

LSH calls two documents duplicates when all the hashes of one bucket agree: with 14 buckets of 8 hashes a pair at
Jaccard 0.65 is caught with probability 0.36 and at 0.67 with 0.44, well under the threshold (~0.72) the layout
is meant to have. konlpy's National Assembly bills include sibling acts at 0.65 to 0.68 (character 7-grams): one was
removed as a near duplicate of a different act. The signature stage also writes each document's whole signature,
cut to 16 bits a hash (`sketch/<rank>.bin`, 2 bytes a hash: two different 64-bit minima agree in their low 16 bits
one time in 65,536); this step estimates each candidate pair's Jaccard from the hashes of the buckets other than
the one that matched (that bucket agrees by construction, and counting it raised every estimate) and keeps the
pair only at `min_jaccard` or more. The estimate's spread is about 0.045 at 0.7 (104 hashes).

Layout: sketch records are (doc index: uint32, num_buckets * hashes_per_bucket uint16) in the order documents came;
the buckets stage's pairs `<bucket>_<worker>.dups` are (file, doc, file, doc) uint32, file being the signature
file's rank. The checked pairs go to a folder of the same file names, which the cluster stage reads.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from pathlib import Path

import numpy as np
from datatrove.pipeline.base import PipelineStep

SKETCH_FOLDER = "sketch"
_PAIR = struct.Struct("<4I")
SENTINEL = (1 << 32) - 1  # datatrove's mark for a match against an index (never checked: no sketch for it)


def sketch_dtype(num_hashes: int) -> np.dtype:
    return np.dtype([("doc", "<u4"), ("hashes", "<u2", (num_hashes,))])


class SketchWriter:
    """Appends one document's signature, cut to 16 bits a hash, to the rank's sketch file."""

    def __init__(self, folder: str | Path, rank: int, num_hashes: int):
        self.path = Path(folder) / SKETCH_FOLDER / f"{rank:05d}.bin"
        self.dtype = sketch_dtype(num_hashes)
        self.file = None  # opened at the first signature: a relaunch whose signatures are kept writes none

    def write(self, doc_idx: int, signature: list[list[int]]) -> None:
        if self.file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "wb")
        record = np.zeros(1, dtype=self.dtype)
        record["doc"] = doc_idx
        record["hashes"] = np.asarray([h for bucket in signature for h in bucket], dtype=np.uint64) & 0xFFFF
        self.file.write(record.tobytes())

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def estimated_jaccard(a: np.ndarray, b: np.ndarray, matched_bucket: int, hashes_per_bucket: int) -> float:
    """Share of agreeing hashes outside the bucket that matched."""
    keep = np.ones(len(a), dtype=bool)
    keep[matched_bucket * hashes_per_bucket:(matched_bucket + 1) * hashes_per_bucket] = False
    return float(np.mean(a[keep] == b[keep])) if keep.any() else 1.0


class MinhashPairCheck(PipelineStep):
    """Between datatrove's MinHash buckets and cluster stages (one task): copies the candidate pairs whose estimated
    Jaccard is at least `min_jaccard`. A pair whose sketch is missing (signatures written before sketches existed)
    is kept, as LSH alone would."""

    type = "🫂 - DEDUP"
    name = "🎯 MinHash pair check (axk1)"

    def __init__(self, sigs_folder: str, pairs_folder: str, output_folder: str, num_buckets: int,
                 hashes_per_bucket: int, min_jaccard: float):
        super().__init__()
        self.sigs_folder, self.pairs_folder, self.output_folder = Path(sigs_folder), Path(pairs_folder), \
            Path(output_folder)
        self.num_buckets, self.hashes_per_bucket, self.min_jaccard = num_buckets, hashes_per_bucket, min_jaccard

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        files = sorted(self.pairs_folder.glob("*.dups"))
        pairs = {f: np.frombuffer(f.read_bytes(), dtype="<u4").reshape(-1, 4) for f in files}
        needed = defaultdict(set)
        for rows in pairs.values():
            for f1, d1, f2, d2 in rows.tolist():
                if f1 != SENTINEL:
                    needed[f1].add(d1)
                needed[f2].add(d2)
        sketches = self._load(needed)
        self.output_folder.mkdir(parents=True, exist_ok=True)
        for path, rows in pairs.items():
            bucket = int(path.name.split("_")[0])
            kept = [row for row in rows.tolist() if self._keep(row, bucket, sketches)]
            (self.output_folder / path.name).write_bytes(b"".join(_PAIR.pack(*row) for row in kept))
            self.stat_update("pairs_checked", value=len(rows))
            self.stat_update("pairs_below_jaccard", value=len(rows) - len(kept))

    def _keep(self, row: list[int], bucket: int, sketches: dict) -> bool:
        f1, d1, f2, d2 = row
        a, b = sketches.get((f1, d1)), sketches.get((f2, d2))
        if a is None or b is None:
            return True
        return estimated_jaccard(a, b, bucket, self.hashes_per_bucket) >= self.min_jaccard

    def _load(self, needed: dict[int, set[int]]) -> dict[tuple[int, int], np.ndarray]:
        """The sketches of the documents in some pair, read a rank's file at a time (those alone are kept)."""
        dtype = sketch_dtype(self.num_buckets * self.hashes_per_bucket)
        out = {}
        for file_id, docs in needed.items():
            path = self.sigs_folder / SKETCH_FOLDER / f"{file_id:05d}.bin"
            if not path.exists() or path.stat().st_size == 0:
                continue
            records = np.memmap(path, dtype=dtype, mode="r")  # read from disk only where a pair needs it
            wanted = np.isin(records["doc"], np.fromiter(docs, dtype=np.uint32))
            for rec in records[wanted]:
                out[(file_id, int(rec["doc"]))] = rec["hashes"].copy()
        return out
