"""pipeline.toml, read by the one configuration loader (axk1/toml_file.py, docs/configuration.md) and validated
before anything runs: unknown keys are errors that list the known ones, relative paths are relative to the file's
folder, and `axk1 data run pipeline.toml --section.key value` overrides any setting."""

from __future__ import annotations

import multiprocessing
import re
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any, ClassVar

from axk1.data.dedup import DedupConfig
from axk1.data.filter_steps import EXTRACT_FILTERS
from axk1.data.html_extract import WebConfig
from axk1.data.pdf import PdfConfig
from axk1.data.site_boilerplate import SiteBoilerplateConfig
from axk1.data.sources import SourceConfig
from axk1.data.tokenizer_config import MAX_VOCAB_SIZE, MIN_VOCAB_SIZE
from axk1.text.contamination import BUILTIN
from axk1.toml_file import build_dataclass, load_toml, resolve_declared

EXECUTORS = ("local", "slurm", "ray")


@dataclass
class RunConfig:
    name: str = "axk1-data"
    output_dir: str = "out/data"
    tasks: int = 4                 # file shards per stage; never change between relaunches
    workers: int = 2               # local executor: tasks run at once
    executor: str = "local"        # "local", "slurm" or "ray": the one setting that moves the run to a cluster
    stages: list[str] = field(default_factory=lambda: list(STAGE_GROUPS))
    start_method: str = "forkserver"  # local executor's process start ("fork" starts faster, unsafe with threads)


@dataclass
class _FilterSettings:
    """The [filters] keys no one entry of the filter list owns (language and PII read the section itself)."""
    languages: list[str] = field(default_factory=lambda: ["ko", "en"])
    min_language_score: float = 0.5
    korean_hangul_ratio: float = 0.3
    pii: bool = True
    site_boilerplate: SiteBoilerplateConfig = field(default_factory=SiteBoilerplateConfig)  # the pipeline's, no entry


# [filters]: the keys above and a [filters.<table>] for each entry of the extract stage's list that names one
# (EXTRACT_FILTERS, axk1/data/filter_steps.py), its dataclass declared beside its filter: a new filter's table
# needs no edit here.
FilterConfig = make_dataclass(
    "FilterConfig", [(e.table, e.config, field(default_factory=e.config))
                     for e in EXTRACT_FILTERS if getattr(e, "table", "")],
    bases=(_FilterSettings,))
FilterConfig.__module__ = __name__  # where pickle and error messages find it


@dataclass
class AnnotateConfig:
    domain_model: str = ""        # .npz from `axk1 data classifier`; rules only when empty
    reference_model: str = ""     # model folder (HF layout + tokenizer.json) for perplexity; skipped when empty


@dataclass
class TokenizeConfig:
    tokenizer: str = ""           # tokenizer.json or a folder holding one; the tokenize stage needs it
    train_vocab_size: int = 0     # > 0: train the tokenizer from documents/ first when it does not exist yet
    train_digits_per_token: int = 3  # that tokenizer's number split: up to 3 digits a token (A.X K1-size), or 1
    train_sample_bytes: int = 10_000_000_000  # text it trains on at most, a document from each file in turn (0: all)
    difficulty_buckets: list[float] = field(default_factory=lambda: [0.35, 0.5])  # upper bounds; last bucket open


@dataclass
class SlurmConfig:
    partition: str = ""
    time: str = "24:00:00"
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 2
    sbatch_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class RayConfig:
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 2


