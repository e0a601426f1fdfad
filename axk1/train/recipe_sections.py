"""The tables of an `axk1 train` recipe, one dataclass each, and `RecipeSections`, all of them together: the shape
recipe_checks.py checks and recipe.py's `Recipe` (with its loading and the quantities derived from it) builds on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from axk1.config import ModelConfig


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
    # the model's initial weights and torch's other draws; None: [data] seed, which drew them before this key
    # existed, so a recipe without it starts from the same weights as it always did. Apart from the data's seed so
    # that a run can draw other weights over the same batches, or the same weights over other batches
    seed: int | None = None
    # under torchrun: how long a rank waits in one collective for the others before it stops with an error naming
    # this key; a hung rank (a stopped process, a node off the network) otherwise stalled the launch silently for
    # the process group's default (gloo: 30 minutes). docs/training.md says what it must exceed
    collective_timeout_s: float = 600.0


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
