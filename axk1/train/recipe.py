"""The `axk1 train` recipe: TOML → validated dataclasses, every error found before any compute.

The shape is the one `axk1 plan` writes (axk1/plan/recipe.py): sections model, data, optimizer, schedule, batch,
moe, parallelism, [[stages]], checkpointing, logging, plus an optional [run] (output folder, step cap, device:
"auto" by default). Relative paths are resolved against the recipe file's folder. Unknown keys are
errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from axk1.config import ModelConfig, model_folder_hint, normalise_rope_scaling
from axk1.device import resolve_device
from axk1.parallel.activation_checkpoint import normalize_mode
from axk1.toml_file import absolute_paths, build_dataclass, load_toml, resolve_keys
from axk1.train.schedules import SCHEDULES


@dataclass
class RecipeModelConfig:  # the [model] table; axk1.config.ModelConfig is the architecture it builds
    preset: str | None = None          # a name from axk1.presets ...
    config: str | None = None          # ... or a config.json (exactly one of the two)
    # a model folder (config.json + safetensors, e.g. the released A.X K1 or an `axk1 export`) whose weights start
    # the run instead of the random init; alone (no preset/config) its config.json is the model's
    init_from: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields changed on top
    mtp_depth: int = 1                 # 0 trains without the MTP head
    mtp_loss_weight: list[float] = field(default_factory=lambda: [0.3, 0.1])  # per stage; the last one repeats

    def check_source(self) -> None:
        sources = (self.preset is not None) + (self.config is not None)
        if sources > 1 or (sources == 0 and self.init_from is None):
            raise ValueError("[model] needs exactly one of preset = \"axk1-tiny\" or config = \"path/config.json\" "
                             "(or init_from = \"model folder\" alone, which uses the folder's config.json)")

    def build_config(self) -> ModelConfig:
        self.check_source()  # also for a [model] read alone (`axk1 params recipe.toml`), before any validation
        cfg = (ModelConfig.from_preset(self.preset) if self.preset
               else ModelConfig.from_pretrained(self.config or self.init_from))
        if self.overrides:
            try:
                cfg = cfg.replace(**self.overrides)
            except TypeError as e:
                raise ValueError(f"[model] overrides: {e}") from e
        if self.mtp_depth > 0:
            cfg = cfg.replace(num_nextn_predict_layers=self.mtp_depth)
        return cfg



@dataclass
class DataConfig:
    manifest: str = "data/manifest.json"  # token shards' manifest.json (axk1/data/shards.py)
    seed: int = 1234
    removed_keys = {"tokenizer": "the trainer reads token ids only; the shards' manifest.json records the tokenizer "
                    "that made them (tokenizer_hash, vocab_size), and export/serving take it from the model folder"}


@dataclass
class ValidationConfig:
    held_out: float = 0.0               # share of every shard's documents held out for validation (0: none)
    every_steps: int = 50               # evaluated this often, and at the end of every stage
    sequences: int = 16                 # rows per evaluation, at the current stage's mixture and length


@dataclass
class OptimizerConfig:
    name: str = "adamw"
    lr: float = 3e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    master_dtype: str = "float32"


@dataclass
class ScheduleConfig:
    kind: str = "wsd"                   # a registered schedule (train/schedules.py): "wsd", "cosine", "constant"
    warmup_steps: int = 0
    total_steps: int = 0                # 0: derived from the stages' tokens and the batch
    decay_starts_at_stage: int = 2      # wsd: the decay begins with this stage (1-based)
    final_lr_ratio: float = 0.1


@dataclass
class BatchConfig:
    global_tokens: int = 0              # tokens per optimizer step; 0: global_sequences x the stage's seq_len
    global_sequences: int = 0
    micro_batch: int = 1                # sequences per forward pass (gradient accumulation over the rest)


@dataclass
class MoEConfig:
    balancing: str = "aux-loss-free"    # "aux-loss-free" | "none"
    bias_update_rate: float = 1e-3      # γ in bias += γ·sign(mean load − load)
    seq_aux_loss_alpha: float = 0.0


@dataclass
class ParallelismConfig:
    dp_replicate: int = 1
    dp_shard: int = 1
    ep: int = 1
    pp: int = 1
    cp: int = 1
    activation_checkpointing: str | bool = "none"  # "none" | "full" (recompute each layer); the planner writes a bool
    precision: str = "fp32"             # "fp32" | "bf16" (FSDP2 bf16 compute, or autocast in one process; docs/gpu.md)
    compile: bool = False               # torch.compile each decoder layer (axk1/parallel/compile.py); slow start
    removed_keys = {"gpus": "the run's GPU count is dp_replicate x dp_shard x cp (EP splits the shard axis), checked "
                    "against the torchrun launch"}


@dataclass
class StageConfig:
    name: str
    tokens: int
    seq_len: int
    mixture: dict[str, float]
    seq_len_schedule: list[int] = field(default_factory=list)  # long-context stage: equal token shares per length
    buckets: list[str] = field(default_factory=list)  # difficulty buckets (d0, d1, ...) to draw from; [] = all
    # Context extension: a YaRN block ({type = "yarn", factor, original_max_position_embeddings, mscale, ...} as in
    # the released config.json) switched on from this stage on; later stages keep it (docs/training.md)
    rope_scaling: dict | None = None
    removed_keys = {"share": "a stage's size is its tokens",
                    "lr_phase": "[schedule] decay_starts_at_stage says where the learning-rate decay begins"}

    def lengths(self) -> list[int]:
        return self.seq_len_schedule or [self.seq_len]


@dataclass
class CheckpointConfig:
    dir: str = "checkpoints"
    interval_steps: int = 1000
    keep_latest: int = 3
    async_: bool = False               # stage the tensors, write them in a background thread (DCP async_save)


@dataclass
class LoggingConfig:
    every_steps: int = 10
    jsonl: str = "metrics.jsonl"
    tensorboard: str = ""               # a folder (relative: to run.out_dir) for TensorBoard event files; "" = off
    progress: bool = True
    peak_tflops: float = 0.0            # MFU denominator per device; 0: measured (CPU) or the datasheet (GPU)


@dataclass
class RunConfig:
    out_dir: str = "."                  # where checkpoints/ and logs go (relative: to the recipe's folder)
    max_steps: int = 0                  # 0: train through all stages
    device: str = "auto"                # "auto" (CUDA if torch sees a GPU, else CPU), "cpu", "cuda"; axk1/device.py
    threads: int = 0                    # torch.set_num_threads; 0 leaves torch's default
    max_bad_steps: int = 5              # consecutive NaN/inf/spike steps before the run stops
    spike_zscore: float = 0.0           # 0 disables spike detection (NaN/inf are always skipped)


@dataclass
class Recipe:
    model: RecipeModelConfig = field(default_factory=RecipeModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
    moe: MoEConfig = field(default_factory=MoEConfig)
    parallelism: ParallelismConfig = field(default_factory=ParallelismConfig)
    stages: list[StageConfig] = field(default_factory=list)
    checkpointing: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    run: RunConfig = field(default_factory=RunConfig)
    path: Path | None = field(default=None, init=False)  # the TOML file it was read from
    needs_stages = True  # pretraining draws from [[stages]]; the post-training recipes bring their own data
    needs_batch_size = True  # [batch] global_tokens / global_sequences (RL sizes its batches in [rl])
    # keys holding paths: relative to the recipe's folder in the file, to the current folder on the command line
    path_keys = ("run.out_dir", "model.config", "model.init_from", "data.manifest")

    def validate(self) -> None:
        validate(self)

    def resolve_paths(self, base: Path) -> None:
        """The one rule: a relative path in a recipe is relative to the recipe file's folder."""
        _resolve_paths(self, base)

    def out_dir(self) -> Path:
        return Path(self.run.out_dir)

    def sequences_per_step(self, seq_len: int) -> int:
        if self.batch.global_tokens:
            return max(1, self.batch.global_tokens // seq_len)
        return self.batch.global_sequences

    def stage_steps(self) -> list[list[tuple[int, int]]]:
        """Per stage, per sequence length: (steps, sequences per step) covering that part's token budget."""
        out = []
        for s in self.stages:
            lengths = s.lengths()
            parts = []
            for j, L in enumerate(lengths):
                tokens = s.tokens // len(lengths) + (s.tokens % len(lengths) if j == len(lengths) - 1 else 0)
                seqs = self.sequences_per_step(L)
                parts.append((max(1, -(-tokens // (seqs * L))), seqs))
            out.append(parts)
        return out

    def step_shapes(self) -> list[tuple[str, int, int]]:
        """What one optimizer step trains, for each shape the run takes: (stage, seq_len, sequences per step)."""
        return [(stage.name, L, seqs) for stage, parts in zip(self.stages, self.stage_steps())
                for (_, seqs), L in zip(parts, stage.lengths())]

    rows_must_divide = True  # a step's sequences over the data-parallel ranks (RL pads instead: a note)

    def step_account(self, config: ModelConfig, seq_len: int, micro_batch: int, world_size: int):
        """The memory per GPU of one step at `seq_len` (axk1/train/memory.py; RL's differs: posttrain/rl_memory.py)."""
        from axk1.train.memory import step_memory

        p = self.parallelism
        return step_memory(config, dp_shard=p.dp_shard, ep=p.ep, cp=p.cp, seq_len=seq_len, micro_batch=micro_batch,
                           recompute=normalize_mode(p.activation_checkpointing) == "full", precision=p.precision,
                           mtp_depth=self.model.mtp_depth, one_process=world_size == 1)

    def launch_problems(self, config: ModelConfig, world_size: int, limit_gb: float, on_gpus: bool) -> list[str]:
        """What else a launch of `world_size` ranks cannot do (none for pretraining and SFT)."""
        return []

    def stage_rope_scaling(self, base: dict | None) -> list[dict | None]:
        """The position encoding each stage trains with: `base` (the model's) until a stage switches YaRN on."""
        out, current = [], base
        for s in self.stages:
            if s.rope_scaling is not None:
                current = normalise_rope_scaling(s.rope_scaling)
            out.append(current)
        return out

    def total_steps(self) -> int:
        return self.schedule.total_steps or sum(n for parts in self.stage_steps() for n, _ in parts)


def parse_recipe(raw: dict[str, Any], base_dir: Path | str = ".", cls: type[Recipe] = Recipe) -> Recipe:
    """Validates a recipe given as nested dicts (what tomllib returns); paths resolved against base_dir, [run]
    device resolved ("auto" → cuda or cpu). `cls` is Recipe or a subclass with more sections (the post-training
    recipes)."""
    recipe = build_dataclass(cls, raw, "recipe")
    recipe.resolve_paths(Path(base_dir))
    recipe.run.device = resolve_device(recipe.run.device)
    recipe.validate()
    return recipe


# the table that makes a recipe a post-training verb's (Recipe subclasses add it as a field)
VERB_TABLES = {"sft": "axk1 sft", "rl": "axk1 rl"}


def _check_verb(raw: dict[str, Any], path: Path, cls: type[Recipe], example: str) -> None:
    """A recipe given to another verb (`axk1 train recipes/posttrain/rl.toml`) is named as such; the unknown-key
    error it got listed the known keys, or, for a pretraining recipe given to sft, asked for [sft] data."""
    own = {f.name for f in fields(cls)}
    for table, verb in VERB_TABLES.items():
        if table in raw and table not in own:
            raise ValueError(f"{path} has an [{table}] table, which makes it an `{verb}` recipe: run `{verb} {path}`")
    mine = [t for t in VERB_TABLES if t in own]
    if mine and mine[0] not in raw and "stages" in raw:
        raise ValueError(f"{path} is a pretraining recipe ([[stages]], no [{mine[0]}] table): run `axk1 train "
                         f"{path}`, or see {example} for an `{VERB_TABLES[mine[0]]}` recipe")


def load_recipe(path: str | Path, overrides: list[str] | None = None, cls: type[Recipe] = Recipe,
                example: str = "recipes/demo.toml", **run_overrides: Any) -> Recipe:
    """The recipe file with `--section.key value` overrides (and [run] keys given by name) applied first."""
    path = Path(path)
    raw = load_toml(path, "recipe", example, overrides, cls.path_keys)
    _check_verb(raw, path, cls, example)
    for key, value in run_overrides.items():  # --out and friends: command-line paths, relative to the current folder
        if value is not None:
            raw.setdefault("run", {})[key] = absolute_paths(value) if f"run.{key}" in cls.path_keys else value
    recipe = parse_recipe(raw, path.parent, cls)
    recipe.path = path
    return recipe


def _resolve_paths(r: Recipe, base: Path) -> None:
    """Paths the recipe reads: relative to the recipe's folder; what the run writes: relative to [run] out_dir."""
    resolve_keys(r, r.path_keys, base)  # a subclass's keys too
    out = Path(r.run.out_dir)
    r.checkpointing.dir = str(out / r.checkpointing.dir) if not Path(r.checkpointing.dir).is_absolute() else r.checkpointing.dir
    r.logging.jsonl = str(out / r.logging.jsonl) if r.logging.jsonl else ""
    r.logging.tensorboard = str(out / r.logging.tensorboard) if r.logging.tensorboard else ""


def _check_model_folder(folder: Path) -> None:
    """[model] init_from must be a model folder with config.json and safetensors weights (tensor names and shapes
    are checked against the model when it is loaded)."""
    from axk1.checkpoint.hf import weight_files  # imports the model (torch): only when a recipe asks for it

    if not folder.is_dir():
        raise FileNotFoundError(f"[model] init_from {folder} is not a folder: point it at a model folder "
                                "(config.json + safetensors), e.g. the released A.X K1 or one `axk1 export` wrote")
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"[model] init_from {folder} has no config.json: a model folder needs config.json next "
                                "to its safetensors (the Hugging Face layout; `axk1 export` writes one)"
                                f"{model_folder_hint(folder)}")
    try:
        weight_files(folder)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"[model] init_from: {e}") from e


def _check_mixture(where: str, mixture: object) -> None:
    """Weights are numbers >= 0 and finite, one at least > 0 (the TOML reader's finite check does not reach into
    a table's values)."""
    if not isinstance(mixture, dict) or not mixture:
        raise ValueError(f"{where}: mixture must be a table of domain = weight, e.g. {{ web = 0.7, code = 0.3 }}")
    for key, w in mixture.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise ValueError(f"{where}: mixture.{key} = {w!r}: a weight must be a finite number >= 0")
    if not any(w > 0 for w in mixture.values()):
        raise ValueError(f"{where}: mixture {mixture} has no positive weight: give at least one domain a weight > 0")


def validate(r: Recipe) -> None:
    """Checks that need no compute: ranges, consistency, files that must exist."""
    m = r.model
    m.check_source()
    if m.config is not None and not Path(m.config).exists():
        raise FileNotFoundError(f"[model] config {m.config} not found")
    if m.init_from is not None:
        _check_model_folder(Path(m.init_from))
    if r.needs_stages and not r.stages:
        raise ValueError("the recipe has no [[stages]]: add at least one with name, tokens, seq_len and mixture")
    cfg = m.build_config()
    if m.mtp_depth < 0 or not m.mtp_loss_weight or any(w < 0 for w in m.mtp_loss_weight):
        raise ValueError("[model] mtp_depth must be >= 0 and mtp_loss_weight a non-empty list of weights >= 0")
    o = r.optimizer
    if o.name != "adamw":
        raise ValueError(f"[optimizer] name {o.name!r} is not supported; use \"adamw\"")
    if not (o.lr > 0 and o.eps > 0 and o.weight_decay >= 0 and o.grad_clip >= 0):
        raise ValueError("[optimizer] needs lr > 0, eps > 0, weight_decay >= 0, grad_clip >= 0 (0 = no clipping)")
    if len(o.betas) != 2 or not all(0 <= b < 1 for b in o.betas):
        raise ValueError(f"[optimizer] betas must be two numbers in [0, 1), got {o.betas}")
    if o.master_dtype != "float32":
        raise ValueError("[optimizer] master_dtype must be \"float32\" (FP32 master weights, as A.X K1 trained)")
    s = r.schedule
    if s.kind not in SCHEDULES:
        raise ValueError(f"[schedule] kind {s.kind!r} unknown; use one of {sorted(SCHEDULES)}")
    if s.warmup_steps < 0 or s.total_steps < 0 or not 0 <= s.final_lr_ratio <= 1:
        raise ValueError("[schedule] needs warmup_steps >= 0, total_steps >= 0 and final_lr_ratio in [0, 1]")
    n_stages = len(r.stages) if r.needs_stages else 1  # SFT and RL train one stage (their default: no decay)
    if s.kind == "wsd" and not 1 <= s.decay_starts_at_stage <= n_stages + 1:
        raise ValueError(f"[schedule] decay_starts_at_stage={s.decay_starts_at_stage} must name a stage "
                         f"1..{n_stages} (or {n_stages + 1} for no decay)")
    b = r.batch
    if r.needs_batch_size and b.global_tokens <= 0 and b.global_sequences <= 0:
        raise ValueError("[batch] set global_tokens (tokens per step) or global_sequences (sequences per step) > 0")
    if b.micro_batch <= 0:
        raise ValueError("[batch] micro_batch must be >= 1")
    if r.moe.balancing not in ("aux-loss-free", "none") or r.moe.bias_update_rate < 0 or r.moe.seq_aux_loss_alpha < 0:
        raise ValueError("[moe] balancing must be \"aux-loss-free\" or \"none\", with rates >= 0")
    p = r.parallelism
    for axis in ("dp_replicate", "dp_shard", "ep", "pp", "cp"):
        if getattr(p, axis) < 1:
            raise ValueError(f"[parallelism] {axis} must be >= 1")
    if p.pp > 1:
        raise ValueError("[parallelism] pipeline parallelism (pp) is not implemented; set pp = 1")
    if p.cp > 1:
        if r.model.mtp_depth or r.moe.seq_aux_loss_alpha:
            raise ValueError(f"[parallelism] cp = {p.cp}: context parallelism runs without MTP and the sequence-wise "
                             "balance loss (each rank sees a part of a row): set [model] mtp_depth = 0 and [moe] "
                             "seq_aux_loss_alpha = 0")
        bad = [L for st in r.stages for L in st.lengths() if L % p.cp]
        if bad:
            raise ValueError(f"[parallelism] cp = {p.cp} must divide every stage's seq_len (not {sorted(set(bad))})")
    if p.precision == "fp8":
        raise ValueError("[parallelism] precision = \"fp8\" is not implemented; use \"bf16\" or \"fp32\"")
    normalize_mode(p.activation_checkpointing)
    if p.precision not in ("fp32", "bf16", "fp8"):
        raise ValueError(f"[parallelism] precision {p.precision!r} unknown; use \"fp32\", \"bf16\" or \"fp8\"")
    if cfg.n_routed_experts % p.ep:
        raise ValueError(f"[parallelism] ep={p.ep} must divide the model's {cfg.n_routed_experts} routed experts")
    if p.dp_shard % p.ep:  # the launch's mesh check, here when the file is read rather than after the weights load
        raise ValueError(f"[parallelism] ep={p.ep} must divide dp_shard={p.dp_shard} (experts are split within the "
                         "shard axis)")
    names = set()
    for i, st in enumerate(r.stages, 1):
        where = f"[[stages]] #{i} ({st.name})"
        if st.name in names:
            raise ValueError(f"{where}: duplicate stage name")
        names.add(st.name)
        if st.tokens <= 0:
            raise ValueError(f"{where}: tokens must be > 0")
        for L in st.lengths():
            if not 2 <= L <= cfg.max_position_embeddings:
                raise ValueError(f"{where}: seq_len {L} outside 2..max_position_embeddings={cfg.max_position_embeddings}")
        if st.seq_len_schedule and st.seq_len_schedule[-1] != st.seq_len:
            raise ValueError(f"{where}: seq_len must equal the last entry of seq_len_schedule")
        _check_mixture(where, st.mixture)
        if st.rope_scaling is not None:
            try:
                yarn = normalise_rope_scaling(st.rope_scaling)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{where}: rope_scaling: {e}") from None
            if yarn["factor"] < 1 or yarn["original_max_position_embeddings"] > max(st.lengths()):
                raise ValueError(f"{where}: rope_scaling extends from original_max_position_embeddings="
                                 f"{yarn['original_max_position_embeddings']} by factor {yarn['factor']}: the factor "
                                 "must be >= 1 and the original length at most the stage's seq_len (the stage trains "
                                 "at the longer length)")
    v = r.validation
    if not 0 <= v.held_out < 0.5 or v.every_steps < 1 or v.sequences < 1:
        raise ValueError("[validation] needs 0 <= held_out < 0.5, every_steps >= 1 and sequences >= 1")
    c = r.checkpointing
    if c.interval_steps <= 0 or c.keep_latest <= 0:
        raise ValueError("[checkpointing] interval_steps and keep_latest must be >= 1")
    if r.logging.every_steps <= 0 or r.logging.peak_tflops < 0:
        raise ValueError("[logging] every_steps must be >= 1 and peak_tflops >= 0")
    if r.run.max_steps < 0 or r.run.max_bad_steps < 1 or r.run.spike_zscore < 0 or r.run.threads < 0:
        raise ValueError("[run] needs max_steps >= 0, max_bad_steps >= 1, spike_zscore >= 0, threads >= 0 (0: "
                         "torch's default)")
    if r.data.seed < 0:  # numpy's generators take non-negative seeds only (a run's draws are keyed by it)
        raise ValueError(f"[data] seed must be >= 0, got {r.data.seed}")
