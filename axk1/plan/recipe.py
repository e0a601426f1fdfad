"""The `axk1 train` recipe for a plan: A.X K1's three pretraining stages scaled to the planned token count.

Stage shares, lengths and mixtures are A.X K1's (docs/training.md, "Pretraining stages"): 7T / 1.66T / 0.6T of
9.26T; 4K context, then the decay stage, then 4K -> 16K -> 32K long-context adaptation; constant LR in stage 1,
decay from stage 2 (warmup-stable-decay: [schedule] decay_starts_at_stage = 2). Optimizer defaults are
DeepSeek-V3's (the A.X K1 values are not published) and the peak LR and batch come from the plan. The recipe is the
trainer's own dataclass (axk1.train.recipe.Recipe), written with axk1.toml_file.to_toml: what `axk1 plan` writes is
exactly what `axk1 train` reads.
"""

from __future__ import annotations

from typing import Any

from axk1.config import ModelConfig
from axk1.flops import training_flops_per_token
from axk1.train.recipe import Recipe
from axk1.train.recipe_sections import (BatchConfig, CheckpointConfig, DataConfig, LoggingConfig, MoEConfig,
                                        OptimizerConfig, ParallelismConfig, RecipeModelConfig, ScheduleConfig,
                                        StageConfig, ValidationConfig)

AXK1_STAGES = [  # (name, tokens in the A.X K1 run, sequence length(s) as multiples of the base length)
    ("stage1-general", 7.0e12, [1]),
    ("stage2-quality-reasoning", 1.66e12, [1]),
    ("stage3-long-context", 0.6e12, [1, 4, 8]),
]


def stage_lengths(seq_len: int) -> list[list[int]]:
    """Each stage's sequence lengths for a base length (`axk1 plan --seq-len`): A.X K1's schedule scaled, so the
    long-context stage ends at 8x the base. Every length is a multiple of the base and divides the longest, so a
    batch of whole longest-stage sequences per rank divides over the ranks at every length (the dry run's check)."""
    return [[m * seq_len for m in lengths] for _, _, lengths in AXK1_STAGES]


def context_lengths(seq_len: int) -> list[int]:
    """The distinct lengths the recipe trains at, ascending."""
    return sorted({L for lengths in stage_lengths(seq_len) for L in lengths})


def trained_lengths(seq_len: int, context: int) -> list[list[int]]:
    """Each stage's lengths as far as the layout's memory holds (`context`: the longest that fits)."""
    return [[L for L in lengths if L <= context] or lengths[:1] for lengths in stage_lengths(seq_len)]


def length_shares(seq_len: int, context: int) -> dict[int, float]:
    """The share of the run's tokens trained at each length: A.X K1's stage shares, each stage's tokens split
    equally over its lengths (as the trainer splits them, Recipe.stage_steps). The planner prices the budget with
    it: a 32K token's attention costs ~8x a 4K token's, and pricing every token at the base length overspent the
    budget by 3-11%."""
    total = sum(t for _, t, _ in AXK1_STAGES)
    shares: dict[int, float] = {}
    for (_, tokens, _), lengths in zip(AXK1_STAGES, trained_lengths(seq_len, context)):
        for L in lengths:
            shares[L] = shares.get(L, 0.0) + tokens / total / len(lengths)
    return shares


def recipe_flops_per_token(config: ModelConfig, seq_len: int, context: int, *, with_mtp: bool, causal: bool) -> float:
    """Training FLOPs per token of the run the recipe trains: the token-weighted mean over its stage lengths, in
    the trainer's causal count or the laws' un-halved one (axk1/flops.py)."""
    return sum(share * training_flops_per_token(config, L, with_mtp=with_mtp, causal=causal)
               for L, share in length_shares(seq_len, context).items())


