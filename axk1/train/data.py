"""Packed training batches from the data pipeline's token shards, drawn per stage mixture.

Every batch is a pure function of (seed, step): row r of step s draws its domain from the stage mixture, a shard
of that domain (weighted by tokens, limited to the stage's difficulty buckets), and a token of it, with numpy's
generator seeded by (seed, step, r); the row starts at the start of that token's window (every document is cut into
consecutive seq_len windows, `window_start`) and is the next seq_len tokens from there, running across document
boundaries. So the sampler's whole state is (seed, step), resume is exact, and any data-parallel rank
can draw its own rows without talking to the others. A run started from a model folder ([model] init_from) adds that
folder's checksum to every row's seed (train/init_from_salt.py), so it does not draw again the rows the run it came
from drew.

Legend: B sequences, T tokens per sequence.
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from axk1.json_text import read_json_file
from axk1.token_shards import OFFSET_DTYPE, RERUN, TOKEN_DTYPE, read_manifest
from axk1.train.loss import next_token_labels
from axk1.train.recipe import Recipe
from axk1.train.recipe_sections import StageConfig
from axk1.user_file import regular_file

# how rows are drawn, saved with the sampler's state: "windows" (a row starts at a window of a document, below);
# checkpoints without it were drawn from document starts only
ROWS = "windows"


@dataclass
class Shard:
    domain: str
    bucket: str
    tokens: np.ndarray   # uint32, memory-mapped
    offsets: np.ndarray  # uint64 document starts in the shard's file, n_docs + 1 entries, memory-mapped; a view
                         # of part of a file (split_validation) starts at its first token's index, not 0


class PlanEntry(NamedTuple):
    """One run of steps at a fixed stage and sequence length: the sampler's plan is a list of these."""
    first_step: int
    steps: int
    stage: int        # index into recipe.stages
    seq_len: int
    sequences: int    # per optimizer step


class Batch(NamedTuple):
    """What every batch source gives the trainer for one step (or one data-parallel rank's rows of it)."""
    ids_BT: torch.Tensor     # int64 token ids
    docs_BT: torch.Tensor    # int64 document index per position (packing boundaries)
    labels_BT: torch.Tensor  # int64 next-token targets, IGNORE_INDEX where not trained
    domains: list[str]       # per row: what the step's rows are counted by (and per-domain losses split by)
    # int64 index into the sampler's domains per position, for rows whose targets belong to several domains (a
    # packed SFT row of think and non-think turns): the losses are split by it, token by token. None: the row's.
    token_domains_BT: torch.Tensor | None = None


@dataclass
class StagePosition:
    stage: int        # index into recipe.stages
    name: str
    seq_len: int
    sequences: int    # per optimizer step
    first_step: bool  # the first step of this stage (or of one of its sequence lengths)


def plan_position(plan: list[PlanEntry], stage_names: list[str], step: int) -> StagePosition:
    """Where `step` falls in a plan; past its end it stays in the last entry."""
    for e in plan:
        if step < e.first_step + e.steps:
            return StagePosition(e.stage, stage_names[e.stage], e.seq_len, e.sequences, step == e.first_step)
    e = plan[-1]
    return StagePosition(e.stage, stage_names[e.stage], e.seq_len, e.sequences, False)