@dataclass
class PipelineConfig:
    run: RunConfig = field(default_factory=RunConfig)
    sources: list[SourceConfig] = field(default_factory=list)
    pdf: PdfConfig = field(default_factory=PdfConfig)
    web: WebConfig = field(default_factory=WebConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    annotate: AnnotateConfig = field(default_factory=AnnotateConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    # keys holding paths: relative to the file's folder in the file, to the current folder on the command line
    # (axk1/toml_file.py); "humaneval" in the benchmark list is the bundled set, no file
    path_keys: ClassVar[tuple[str, ...]] = (
        "run.output_dir", "sources.*.path", "annotate.domain_model", "annotate.reference_model", "tokenize.tokenizer",
        "filters.url.block_list", "filters.perplexity.model", "filters.decontamination.benchmarks")
    builtin_names: ClassVar[dict[str, tuple[str, ...]]] = {"filters.decontamination.benchmarks": (BUILTIN,)}

    @property
    def out(self) -> Path:
        return Path(self.run.output_dir)


STAGE_GROUPS = ("extract", "dedup", "annotate", "tokenize")


def load_pipeline_config(path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
    """The pipeline file with `--section.key value` overrides applied; paths relative to the file's folder."""
    raw = load_toml(path, "pipeline file", "recipes/data/starter.toml", overrides, PipelineConfig.path_keys,
                    PipelineConfig.builtin_names)
    return config_from_dict(raw, Path(path).parent)


def config_from_dict(raw: dict, base_dir: str | Path = ".") -> PipelineConfig:
    """A pipeline given as nested dicts (what tomllib returns), relative paths resolved against base_dir."""
    cfg = build_dataclass(PipelineConfig, raw, "pipeline")
    resolve_declared(cfg, Path(base_dir))  # every path it reads or writes, by the one rule
    validate(cfg)
    return cfg


def validate(cfg: PipelineConfig) -> None:
    r = cfg.run
    if r.executor not in EXECUTORS:
        raise ValueError(f"run.executor = {r.executor!r}: use one of {', '.join(EXECUTORS)}")
    if not r.output_dir:  # "" stayed "" and the run wrote into whatever folder it was started from
        raise ValueError("run.output_dir is empty: name the folder the run writes to (relative: to the pipeline "
                         "file's folder; \".\" is that folder itself)")
    if r.start_method not in multiprocessing.get_all_start_methods():  # a worker pool met it, after files were written
        raise ValueError(f"run.start_method = {r.start_method!r}: use one of "
                         f"{', '.join(multiprocessing.get_all_start_methods())} (default \"forkserver\")")
    if r.tasks < 1 or r.workers < 1:
        raise ValueError("run.tasks and run.workers must be >= 1")
    bad = [s for s in r.stages if s not in STAGE_GROUPS]
    if bad:
        raise ValueError(f"run.stages has {bad}; stages are {', '.join(STAGE_GROUPS)}")
    if "extract" in r.stages and not cfg.sources:
        raise ValueError("no [[sources]]: add at least one (type = jsonl|parquet|text|code|pdf|warc|html, path = ...)")
    if "tokenize" in r.stages and not cfg.tokenize.tokenizer:
        raise ValueError("the tokenize stage needs [tokenize] tokenizer = <tokenizer.json or folder>; train one with "
                         "`axk1 data tokenizer train`, or drop 'tokenize' from run.stages")
    if cfg.tokenize.train_sample_bytes < 0:
        raise ValueError("tokenize.train_sample_bytes must be >= 0 (0: train on every document)")
    b = cfg.tokenize.difficulty_buckets
    if list(b) != sorted(b):
        raise ValueError(f"tokenize.difficulty_buckets {b} must be increasing")
    t = cfg.tokenize  # the tokenizer is trained after every other stage has run: its settings are checked now
    if t.train_vocab_size and not MIN_VOCAB_SIZE <= t.train_vocab_size <= MAX_VOCAB_SIZE:
        raise ValueError(f"tokenize.train_vocab_size = {t.train_vocab_size}: 0 (no training) or "
                         f"{MIN_VOCAB_SIZE}..{MAX_VOCAB_SIZE} (256 byte tokens + the special tokens at least)")
    if not 1 <= t.train_digits_per_token <= 3:
        raise ValueError(f"tokenize.train_digits_per_token = {t.train_digits_per_token}: use 1, 2 or 3")
    _check_languages(cfg.filters)


# what users copy from other pipelines for the codes fastText's lid.176 gives (ISO 639-1 where one exists)
_LANGUAGE_SPELLINGS = {"kor": "ko", "eng": "en", "jpn": "ja", "zho": "zh", "cmn": "zh", "korean": "ko",
                       "english": "en", "japanese": "ja", "chinese": "zh"}


def _check_languages(f: FilterConfig) -> None:
    """A code the language model never gives would exclude every document as another language (exit 0, nothing
    kept): refused with the code to use."""
    if not f.languages:
        raise ValueError("filters.languages is empty: list the languages to keep, e.g. [\"ko\", \"en\"]")
    for code in f.languages:
        base = code.split("_")[0].lower() if isinstance(code, str) else code
        hint = _LANGUAGE_SPELLINGS.get(base, base if isinstance(base, str) and base != code else None)
        if not isinstance(code, str) or not re.fullmatch(r"[a-z]{2,3}", code) or code in _LANGUAGE_SPELLINGS:
            raise ValueError(f"filters.languages has {code!r}: languages are fastText lid.176 codes, two letters "
                             f"where ISO 639-1 has one" + (f" (did you mean {hint!r}?)" if hint else ""))
    if not 0 <= f.min_language_score <= 1:
        raise ValueError(f"filters.min_language_score = {f.min_language_score}: a probability in [0, 1] (default 0.5)")
