"""The tables of an `axk1 train` recipe, one dataclass each, and `RecipeSections`, all of them together: the shape
recipe_checks.py checks and recipe.py's `Recipe` (with its loading and the quantities derived from it) builds on.
A table's `check()` checks what that table alone decides (ranges, names, its own files); what two tables decide
together (cp against MTP, ep against the experts, a stage's length against the model's and the batch's) is
recipe_checks.validate's, which calls these in the order the tables' errors are found in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axk1.cli_args import threads_problem
from axk1.config import ModelConfig, model_config_file
from axk1.rope_scaling import normalise_rope_scaling


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

    def check(self) -> None:
        """One source that exists, and MTP settings in range (the model it builds is checked by building it)."""
        self.check_source()
        if self.config is not None and not Path(self.config).exists():
            raise FileNotFoundError(f"[model] config {self.config} not found")
        if self.init_from is not None:
            _check_model_folder(Path(self.init_from))
        if self.mtp_depth < 0 or not self.mtp_loss_weight or any(w < 0 for w in self.mtp_loss_weight):
            raise ValueError("[model] mtp_depth must be >= 0 and mtp_loss_weight a non-empty list of weights >= 0")

    def describe(self) -> str:
        """Where the model's size is set, for an error about it: `[model] preset 'axk1-tiny' with overrides {...}`."""
        source = (f"preset {self.preset!r}" if self.preset else f"config {self.config!r}" if self.config
                  else f"init_from {self.init_from!r}")
        with_overrides = f" with overrides {self.overrides}" if self.overrides else ""
        return f"[model] {source}{with_overrides}"

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


def _check_model_folder(folder: Path) -> None:
    """[model] init_from must be a model folder with config.json and safetensors weights (tensor names and shapes
    are checked against the model when it is loaded)."""
    from axk1.checkpoint.hf import weight_files  # imports the model (torch): only when a recipe asks for it

    model_config_file(folder, role="[model] init_from")
    try:
        weight_files(folder)
    except (FileNotFoundError, ValueError) as e:  # no weights; weights two loaders read differently
        raise type(e)(f"[model] init_from: {e}") from e


@dataclass
class DataConfig:
    manifest: str = "data/manifest.json"  # token shards' manifest.json (axk1/data/shards.py)
    seed: int = 1234
    removed_keys = {"tokenizer": "the trainer reads token ids only; the shards' manifest.json records the tokenizer "
                    "that made them (tokenizer_hash, vocab_size), and export/serving take it from the model folder"}

    def check(self) -> None:
        _check_seed("[data] seed", self.seed)


@dataclass
class ValidationConfig:
    held_out: float = 0.0               # share of every shard's documents held out for validation (0: none)
    every_steps: int = 50               # evaluated this often, and at the end of every stage
    sequences: int = 16                 # rows per evaluation, at the current stage's mixture and length

    def check(self) -> None:
        if not 0 <= self.held_out < 0.5 or self.every_steps < 1 or self.sequences < 1:
            raise ValueError("[validation] needs 0 <= held_out < 0.5, every_steps >= 1 and sequences >= 1")


@dataclass
class OptimizerConfig:
    name: str = "adamw"
    lr: float = 3e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    master_dtype: str = "float32"

    def check(self) -> None:
        if self.name != "adamw":
            raise ValueError(f"[optimizer] name {self.name!r} is not supported; use \"adamw\"")
        if not (self.lr > 0 and self.eps > 0 and self.weight_decay >= 0 and self.grad_clip >= 0):
            raise ValueError("[optimizer] needs lr > 0, eps > 0, weight_decay >= 0, grad_clip >= 0 (0 = no clipping)")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"[optimizer] betas must be two numbers in [0, 1), got {self.betas}")
        if self.master_dtype != "float32":
            raise ValueError("[optimizer] master_dtype must be \"float32\" (FP32 master weights, as A.X K1 trained)")


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

    def check(self, needs_size: bool) -> None:
        """`needs_size`: the recipe sizes its steps here (RL sizes its batches in [rl])."""
        for key in ("global_tokens", "global_sequences"):  # -1 passed as "set", and a step took one sequence
            if getattr(self, key) < 0:
                raise ValueError(f"[batch] {key} = {getattr(self, key)} is negative: set it > 0, or 0 to leave it unset")
        if needs_size and self.global_tokens <= 0 and self.global_sequences <= 0:
            raise ValueError("[batch] set global_tokens (tokens per step) or global_sequences (sequences per step) > 0")
        if self.micro_batch <= 0:
            raise ValueError("[batch] micro_batch must be >= 1")