def load_shards(manifest_path: str | Path) -> tuple[dict, list[Shard]]:
    manifest_path = Path(manifest_path)
    if not manifest_path.exists():
        raise FileNotFoundError(f"token-shard manifest {manifest_path} not found: run the data pipeline "
                                "(`axk1 data run recipes/data/starter.toml`) or fix [data] manifest")
    manifest = read_manifest(manifest_path)  # the format, byte order and dtypes checked, each named
    _room_for_maps(2 * len(manifest.get("shards", [])), manifest_path)
    shards = []
    for i, entry in enumerate(manifest.get("shards", [])):
        missing = ([k for k in ("path", "domain", "bucket") if not isinstance(entry.get(k), str)]
                   if isinstance(entry, dict) else ["path", "domain", "bucket"])
        if missing:
            raise ValueError(f"{manifest_path}: shard #{i + 1} ({entry!r:.80}) needs string keys "
                             f"{', '.join(missing)}: {RERUN}")
        bin_path = manifest_path.parent / entry["path"]
        idx_path = manifest_path.parent / entry.get("offsets", str(Path(entry["path"]).with_suffix(".idx")))
        if not bin_path.exists() or not idx_path.exists():
            raise FileNotFoundError(f"{manifest_path} lists {bin_path} (+ .idx) but it is missing: re-run the data pipeline")
        for path, width in ((bin_path, 4), (idx_path, 8)):
            regular_file(path)  # a FIFO would block the memory map's open for ever
            if path.stat().st_size % width:
                raise ValueError(f"{path}: {path.stat().st_size} bytes is not a whole number of {width}-byte entries "
                                 f"(a truncated or foreign file): {RERUN}")
        if bin_path.stat().st_size == 0:
            continue
        tokens = np.memmap(bin_path, dtype=TOKEN_DTYPE, mode="r")
        # memory-mapped, not read in: at A.X K1's 10T tokens the indexes are tens of GB, and the ranks of a node
        # share one copy in the page cache instead of holding one each
        offsets = (np.memmap(idx_path, dtype=OFFSET_DTYPE, mode="r") if idx_path.stat().st_size
                   else np.zeros(0, OFFSET_DTYPE))
        if len(offsets) < 2 or int(offsets[-1]) != len(tokens):
            raise ValueError(f"{idx_path}: offsets end at {int(offsets[-1]) if len(offsets) else 0} but the shard "
                             f"holds {len(tokens)} tokens (a half-written shard? re-run the data pipeline)")
        # every document start in range and in order (the sampler's document ids search them): one pass over the
        # index, in blocks so that no temporary as long as the index is made
        bad = 0 if int(offsets[0]) != 0 else _first_decrease(offsets)
        if bad is not None:
            raise ValueError(f"{idx_path}: document offsets must start at 0 and never decrease up to the shard's "
                             f"{len(tokens)} tokens; entry {bad} is {int(offsets[bad])}: the index is corrupt, {RERUN}")
        shards.append(Shard(entry["domain"], entry["bucket"], tokens, offsets))
    if not shards:
        raise ValueError(f"{manifest_path} lists no non-empty shards")
    return manifest, shards


OWN_FILES = 512  # what the process opens besides the shards: CUDA, NCCL's sockets, logs, checkpoints


def _room_for_maps(maps: int, manifest_path: Path) -> None:
    """Every shard is two memory maps (tokens and index), each holding a file descriptor, on every rank: a corpus
    made by many tasks is thousands of shards. The soft open-file limit (often 1,024 in a job) is raised to what
    they need, up to the hard one; a hard limit or vm.max_map_count too low for them is named here, not met as
    "Too many open files" halfway through the manifest."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = maps + OWN_FILES
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            raise ValueError(f"{manifest_path}: its shards need {maps:,} open files (two memory maps a shard) but "
                             f"this process may open {hard:,} (ulimit -Hn): raise the job's open-file limit, or make "
                             "the shards with fewer [run] tasks")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    try:
        max_maps = int(Path("/proc/sys/vm/max_map_count").read_text())
    except (OSError, ValueError):  # not Linux: no such limit to check
        return
    if need > max_maps:
        raise ValueError(f"{manifest_path}: its shards need {maps:,} memory maps but vm.max_map_count is {max_maps:,}: "
                         "raise it (sysctl vm.max_map_count) or make the shards with fewer [run] tasks")


def _first_decrease(offsets: np.ndarray, block: int = 1 << 22) -> int | None:
    """The index of the first entry below the one before it, or None."""
    for lo in range(0, len(offsets) - 1, block):
        part = offsets[lo:lo + block + 1]
        down = part[1:] < part[:-1]
        if down.any():
            return lo + int(np.argmax(down)) + 1
    return None


def check_token_bound(manifest: dict, shards: list[Shard], vocab_size: int, manifest_path: str | Path) -> None:
    """The shards' token ids fit the model's embedding. By the manifest's `vocab_size` (the tokenizer's, written by
    the data pipeline), reading no token: at A.X K1's scale every rank would otherwise read the whole corpus (40 TB
    of uint32) before its first step. A manifest without it (made elsewhere) is checked token by token. Either way
    every micro-batch's ids are checked again on the host before its forward (axk1/train/loss.py::host_counts)."""
    bound = manifest.get("vocab_size")
    if bound is None:
        top = max(int(s.tokens.max()) for s in shards if len(s.tokens))
        if top >= vocab_size:
            raise ValueError(f"the shards hold token id {top} but the model's vocab_size is {vocab_size}: "
                             "use a model config whose vocab_size covers the tokenizer")
        return
    if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
        raise ValueError(f"{manifest_path}: vocab_size must be a positive integer (the tokenizer's), got {bound!r}: "
                         "re-run the data pipeline's tokenize stage or fix the file")
    if bound > vocab_size:
        raise ValueError(f"{manifest_path}: the shards were tokenized with a vocabulary of {bound:,} ids but the "
                         f"model's vocab_size is {vocab_size:,}: use a model config whose vocab_size covers the "
                         "tokenizer")


