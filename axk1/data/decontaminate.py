"""Benchmark decontamination of the pretraining corpus as a datatrove filter: a document that holds a row of an
evaluation set (shares enough of its word 13-grams, or with Hangul its 39-character runs: axk1/text/contamination.py)
is removed, so the scores axk1 eval reports are not the model reciting what it read. Web crawls after a contest
carry its problems and their solutions (forum threads, wikis, blogs, Korean translations), and code sources carry
HumanEval's functions.

    [filters.decontamination]
    benchmarks = ["humaneval", "bench/aime25_en.jsonl", "bench/aime25_ko.jsonl"]   # relative to the pipeline file
    ngram = 13

Every document is checked, code and `skip_filters` documents too (a curated or synthetic source can hold benchmark
text as well). A removed document goes to excluded/decontamination/ with reason `benchmark_contamination` and
metadata.contamination = {benchmark, row, ngram}: which set, which row, and the shared text, so a false positive
is seen at once. The n-grams and their limits: axk1/text/contamination.py, docs/data.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from axk1.data.filter_entry import FilterEntry
from axk1.text.contamination import ContaminationIndex, read_benchmarks

REASON = "benchmark_contamination"


@dataclass
class DecontaminationConfig:
    # "humaneval" (the bundled set, kept as a name by the loader: PipelineConfig.builtin_names) or JSONL files of
    # evaluation sets; [] = off
    benchmarks: list[str] = field(default_factory=list)
    ngram: int = 13  # words; Korean text is also matched on runs of 3 × ngram characters


def check_benchmarks(cfg: DecontaminationConfig) -> dict[str, int]:
    """Reads every set once before the run starts (a missing or broken file is an error here, not in a worker
    after extraction); returns rows read by set."""
    if cfg.ngram < 1:
        raise ValueError(f"[filters.decontamination] ngram = {cfg.ngram}: give 1 or more (13 is usual)")
    return {s.name: s.rows for s in read_benchmarks(cfg.benchmarks)}


class DecontaminationFilter(BaseFilter):
    """Removes documents that share an n-gram with an evaluation set (ContaminationIndex)."""

    name = "axk1 decontamination"

    def __init__(self, cfg: DecontaminationConfig, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.specs, self.n = list(cfg.benchmarks), cfg.ngram
        self._index: ContaminationIndex | None = None  # built in the worker on first use: the step is pickled to it

    def __getstate__(self) -> dict:
        # never ship a built index: its keys are string hashes salted per process, so a worker must build its own
        return {**self.__dict__, "_index": None}

    @property
    def index(self) -> ContaminationIndex:
        if self._index is None:
            self._index = ContaminationIndex(read_benchmarks(self.specs), self.n)
        return self._index

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        found = self.index.match(doc.text)
        if found is None:
            return True
        doc.metadata["contamination"] = {"benchmark": found.benchmark, "row": found.row, "ngram": found.ngram}
        return False, REASON


def decontamination_step(cfg: DecontaminationConfig, exclusions) -> DecontaminationFilter | None:
    """The extract stage's entry (axk1/data/filter_steps.py): on when `[filters.decontamination] benchmarks` names
    a set; removals go to excluded/decontamination/."""
    if not cfg.benchmarks:
        return None
    check_benchmarks(cfg)
    return DecontaminationFilter(cfg, exclusion_writer=exclusions("decontamination"))


DECONTAMINATION_STEP = FilterEntry(decontamination_step, table="decontamination", config=DecontaminationConfig)
