"""The `axk1 train` recipe: TOML → validated dataclasses, every error found before any compute.

The shape is the one `axk1 plan` writes (axk1/plan/recipe.py): sections model, data, optimizer, schedule, batch,
moe, parallelism, [[stages]], checkpointing, logging, plus an optional [run] (output folder, step cap, device:
"auto" by default). Relative paths are resolved against the recipe file's folder. Unknown keys are
errors (a typo must not silently fall back to a default); the checks of the values are axk1/train/recipe_checks.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from axk1.config import ModelConfig, normalise_rope_scaling
from axk1.device import resolve_device
from axk1.parallel.activation_checkpoint import normalize_mode
from axk1.toml_file import absolute_paths, build_dataclass, load_toml, resolve_keys
from axk1.train.recipe_checks import validate


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