def unused_vocab_note(manifest_path: str | Path, vocab_size: int) -> str | None:
    """A note when the model's embedding is much larger than the tokenizer that made the shards (the manifest's
    `vocab_size`): the rows past it are never a target or an input, yet are allocated, optimized and exported. A
    tokenizer trained on a small corpus ends far below the size asked for (3,084 of 8,192), and nothing said so. A
    small pad (a multiple of 128 or so, as releases round up) says nothing. None when the manifest cannot be read:
    the trainer's own checks name that."""
    try:
        bound = read_json_file(manifest_path, "re-run the data pipeline", need_object=True).get("vocab_size")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
        return None
    if vocab_size - bound <= max(256, vocab_size // 10):
        return None
    unused = vocab_size - bound
    return (f"the model's vocab_size is {vocab_size:,} but the shards' tokenizer has {bound:,} ids ({manifest_path}): "
            f"{unused:,} embedding rows ({100 * unused / vocab_size:.0f}%) are never trained; a vocab_size near "
            f"{bound:,} (e.g. [model] overrides = {{ vocab_size = {-(-bound // 128) * 128} }}) saves them")


# where each shard's held-out block lies, saved in a run's definition ("validation.held_out_by"): "shard", drawn from
# the shard's own content (shard_fingerprint), so the same documents are held out whatever the [data] seed, the
# manifest's order or a run started from another's export; "seed", drawn from ([data] seed, the shard's place in the
# manifest), the rule before, which another seed or order moved onto documents an earlier run trained on. A run
# resumed from a checkpoint without the key keeps "seed" (train/trainer.py).
HELD_OUT_BY = "shard"


def split_validation(shards: list[Shard], share: float, seed: int,
                     by: str = HELD_OUT_BY) -> tuple[list[Shard], list[Shard]]:
    """(training shards, validation shards): in every shard of two or more documents, a contiguous block of
    round(share x documents) documents (at least one) at a place drawn as `by` says (HELD_OUT_BY) is held out. The
    training side is the documents before and after the block, as two shard views, so a training row (which runs on
    across document ends and wraps within its shard) never reads a held-out token. Views, not copies: the
    memory-mapped tokens are sliced."""
    if share <= 0:
        return shards, []
    if by not in ("shard", "seed"):
        raise ValueError(f"validation.held_out_by {by!r}: 'shard' or 'seed'")
    train, val = [], []
    for i, s in enumerate(shards):
        n_docs = len(s.offsets) - 1
        n_val = min(n_docs - 1, max(1, round(share * n_docs)))
        if n_val < 1:
            train.append(s)
            continue
        key = (seed, 7919, i) if by == "seed" else (7919, *_content_key(s))
        k = int(np.random.default_rng(key).integers(0, n_docs - n_val + 1))
        for a, b, side in ((0, k, train), (k, k + n_val, val), (k + n_val, n_docs, train)):
            if b > a:
                lo, hi = int(s.offsets[a]), int(s.offsets[b])
                side.append(Shard(s.domain, s.bucket, s.tokens[lo:hi], s.offsets[a:b + 1]))  # views, no copy
    return train, val


class StageSampler:
    """Deterministic packed batches for any step; knows which stage (and sequence length) a step belongs to."""

    def __init__(self, recipe: Recipe, shards: list[Shard], missing_ok: bool = False, salt: tuple = ()) -> None:
        """missing_ok: a stage none of whose domains has shards gets no table instead of an error (the validation
        split, where a small domain may have nothing held out). The token ids are checked by `check_token_bound`.
        salt: more of every row's seed (train/init_from_salt.py), saved with the sampler's state."""
        self.seed = recipe.data.seed
        self.salt = tuple(salt)
        self.recipe = recipe
        self.shards = shards
        self.plan: list[PlanEntry] = []
        step = 0
        for i, parts in enumerate(recipe.stage_steps()):
            for (n, seqs), L in zip(parts, recipe.stages[i].lengths()):
                self.plan.append(PlanEntry(step, n, i, L, seqs))
                step += n
        self.total_steps = step
        self._tables = [self._table_or_none(s) if missing_ok else self._stage_table(s, strict=True)
                        for s in recipe.stages]
        self.domains = sorted({d for st in recipe.stages for d in st.mixture})

    def has_stage(self, stage: int) -> bool:
        return self._tables[stage] is not None

    def _table_or_none(self, stage: StageConfig):
        try:
            return self._stage_table(stage, strict=False)
        except ValueError:
            return None

    def _stage_table(self, stage: StageConfig, strict: bool) -> tuple[list[str], np.ndarray, list[list[int]],
                                                                      list[np.ndarray]]:
        """Domains with data, their renormalised weights, and per domain the shard ids and shard weights.
        `strict` (training): a domain the mixture weights but no shard holds is an error, as silently giving its
        share to the others would train on another mixture than the recipe's. Not strict (the held-out split): a
        small domain may have nothing held out, and validation draws from the domains that have."""
        domains, weights, shard_ids, shard_w, missing = [], [], [], [], []
        for domain, w in sorted(stage.mixture.items()):
            ids = [j for j, s in enumerate(self.shards) if s.domain == domain
                   and (not stage.buckets or s.bucket in stage.buckets)]
            if w > 0 and not ids:
                missing.append(domain)
            if w <= 0 or not ids:
                continue
            domains.append(domain)
            weights.append(w)
            shard_ids.append(ids)
            sizes = np.array([len(self.shards[j].tokens) for j in ids], dtype=np.float64)
            shard_w.append(sizes / sizes.sum())
        have = sorted({f"{s.domain}/{s.bucket}" for s in self.shards})
        if strict and missing:
            raise ValueError(f"stage {stage.name!r}: mixture domain(s) {missing} (buckets {stage.buckets or 'all'}) "
                             f"have no shards; the shards hold {have}: set their weight to 0 or remove them, or "
                             "add their data to the manifest")
        if not domains:
            raise ValueError(f"stage {stage.name!r}: none of its mixture domains {sorted(stage.mixture)} "
                             f"(buckets {stage.buckets or 'all'}) have shards; the shards hold {have}")
        p = np.array(weights, dtype=np.float64)
        return domains, p / p.sum(), shard_ids, shard_w

    def position(self, step: int) -> StagePosition:
        return plan_position(self.plan, [s.name for s in self.recipe.stages], step)

    def batch(self, step: int, rows: range | None = None) -> Batch:
        """This step's packed rows (a subset of rows for one data-parallel rank), next-token labels."""
        pos = self.position(step)
        return self.draw(pos.stage, pos.seq_len, range(pos.sequences) if rows is None else rows,
                         (self.seed, step, *self.salt))

    def draw(self, stage: int, seq_len: int, rows: range, key: tuple) -> Batch:
        """Rows `rows` of a batch of `stage`'s mixture at `seq_len`; row r is a pure function of (key, r)."""
        domains, p, shard_ids, shard_w = self._tables[stage]
        ids_BT = np.empty((len(rows), seq_len), dtype=np.int64)
        docs_BT = np.empty((len(rows), seq_len), dtype=np.int64)
        names = []
        for b, r in enumerate(rows):
            rng = np.random.default_rng((*key, r))
            d = int(rng.choice(len(domains), p=p))
            shard = self.shards[shard_ids[d][int(rng.choice(len(shard_ids[d]), p=shard_w[d]))]]
            n_docs, base = len(shard.offsets) - 1, int(shard.offsets[0])
            start = window_start(shard, int(rng.integers(len(shard.tokens))), seq_len)
            pos_T = (start + np.arange(seq_len)) % len(shard.tokens)  # wrap around a small shard
            ids_BT[b] = shard.tokens[pos_T]
            # document index of every position; a wrap starts a new document too. Searched as uint64, the index's
            # own type: int64 values would make numpy cast the whole index for every row (80 ms at 20M documents)
            docs_BT[b] = (np.searchsorted(shard.offsets, (pos_T + base).astype(np.uint64), side="right")
                          + (start + np.arange(seq_len)) // len(shard.tokens) * n_docs)
            names.append(domains[d])
        ids, docs = torch.from_numpy(ids_BT), torch.from_numpy(docs_BT)
        return Batch(ids, docs, next_token_labels(ids, docs), names)

    def state_dict(self) -> dict:
        return {"seed": self.seed, "shards": [shard_fingerprint(s) for s in self.shards], "rows": ROWS,
                "salt": list(self.salt)}

    def load_state_dict(self, state: dict) -> None:
        if int(state["seed"]) != self.seed:
            raise ValueError(f"the checkpoint's data seed {state['seed']} differs from the recipe's {self.seed}: "
                             "resume with the recipe the run started with")
        self.salt = tuple(int(x) for x in state.get("salt", []))  # the run's own, whatever its init_from is now
        if state.get("rows") != ROWS:  # the draw changed under it: say so rather than let "exact resume" mislead
            warnings.warn("this checkpoint was written before rows started at windows of long documents: the run "
                          "goes on with today's draw, so its batches from here differ from those the code that wrote "
                          "it would have drawn (docs/training.md, \"How rows are drawn\")", stacklevel=2)
        saved, now = state.get("shards"), [shard_fingerprint(s) for s in self.shards]
        if saved is not None and saved != now:  # (checkpoints written before fingerprints have none)
            i = next((i for i, (a, b) in enumerate(zip(saved, now)) if a != b), min(len(saved), len(now)))
            was, new = (saved[i] if i < len(saved) else "none"), (now[i] if i < len(now) else "none")
            raise ValueError(f"the token shards are not those the checkpoint was trained on ({len(saved)} shards then, "
                             f"{len(now)} now; the first difference, shard #{i + 1} as [domain, bucket, tokens, "
                             f"documents, checksum]: {was} then, {new} now): they were truncated, replaced or re-made "
                             "since. Resume over the data the run started with, or start a new run in another --out")


def window_start(shard: Shard, token: int, seq_len: int) -> int:
    """The start (in the shard's tokens) of the window that holds `token`: every document is cut into consecutive
    seq_len windows from its start, its last one shorter. Drawing a token uniformly and taking its window reaches
    every token of a long document (a row drawn from document starts only never read past a document's first
    seq_len tokens: at a 4K stage all but the first 4,096 tokens of a book) and weighs each window by its length, so
    each token is read about equally often, as in concatenate-and-chunk packing. One search of the memory-mapped
    index, in its own type; no per-window table, which at A.X K1's corpus would be as large as the index."""
    base = int(shard.offsets[0])
    doc = int(np.searchsorted(shard.offsets, np.uint64(token + base), side="right")) - 1
    doc_start = int(shard.offsets[doc]) - base
    return doc_start + (token - doc_start) // seq_len * seq_len


def shard_fingerprint(s: Shard) -> list:
    """[domain, bucket, tokens, documents, CRC-32 of the first and last 4,096 tokens]: what tells a shard that was
    truncated, replaced or re-made apart from the one a checkpoint was trained on, without reading it whole. A resume
    over other data used to go on silently, its losses no longer the run's."""
    ends = np.concatenate([s.tokens[:4096], s.tokens[-4096:]]).astype("<u4")
    return [s.domain, s.bucket, int(len(s.tokens)), int(len(s.offsets) - 1), zlib.crc32(ends.tobytes())]


def _content_key(s: Shard) -> list[int]:
    """The shard's fingerprint as the non-negative integers a numpy seed takes."""
    domain, bucket, tokens, documents, checksum = shard_fingerprint(s)
    return [zlib.crc32(domain.encode()), zlib.crc32(bucket.encode()), tokens, documents, checksum]

