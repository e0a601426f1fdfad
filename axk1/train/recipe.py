"""The `axk1 train` recipe: TOML → validated dataclasses, every error found before any compute.

The shape is the one `axk1 plan` writes (axk1/plan/recipe.py): sections model, data, optimizer, schedule, batch,
moe, parallelism, [[stages]], checkpointing, logging, plus an optional [run] (output folder, step cap, device:
"auto" by default), one dataclass each in axk1/train/recipe_sections.py. Relative paths are resolved against the
recipe file's folder. Unknown keys are errors (a typo must not silently fall back to a default); the checks of the
values are axk1/train/recipe_checks.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from axk1.config import ModelConfig
from axk1.rope_scaling import normalise_rope_scaling
from axk1.device import resolve_device
from axk1.parallel.activation_checkpoint import normalize_mode
from axk1.toml_file import absolute_paths, build_dataclass, load_toml, resolve_declared, resolve_keys
from axk1.train.recipe_checks import validate
from axk1.train.recipe_sections import RecipeSections


@dataclass
class Recipe(RecipeSections):
    path: Path | None = field(default=None, init=False)  # the TOML file it was read from
    # keys holding paths: relative to the recipe's folder in the file, to the current folder on the command line
    # (axk1/toml_file.py; a subclass adds its own)
    path_keys = ("run.out_dir", "model.config", "model.init_from", "data.manifest")
    # what the run writes: relative to [run] out_dir (an empty checkpointing.dir is out_dir itself; empty logs: off)
    out_keys = ("checkpointing.dir", "logging.jsonl", "logging.tensorboard")

    def validate(self) -> None:
        validate(self)

    def resolve_paths(self, base: Path) -> None:
        """The one rule: a relative path in a recipe is relative to the recipe file's folder."""
        _resolve_paths(self, base)

    def out_dir(self) -> Path:
        return Path(self.run.out_dir)

    def own_definition(self) -> dict:
        """A subclass's own settings that define the run's trajectory, as "table.key" -> value, for the definition
        --resume compares (axk1/train/resume.py); pretraining's are all in the shared sections."""
        return {}

    def sequences_per_step(self, seq_len: int) -> int:
        if self.batch.global_tokens > 0:
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
    length_key = "[[stages]] seq_len"  # what sets a row's tokens, for the dry run's advice
    context_parallel = True  # whether [parallelism] cp > 1 runs (RL refuses it)
    # whether its export writes the routers' balancing bias as trained (post-training) or as zeros (pretraining,
    # as the release does): recorded in each checkpoint (dcp.KEEP_ROUTER_BIAS), read by axk1/checkpoint/export.py
    keeps_router_bias = False

    def step_account(self, config: ModelConfig, seq_len: int, micro_batch: int, world_size: int,
                     accelerator: bool = True):
        """The memory per GPU of one step at `seq_len` (axk1/train/memory.py; RL's differs: posttrain/rl_memory.py);
        `accelerator=False`: per CPU rank."""
        from axk1.train.memory import step_memory

        p = self.parallelism
        return step_memory(config, dp_shard=p.dp_shard, ep=p.ep, cp=p.cp, seq_len=seq_len, micro_batch=micro_batch,
                           recompute=normalize_mode(p.activation_checkpointing) == "full", precision=p.precision,
                           mtp_depth=self.model.mtp_depth, one_process=world_size == 1, accelerator=accelerator)

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
    if not r.run.out_dir:  # "" stayed "" and the run wrote into whatever folder it was started from
        raise ValueError("[run] out_dir is empty: name the folder the run writes to (relative: to the recipe's "
                         "folder; \".\", the default, is that folder itself)")
    resolve_declared(r, base)  # path_keys, a subclass's too
    r.checkpointing.dir = r.checkpointing.dir or "."
    resolve_keys(r, r.out_keys, r.run.out_dir)
