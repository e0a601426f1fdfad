"""pipeline.toml, validated into dataclasses before anything runs. Relative paths are relative to the current
directory. Unknown keys are errors (a typo must not silently fall back to a default)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from axk1.data.dedup import DedupConfig
from axk1.data.filters import CodeConfig, QualityConfig
from axk1.data.pdf import PdfConfig
from axk1.data.sources import SourceSpec
from axk1.toml_file import read_toml

EXECUTORS = ("local", "slurm", "ray")


@dataclass
class RunConfig:
    name: str = "axk1-data"
    output_dir: str = "out/data"
    tasks: int = 4                 # file shards per stage; never change between relaunches
    workers: int = 2               # local executor: tasks run at once
    executor: str = "local"        # "local", "slurm" or "ray": the one setting that moves the run to a cluster
    stages: list = field(default_factory=lambda: list(STAGE_GROUPS))
    start_method: str = "forkserver"  # local executor's process start ("fork" starts faster, unsafe with threads)


@dataclass
class FilterConfig:
    languages: list = field(default_factory=lambda: ["ko", "en"])
    min_language_score: float = 0.5
    korean_hangul_ratio: float = 0.3
    pii: bool = True
    quality: QualityConfig = field(default_factory=QualityConfig)
    code: CodeConfig = field(default_factory=CodeConfig)


@dataclass
class AnnotateConfig:
    domain_model: str = ""        # .npz from train_domain_classifier; rules only when empty
    reference_model: str = ""     # model folder (HF layout + tokenizer.json) for perplexity; skipped when empty


@dataclass
class TokenizeConfig:
    tokenizer: str = ""           # tokenizer.json or a folder holding one; the tokenize stage needs it
    train_vocab_size: int = 0     # > 0: train the tokenizer from documents/ first when it does not exist yet
    train_digits_per_token: int = 3  # that tokenizer's number split: up to 3 digits a token (A.X K1-size), or 1
    difficulty_buckets: list = field(default_factory=lambda: [0.35, 0.5])  # upper bounds; last bucket open


@dataclass
class SlurmConfig:
    partition: str = ""
    time: str = "24:00:00"
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 2
    sbatch_args: dict = field(default_factory=dict)


@dataclass
class RayConfig:
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 2


@dataclass
class PipelineConfig:
    run: RunConfig = field(default_factory=RunConfig)
    sources: list = field(default_factory=list)
    pdf: PdfConfig = field(default_factory=PdfConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    annotate: AnnotateConfig = field(default_factory=AnnotateConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    ray: RayConfig = field(default_factory=RayConfig)

    @property
    def out(self) -> Path:
        return Path(self.run.output_dir)


STAGE_GROUPS = ("extract", "dedup", "annotate", "tokenize")
_NESTED = {(FilterConfig, "quality"): QualityConfig, (FilterConfig, "code"): CodeConfig}


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ValueError(f"[{where}] must be a table")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} in [{where}]; allowed: {sorted(names)}")
    kwargs = {}
    for k, v in data.items():
        sub = _NESTED.get((cls, k))
        kwargs[k] = _build(sub, v, f"{where}.{k}") if sub else v
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ValueError(f"[{where}]: {e}") from None


def load_pipeline_config(path: str | Path) -> PipelineConfig:
    return config_from_dict(read_toml(path, "pipeline file", "recipes/data/starter.toml"))


def config_from_dict(raw: dict) -> PipelineConfig:
    tables = {f.name: f for f in dataclasses.fields(PipelineConfig)}
    unknown = set(raw) - set(tables)
    if unknown:
        raise ValueError(f"unknown table(s) {sorted(unknown)}; allowed: {sorted(tables)}")
    kwargs = {}
    for name, value in raw.items():
        if name == "sources":
            if not isinstance(value, list):
                raise ValueError("sources must be an array of tables: [[sources]]")
            kwargs[name] = [_build(SourceSpec, s, f"sources #{i + 1}") for i, s in enumerate(value)]
        else:
            kwargs[name] = _build({"run": RunConfig, "pdf": PdfConfig, "filters": FilterConfig, "dedup": DedupConfig,
                                   "annotate": AnnotateConfig, "tokenize": TokenizeConfig, "slurm": SlurmConfig,
                                   "ray": RayConfig}[name], value, name)
    cfg = PipelineConfig(**kwargs)
    validate(cfg)
    return cfg


def validate(cfg: PipelineConfig) -> None:
    r = cfg.run
    if r.executor not in EXECUTORS:
        raise ValueError(f"run.executor = {r.executor!r}: use one of {', '.join(EXECUTORS)}")
    if r.tasks < 1 or r.workers < 1:
        raise ValueError("run.tasks and run.workers must be >= 1")
    bad = [s for s in r.stages if s not in STAGE_GROUPS]
    if bad:
        raise ValueError(f"run.stages has {bad}; stages are {', '.join(STAGE_GROUPS)}")
    if "extract" in r.stages and not cfg.sources:
        raise ValueError("no [[sources]]: add at least one (type = jsonl|parquet|text|code|pdf, path = ...)")
    if "tokenize" in r.stages and not cfg.tokenize.tokenizer:
        raise ValueError("the tokenize stage needs [tokenize] tokenizer = <tokenizer.json or folder>; train one with "
                         "`axk1 data tokenizer train`, or drop 'tokenize' from run.stages")
    b = cfg.tokenize.difficulty_buckets
    if list(b) != sorted(b):
        raise ValueError(f"tokenize.difficulty_buckets {b} must be increasing")
