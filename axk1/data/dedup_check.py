"""A check of MinHash-LSH's candidate pairs against the Jaccard threshold before anything is removed.

LSH calls two documents duplicates when all the hashes of one bucket agree: with 14 buckets of 8 hashes a pair at
Jaccard 0.65 is caught with probability 0.36 and at 0.67 with 0.44, well under the threshold (~0.72) the layout
is meant to have. konlpy's National Assembly bills include sibling acts at 0.65 to 0.68 (character 7-grams): one was
removed as a near duplicate of a different act. The signature stage also writes each document's whole signature,
cut to 16 bits a hash (`sketch/<rank>.bin`, 2 bytes a hash: two different 64-bit minima agree in their low 16 bits
one time in 65,536); this step estimates each candidate pair's Jaccard from the hashes of the buckets other than
the one that matched (that bucket agrees by construction, and counting it raised every estimate) and keeps the
pair only at `min_jaccard` or more. The estimate's spread is about 0.045 at 0.7 (104 hashes).

The buckets stage writes, for documents of equal bucket signature, only a chain of neighbours in document order:
(a, b), (b, c), … Dropping a link under the threshold cut the later members off from the earlier ones, so whether a
near duplicate was removed depended on the input order (an original, a copy with a header at 0.85 and a copy with
10% of its sentences replaced at 0.79, the copies at 0.68 with each other: in one order the link copy-copy was the
only one for the second copy). So each chain is rebuilt into its run of documents, and each member is checked
against every earlier member (not only the kept ones: in the order header, original, copy the original is the
header's duplicate and the copy matches it alone); a pair is written for each similar earlier member that is not
already in the member's group, so a run of k documents writes at most k - 1 pairs.

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
# How many earlier members of one run a member is compared with (the latest): a run of equal bucket signatures costs
# its length times this, not its length squared.
MAX_EARLIER = 1000


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


def runs(rows: list[list[int]]) -> list[list[tuple[int, int]]]:
    """The runs of documents a buckets file's chain of pairs links, (a, b), (b, c) -> [a, b, c], each in order
    (a match against an index is a member (SENTINEL, SENTINEL), with no sketch)."""
    out: list[list[tuple[int, int]]] = []
    for f1, d1, f2, d2 in rows:
        if out and out[-1][-1] == (f1, d1):
            out[-1].append((f2, d2))
        else:
            out.append([(f1, d1), (f2, d2)])
    return out


class MinhashPairCheck(PipelineStep):
    """Between datatrove's MinHash buckets and cluster stages (one task): writes the candidate pairs whose estimated
    Jaccard is at least `min_jaccard`, each run of equal bucket signatures checked member by member against its
    earlier members (_checked). A document whose sketch is missing (signatures written before sketches existed, or
    a match against an index) is taken as similar, as LSH alone would."""

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
            kept = [row for run in runs(rows.tolist()) for row in self._checked(run, bucket, sketches)]
            (self.output_folder / path.name).write_bytes(b"".join(_PAIR.pack(*row) for row in kept))

    def _checked(self, run: list[tuple[int, int]], bucket: int, sketches: dict) -> list[tuple[int, int, int, int]]:
        """The pairs of one run (documents of one bucket signature, in document order) at `min_jaccard` or more:
        each member with the earlier members it is similar to, one pair for each group of them not yet joined (the
        estimate from the hashes outside this bucket, which agrees by construction). A member without a sketch (a
        match against an index, a signature written before sketches) is similar to every other, as LSH alone has
        it."""
        num_hashes = self.num_buckets * self.hashes_per_bucket
        keep = np.ones(num_hashes, dtype=bool)
        keep[bucket * self.hashes_per_bucket:(bucket + 1) * self.hashes_per_bucket] = False
        unknown = np.array([m not in sketches for m in run])
        hashes = np.stack([sketches.get(m, np.zeros(num_hashes, np.uint16)) for m in run])[:, keep]
        group = list(range(len(run)))  # union-find over the run's members

        def root(i: int) -> int:
            while group[i] != i:
                group[i] = group[group[i]]
                i = group[i]
            return i

        out = []
        for j in range(1, len(run)):
            lo = max(0, j - MAX_EARLIER)
            agree = (hashes[lo:j] == hashes[j]).mean(axis=1) if keep.any() else np.ones(j - lo)
            similar = np.flatnonzero((agree >= self.min_jaccard) | unknown[lo:j] | unknown[j]) + lo
            for i in similar.tolist():
                if root(i) != root(j):
                    out.append((*run[i], *run[j]))
                    group[root(j)] = root(i)
            self.stat_update("pairs_checked", value=j - lo)
            self.stat_update("pairs_below_jaccard", value=j - lo - len(similar))
        return out

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