@dataclass
class MoEConfig:
    balancing: str = "aux-loss-free"    # "aux-loss-free" | "none"
    bias_update_rate: float = 1e-3      # γ in bias += γ·sign(mean load − load)
    seq_aux_loss_alpha: float = 0.0

    def check(self) -> None:
        if self.balancing not in ("aux-loss-free", "none") or self.bias_update_rate < 0 or self.seq_aux_loss_alpha < 0:
            raise ValueError("[moe] balancing must be \"aux-loss-free\" or \"none\", with rates >= 0")


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

    def check(self) -> None:
        # imported here: it brings in torch.distributed, which the planner and `axk1 params` reading this file skip
        from axk1.parallel.activation_checkpoint import normalize_mode

        for axis in ("dp_replicate", "dp_shard", "ep", "pp", "cp"):
            if getattr(self, axis) < 1:
                raise ValueError(f"[parallelism] {axis} must be >= 1")
        if self.pp > 1:
            raise ValueError("[parallelism] pipeline parallelism (pp) is not implemented; set pp = 1")
        if self.precision == "fp8":
            raise ValueError("[parallelism] precision = \"fp8\" is not implemented; use \"bf16\" or \"fp32\"")
        normalize_mode(self.activation_checkpointing)
        if self.precision not in ("fp32", "bf16"):  # a mode, not a dtype: "bf16" is FSDP2 bf16 compute or autocast
            mode = {"float32": "fp32", "bfloat16": "bf16"}.get(self.precision)
            raise ValueError(f"[parallelism] precision {self.precision!r} unknown; use \"fp32\" or \"bf16\" (how "
                             "training computes, not a dtype name" + (f": did you mean \"{mode}\"?)" if mode else ")"))


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

    def where(self, number: int) -> str:
        """How an error names the stage: `[[stages]] #2 (main)`; `number` counts from 1."""
        return f"[[stages]] #{number} ({self.name})"

    def check(self, number: int, max_len: int) -> None:
        """What the stage decides alone, its lengths within the model's `max_len` (max_position_embeddings)
        included; its lengths against the batch's, its name against the other stages' and its YaRN against what they
        train are recipe_checks.validate's."""
        if not self.name.strip():  # tables, plots and metrics rows name stages by it: a blank one showed as nothing
            raise ValueError(f"[[stages]] #{number}: name is empty: give each stage a name, e.g. name = \"main\"")
        where = self.where(number)
        if self.tokens <= 0:
            raise ValueError(f"{where}: tokens must be > 0")
        for L in self.lengths():
            if not 2 <= L <= max_len:
                raise ValueError(f"{where}: seq_len {L} outside 2..max_position_embeddings={max_len}")
        if self.seq_len_schedule and self.seq_len_schedule[-1] != self.seq_len:
            raise ValueError(f"{where}: seq_len must equal the last entry of seq_len_schedule")
        _check_mixture(where, self.mixture)
        if self.rope_scaling is not None:
            try:
                yarn = normalise_rope_scaling(self.rope_scaling)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{where}: rope_scaling: {e}") from None
            original = yarn["original_max_position_embeddings"]
            if yarn["factor"] < 1 or original > max(self.lengths()):
                raise ValueError(f"{where}: rope_scaling extends from original_max_position_embeddings="
                                 f"{original} by factor {yarn['factor']}: the factor "
                                 "must be >= 1 and the original length at most the stage's seq_len (the stage trains "
                                 "at the longer length)")


def _check_mixture(where: str, mixture: object) -> None:
    """Weights are numbers >= 0 and finite, one at least > 0 (the TOML reader checks that each is a finite number;
    this holds for a recipe built in code too)."""
    if not isinstance(mixture, dict) or not mixture:
        raise ValueError(f"{where}: mixture must be a table of domain = weight, e.g. {{ web = 0.7, code = 0.3 }}")
    for key, w in mixture.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise ValueError(f"{where}: mixture.{key} = {w!r}: a weight must be a finite number >= 0")
    if not any(w > 0 for w in mixture.values()):
        raise ValueError(f"{where}: mixture {mixture} has no positive weight: give at least one domain a weight > 0")


