"""Which kept document a removed duplicate copies: `metadata.duplicate_of` (the kept document's id) on every record
of excluded/exact_duplicate/ and excluded/near_duplicate/. datatrove's dedup stages say only which documents of a
shard to remove (by their place in it), so a removal could not be checked against what it duplicated.

The signature stages also write each shard's document ids in order (`<sigs>/ids/<rank>.jsonl`, a JSON string a
line); one task after the finding stage (exact_find, minhash_cluster) pairs each removed document with the kept
member of its group and writes, per shard, `{place: kept id}` (`<origins>/<rank>.json`); DuplicateOrigin stamps
them on the documents just before datatrove's filter removes them, in a stream of the same documents in the same
order as the signature stage read. A run whose dedup ran before this (no ids) removes the same documents without
the field.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.exact_dedup import ExactDedupSignature, ExtensionHelperSD, get_sig_dtype

IDS_FOLDER = "ids"


class IdRecorder:
    """Writes the ids of one shard's documents, in the order its signature stage reads them."""

    def __init__(self, sigs_folder: str | Path, rank: int):
        path = Path(sigs_folder) / IDS_FOLDER / f"{rank:05d}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(path, "w", encoding="utf-8")

    def write(self, doc_id) -> None:
        self.file.write(json.dumps(str(doc_id), ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.file.close()


def read_ids(sigs_folder: str | Path, rank: int) -> list[str] | None:
    path = Path(sigs_folder) / IDS_FOLDER / f"{rank:05d}.jsonl"
    return [json.loads(line) for line in path.open(encoding="utf-8")] if path.is_file() else None


def write_origins(folder: Path, origins: dict[tuple[int, int], tuple[int, int]], sigs_folder: str | Path) -> None:
    """{(rank, place) removed: (rank, place) kept} as one `{place: kept id}` file per shard (none without ids)."""
    ids: dict[int, list[str] | None] = {}
    per_rank: dict[int, dict[str, str]] = defaultdict(dict)
    for (rank, doc), (kept_rank, kept_doc) in origins.items():
        if kept_rank not in ids:
            ids[kept_rank] = read_ids(sigs_folder, kept_rank)
        names = ids[kept_rank]
        if names is not None and kept_doc < len(names):
            per_rank[rank][str(doc)] = names[kept_doc]
    folder.mkdir(parents=True, exist_ok=True)
    for rank, table in per_rank.items():
        (folder / f"{rank:05d}.json").write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")


def _kept_of_groups(members: dict, removed: set) -> dict[tuple[int, int], tuple[int, int]]:
    """For each group (its members (rank, place) in order), every removed member -> the group's first kept one."""
    out = {}
    for group in members.values():
        kept = next((m for m in group if m not in removed), None)
        if kept is not None:
            out.update({m: kept for m in group if m in removed})
    return out


class RecordedExactSignature(ExactDedupSignature):
    """datatrove's exact-dedup signature stage, writing its shard's document ids too."""

    def run(self, data, rank: int = 0, world_size: int = 1):
        recorder = IdRecorder(self.output_folder.path, rank)

        def recorded():
            for doc in data:
                recorder.write(doc.id)
                yield doc
        try:
            return super().run(recorded(), rank, world_size)
        finally:
            recorder.close()


class ExactOrigins(PipelineStep):
    """After exact_find (one task): each exact duplicate's kept document, from the signatures (hash, priority,
    place) and the places exact_find removed; a group's kept member is the one it did not remove."""

    type = "🫂 - DEDUP"
    name = "🎯 exact duplicate origins (axk1)"

    def __init__(self, sigs_folder: str, dups_folder: str, output_folder: str, hash_config):
        super().__init__()
        self.sigs_folder, self.dups_folder, self.output_folder = Path(sigs_folder), Path(dups_folder), \
            Path(output_folder)
        self.dtype = get_sig_dtype(hash_config)

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        removed = set()
        for path in self.dups_folder.glob(f"*/*{ExtensionHelperSD.stage_2_duplicates}"):
            shard = int(path.name.removesuffix(ExtensionHelperSD.stage_2_duplicates))
            removed.update((shard, int(d)) for d in np.fromfile(path, dtype="<u4"))
        if not removed:
            return
        files = {int(p.name.removesuffix(ExtensionHelperSD.stage_1_signature)): p
                 for p in sorted(self.sigs_folder.glob(f"*/*{ExtensionHelperSD.stage_1_signature}"))}
        # two passes over the signatures, holding only the groups with a removed member, not every document's hash
        by_shard: dict[int, list[int]] = defaultdict(list)
        for shard, doc in removed:
            by_shard[shard].append(doc)
        wanted = set()
        for shard, path in files.items():
            sigs = np.fromfile(path, dtype=self.dtype)
            wanted.update(sigs["hash"][np.isin(sigs["doc"], np.array(by_shard[shard], dtype=np.uint32))].tolist())
        wanted_hashes = np.fromiter(wanted, dtype=self.dtype["hash"])
        groups: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for shard, path in sorted(files.items()):
            sigs = np.fromfile(path, dtype=self.dtype)
            for rec in sorted(sigs[np.isin(sigs["hash"], wanted_hashes)].tolist(), key=lambda r: (r[0], -r[1], r[2])):
                groups[rec[0]].append((shard, rec[2]))
        write_origins(self.output_folder, _kept_of_groups(groups, removed), self.sigs_folder)


class NearOrigins(PipelineStep):
    """After minhash_cluster (one task, run with save_cluster_id): each near duplicate's kept document, the member
    of its cluster the cluster stage did not remove."""

    type = "🫂 - DEDUP"
    name = "🎯 near duplicate origins (axk1)"

    def __init__(self, sigs_folder: str, remove_folder: str, output_folder: str):
        super().__init__()
        self.sigs_folder, self.remove_folder, self.output_folder = Path(sigs_folder), Path(remove_folder), \
            Path(output_folder)

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        removed = {(int(p.stem), int(d)) for p in self.remove_folder.glob("*.remove")
                   for d in np.fromfile(p, dtype="<u4")}
        if not removed:
            return
        clusters: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for path in sorted(self.remove_folder.glob("*.clusters")):
            for doc, cluster in np.fromfile(path, dtype="<u4").reshape(-1, 2).tolist():
                clusters[cluster].append((int(path.stem), doc))
        write_origins(self.output_folder, _kept_of_groups(clusters, removed), self.sigs_folder)


class DuplicateOrigin(PipelineStep):
    """Stamps `metadata.duplicate_of` on the documents of this shard an origins table names, by their place in the
    stream (the one its signature stage read); the dedup filter after it removes them."""

    type = "🫂 - DEDUP"
    name = "🎯 duplicate origins (axk1)"

    def __init__(self, origins_folder: str):
        super().__init__()
        self.origins_folder = Path(origins_folder)

    def run(self, data, rank: int = 0, world_size: int = 1):
        path = self.origins_folder / f"{rank:05d}.json"
        table = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        for place, doc in enumerate(data):
            kept = table.get(str(place))
            if kept is not None:
                doc.metadata["duplicate_of"] = kept
            yield doc