DECAY_STARTS_AT_STAGE = 2  # A.X K1: constant learning rate in stage 1, decay from stage 2
# Percent per domain (docs/training.md, "Pretraining stages"); stage 1 sums to 99.85%, normalised when written.
AXK1_MIXTURES = [
    {"web": 53.41, "code": 17.13, "encyclopedia": 14.84, "qa": 13.04, "books": 0.77, "academic": 0.66},
    {"web": 39.79, "code": 29.42, "encyclopedia": 0.64, "qa": 8.95, "books": 4.35, "academic": 7.23,
     "math": 5.41, "stem": 2.47, "reasoning": 0.82},
    {"web": 33.32, "code": 25.50, "encyclopedia": 0.72, "qa": 5.38, "books": 3.70, "academic": 3.87,
     "math": 9.24, "stem": 9.07, "reasoning": 8.32},
]


def build_recipe(plan: Any, config_path: str = "config.json") -> Recipe:
    """The training recipe for the plan (paths as written in the file: relative to the recipe's folder)."""
    layout = plan.best.memory.layout
    total = sum(t for _, t, _ in AXK1_STAGES)
    stages, assigned = [], 0
    for i, ((name, tokens, _), lengths, mix) in enumerate(zip(AXK1_STAGES, trained_lengths(plan.seq_len, plan.context),
                                                              AXK1_MIXTURES)):
        # A.X K1's share of the tokens; the last stage takes the rounding remainder
        last = i == len(AXK1_STAGES) - 1
        stage_tokens = int(plan.best.tokens - assigned) if last else int(plan.best.tokens * tokens / total)
        assigned += stage_tokens
        norm = sum(mix.values())
        stages.append(StageConfig(name=name, tokens=stage_tokens, seq_len=lengths[-1], seq_len_schedule=lengths,
                                  mixture={k: round(v / norm, 5) for k, v in mix.items()}))
    recipe = Recipe(
        # MTP depth 1 for a MoE (DeepSeek-V3, A.X K1), none for a dense plan; off under context parallelism, which
        # the trainer cannot combine with it
        model=RecipeModelConfig(config=config_path, mtp_loss_weight=[0.3, 0.1],
                                mtp_depth=1 if layout.cp == 1 and plan.best.config.num_nextn_predict_layers else 0),
        data=DataConfig(manifest="data/manifest.json", seed=1234),
        optimizer=OptimizerConfig(lr=float(f"{plan.learning_rate:.3g}"), betas=[0.9, 0.95], eps=1e-8,
                                  weight_decay=0.1, grad_clip=1.0),
        schedule=ScheduleConfig(kind="wsd", decay_starts_at_stage=DECAY_STARTS_AT_STAGE, final_lr_ratio=0.1),
        # tokens per step, the same at every length (global_sequences too would be ignored: global_tokens decides)
        batch=BatchConfig(global_tokens=plan.batch_sequences * plan.seq_len, micro_batch=1),
        moe=MoEConfig(balancing="aux-loss-free", bias_update_rate=1e-3, seq_aux_loss_alpha=0.0),
        parallelism=ParallelismConfig(dp_replicate=layout.dp_replicate, dp_shard=layout.dp_shard, ep=layout.ep,
                                      cp=layout.cp, activation_checkpointing="full" if layout.recompute else "none",
                                      precision="bf16"),  # the trainer's; an fp8 budget's speed is not its
        stages=stages,
        checkpointing=CheckpointConfig(dir="checkpoints", interval_steps=1000, keep_latest=3, async_=True),
        logging=LoggingConfig(every_steps=10, jsonl="metrics.jsonl", tensorboard="tb"),
        # 0.1% of the documents never trained on; one row a data-parallel rank per evaluation (every rank must
        # measure as many), the length of the stage, as often as a checkpoint
        validation=ValidationConfig(held_out=0.001, every_steps=1000,
                                    sequences=layout.dp_replicate * layout.dp_shard),
    )
    # the steps the trainer will take (each stage's parts rounded up to whole steps), so that the schedule ends
    # with the run rather than a few steps before it
    steps = sum(n for parts in recipe.stage_steps() for n, _ in parts)
    recipe.schedule.total_steps, recipe.schedule.warmup_steps = steps, min(2000, max(1, steps // 100))
    return recipe


def lr_phase(recipe: Recipe, stage_index: int) -> str:
    """"stable" or "decay" for the stage (0-based) under a warmup-stable-decay schedule, for the plan's report."""
    return "decay" if stage_index + 1 >= recipe.schedule.decay_starts_at_stage else "stable"
