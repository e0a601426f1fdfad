"""The check of MinHash candidate pairs (axk1/data/dedup_check.py) does not depend on the input order. datatrove's
buckets stage links documents of one bucket signature as a chain of neighbours in document order; an original, a
copy with a header (0.85 with it) and a copy with a tenth of its sentences replaced (0.79 with it, 0.68 with the
other copy) made the chain original-header-copy in one order, whose second link is under 0.72: the copy was kept.
Each run is now checked member by member against all its earlier members."""

import struct
from itertools import permutations

import numpy as np
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupCluster

from axk1.data.dedup_check import SENTINEL, MinhashPairCheck, SketchWriter

BUCKETS, PER_BUCKET = 14, 8
HASHES = BUCKETS * PER_BUCKET


def sketches() -> dict[str, np.ndarray]:
    """Three signatures agreeing in bucket 0; outside it (104 hashes) header and copy differ from the original in
    15 and 22 places (0.86, 0.79) and in 37 from each other (0.64)."""
    orig = np.arange(HASHES, dtype=np.uint64)
    header, copy = orig.copy(), orig.copy()
    header[8:23] += 1000
    copy[23:45] += 2000
    return {"orig": orig, "header": header, "copy": copy}


def removed_in(tmp_path, order: tuple[str, ...]) -> set[str]:
    sigs, buckets, checked, remove = (tmp_path / name for name in ("sigs", "buckets", "checked", "remove"))
    writer = SketchWriter(sigs, 0, HASHES)
    for i, name in enumerate(order):
        writer.write(i, sketches()[name].reshape(BUCKETS, PER_BUCKET).tolist())
    writer.close()
    buckets.mkdir()
    for bucket in range(BUCKETS):  # bucket 0: the chain datatrove writes for equal signatures; the others: nothing
        chain = [(0, i, 0, i + 1) for i in range(len(order) - 1)] if bucket == 0 else []
        (buckets / f"{bucket:05d}_00.dups").write_bytes(b"".join(struct.pack("<4I", *p) for p in chain))
    MinhashPairCheck(str(sigs), str(buckets), str(checked), BUCKETS, PER_BUCKET, 0.72).run()
    MinhashDedupCluster(str(checked), str(remove), MinhashConfig(num_buckets=BUCKETS, hashes_per_bucket=PER_BUCKET)).run()
    gone = np.frombuffer((remove / "000000.remove").read_bytes(), dtype="<u4") if (remove / "000000.remove").exists() \
        else np.zeros(0, np.uint32)
    return {order[i] for i in gone.tolist()}


def test_a_near_copy_is_removed_whatever_the_input_order(tmp_path):
    """One of the three is kept whatever the order (the first, as the cluster stage keeps a group's root); with the
    original first, as in the probe's two orders, both copies go."""
    for n, order in enumerate(permutations(("orig", "header", "copy"))):
        removed = removed_in(tmp_path / str(n), order)
        assert removed == set(order[1:]), (order, removed)


def test_members_under_the_threshold_of_every_kept_document_stay(tmp_path):
    """header and copy alone (0.64): not duplicates, in either order."""
    for n, order in enumerate(permutations(("header", "copy"))):
        assert removed_in(tmp_path / str(n), order) == set(), order


def test_a_match_against_an_index_joins_every_member_of_its_run_to_it(tmp_path):
    """A match against an index (SENTINEL: no sketch) is taken as LSH alone has it: header and copy (0.64 with each
    other) both match the index's signature, and both are paired with it (the chain paired only the first)."""
    (tmp_path / "buckets").mkdir()
    rows = [(SENTINEL, SENTINEL, 0, 0), (0, 0, 0, 1)]
    (tmp_path / "buckets" / "00000_00.dups").write_bytes(b"".join(struct.pack("<4I", *r) for r in rows))
    writer = SketchWriter(tmp_path / "sigs", 0, HASHES)
    for i, name in enumerate(("header", "copy")):
        writer.write(i, sketches()[name].reshape(BUCKETS, PER_BUCKET).tolist())
    writer.close()
    MinhashPairCheck(str(tmp_path / "sigs"), str(tmp_path / "buckets"), str(tmp_path / "checked"), BUCKETS, PER_BUCKET,
                     0.72).run()
    out = np.frombuffer((tmp_path / "checked" / "00000_00.dups").read_bytes(), dtype="<u4").reshape(-1, 4)
    assert [tuple(r) for r in out.tolist()] == [(SENTINEL, SENTINEL, 0, 0), (SENTINEL, SENTINEL, 0, 1)]