@dataclass
class CheckpointConfig:
    dir: str = "checkpoints"
    interval_steps: int = 1000
    keep_latest: int = 3
    async_: bool = False               # stage the tensors, write them in a background thread (DCP async_save)

    def check(self) -> None:
        if self.interval_steps <= 0 or self.keep_latest <= 0:
            raise ValueError("[checkpointing] interval_steps and keep_latest must be >= 1")


@dataclass
class LoggingConfig:
    every_steps: int = 10
    jsonl: str = "metrics.jsonl"
    tensorboard: str = ""               # a folder (relative: to run.out_dir) for TensorBoard event files; "" = off
    progress: bool = True
    peak_tflops: float = 0.0            # MFU denominator per device; 0: measured (CPU) or the datasheet (GPU)

    def check(self) -> None:
        if self.every_steps <= 0 or self.peak_tflops < 0:
            raise ValueError("[logging] every_steps must be >= 1 and peak_tflops >= 0")


@dataclass
class RunConfig:
    out_dir: str = "."                  # where checkpoints/ and logs go (relative: to the recipe's folder)
    max_steps: int = 0                  # 0: train through all stages
    device: str = "auto"                # "auto" (CUDA if torch sees a GPU, else CPU), "cpu", "cuda"; axk1/device.py
    threads: int = 0                    # torch.set_num_threads; 0 leaves torch's default
    max_bad_steps: int = 5              # consecutive NaN/inf/spike steps before the run stops
    spike_zscore: float = 0.0           # 0 disables spike detection (NaN/inf are always skipped)
    # the model's initial weights and torch's other draws; None: [data] seed, which drew them before this key
    # existed, so a recipe without it starts from the same weights as it always did. Apart from the data's seed so
    # that a run can draw other weights over the same batches, or the same weights over other batches
    seed: int | None = None
    # under torchrun: how long a rank waits in one collective for the others before it stops with an error naming
    # this key; a hung rank (a stopped process, a node off the network) otherwise stalled the launch silently for
    # the process group's default (gloo: 30 minutes). docs/training.md says what it must exceed
    collective_timeout_s: float = 600.0

    def check(self) -> None:
        # imported here: it brings in torch.distributed, which the planner and `axk1 params` reading this file skip
        from axk1.parallel.distributed import timeout_problem

        if problem := threads_problem(self.threads, "[run] threads"):
            raise ValueError(problem)
        if self.max_steps < 0 or self.max_bad_steps < 1 or self.spike_zscore < 0:
            raise ValueError("[run] needs max_steps >= 0, max_bad_steps >= 1, spike_zscore >= 0")
        if problem := timeout_problem(self.collective_timeout_s, "[run] collective_timeout_s"):
            raise ValueError(problem)
        _check_seed("[run] seed", self.seed)  # None: [data] seed's


def _check_seed(name: str, seed: int | None) -> None:
    if seed is None:
        return
    if seed < 0:  # numpy's generators take non-negative seeds only (a run's draws are keyed by it)
        raise ValueError(f"{name} must be >= 0, got {seed}")
    if seed >= 2**63:  # torch.manual_seed takes 64 bits: a larger one was "Overflow when unpacking long long"
        raise ValueError(f"{name} must be below 2**63 = {2**63}, got {seed}")


@dataclass
class RecipeSections:
    """Every table of a pretraining recipe (the post-training recipes add theirs: posttrain/sft.py, rl_recipe.py).
    Apart from `Recipe` so that recipe_checks.validate can name the type it checks: recipe.py imports the checks,
    so they cannot import Recipe without an import cycle (tests/test_architecture.py)."""

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
    needs_stages = True  # pretraining draws from [[stages]]; the post-training recipes bring their own data
    needs_batch_size = True  # [batch] global_tokens / global_sequences (RL sizes its batches in [rl])

    def init_seed(self) -> int:
        """What seeds the model's initial weights and torch's generator: [run] seed, else [data] seed."""
        return self.data.seed if self.run.seed is None else self.run.seed
