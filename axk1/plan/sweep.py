"""`axk1 plan sweep`: an IsoFLOP grid of small training runs (Chinchilla's approach 2 design) as recipes that
`axk1 train` runs as they are, plus one larger held-out run to check the fitted law's prediction on.

Every run is a dense model of the A.X K1 family (MLA attention, SwiGLU FFN; no MoE, no MTP: the fitted law is the
dense one, and the planner puts MoE on top through the efficiency leverage), one stage at one sequence length, a
cosine schedule that decays to the end of the run (Chinchilla: a schedule longer than the run overstates its loss),
and held-out validation at the end on the same held-out documents and rows in every run (same data seed, share and
length), so their losses compare. The model scale is DeepSeek LLM's M (non-embedding FLOPs per token) and a budget
is C = M x D, the units of the planner's default law.

For each budget the sizes are spread around a first guess of the optimum, M_guess = 6 sqrt(C / 120) (Chinchilla's
20 tokens per parameter with M = 6N), by factors spread evenly in log over [1/spread, spread]; the fit, not the
guess, finds the optimum, and `axk1 plan fit` says when a budget's sizes do not bracket it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from axk1.config import ModelConfig
from axk1.flops import non_embedding_flops_per_token, parameter_counts
from axk1.json_text import read_json_file
from axk1.output_folder import discard, named
from axk1.plan.defaults import DEFAULT_BUDGETS, DEFAULT_SIZES, DEFAULT_SPREAD
from axk1.plan.fit import BUDGET_GAP_DECADES
from axk1.plan.scaling import optimal_batch_tokens
from axk1.plan.sweep_corpus import DOMAIN, write_byte_corpus
from axk1.toml_file import to_toml
from axk1.train.data_budget import MANY_PASSES
from axk1.train.recipe import Recipe
from axk1.train.recipe_sections import (BatchConfig, CheckpointConfig, DataConfig, LoggingConfig, OptimizerConfig,
                                        RecipeModelConfig, RunConfig, ScheduleConfig, StageConfig, ValidationConfig)

# DEFAULT_BUDGETS, DEFAULT_SIZES, DEFAULT_SPREAD: plan/defaults.py says why those
# hidden sizes the grid picks its shapes from: steps of 8 to 512 (the CPU sweeps), then ~3-6% steps to 3072 (layers
# 96), whose M at 128 tokens (7.1e10) serves budgets up to ~6e21 FLOPs at the default spread; the shapes keep the
# family's rule (depth hidden/32, 16-wide heads) so that the law stays one family's. A stopped at 512 gave every
# budget above ~1e17 the same five largest shapes, far below its M_guess, without a word
HIDDEN_LADDER = tuple(range(16, 513, 8)) + tuple(range(544, 1025, 32)) + tuple(range(1088, 3073, 64))
LADDER_SLACK = 1.2  # the largest target size may lie this far above the largest shape (its nearest pick)
HOLDOUT_NAME = "holdout"
PLATEAU_FLOPS = 2e11  # below it the byte corpus's models sit on a plateau (docs/planning.md, "Below ~2e11 FLOPs")
MIN_RUN_STEPS = 100   # fewer optimizer steps: warmup and cosine decay take most of the run, a loss of the schedule


@dataclass(frozen=True)
class SweepRun:
    name: str
    budget: float
    hidden: int
    layers: int
    scale: float   # M at the run's sequence length
    tokens: int    # D, whole steps
    params: int    # non-embedding parameters (for the reader)
    batch: int     # sequences per step


def batch_sequences_for(budget: float, seq_len: int, fixed: int | None) -> int:
    """The batch of a run: `fixed`, or DeepSeek LLM's batch law at the run's budget (scaling.optimal_batch_tokens),
    at least 4 sequences. A batch far above it leaves the short runs of small budgets too few steps: their loss then
    measures the optimizer's progress, not the model's capacity (a first sweep at 32 x 128 tokens for every budget
    put the optimum at the smallest model for every budget and missed a held-out run by over 20%)."""
    return fixed or max(4, round(optimal_batch_tokens(budget) / seq_len))


def tiny_dense_config(hidden: int, vocab: int, seq_len: int) -> ModelConfig:
    """A dense member of the family at width `hidden`: depth ~ hidden/32 (at least 2), head dims 16/8/16, LoRA
    ranks hidden and hidden/2, SwiGLU width 8/3 hidden (a multiple of 16)."""
    layers = max(2, round(hidden / 32))
    base = ModelConfig.from_preset("axk1-tiny")
    return base.replace(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, first_k_dense_replace=layers,
                        intermediate_size=max(16, round(hidden * 8 / 3 / 16) * 16),
                        num_attention_heads=max(2, hidden // 16), q_lora_rank=hidden,
                        kv_lora_rank=max(16, hidden // 2), qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                        max_position_embeddings=seq_len, num_nextn_predict_layers=0)


def check_grid(budgets: tuple[float, ...], sizes: int, spread: float) -> None:
    """Refuses a grid the fit could not use, before anything is written or trained."""
    if len(budgets) < 2 or sizes < 3:
        raise ValueError(f"an IsoFLOP sweep needs at least 2 budgets and 3 sizes per budget (got {len(budgets)} "
                         f"budgets, {sizes} sizes): the fit finds each budget's minimum from a parabola")
    for budget in budgets:
        if not (budget > 0 and math.isfinite(budget)):
            raise ValueError(f"budgets must be positive finite FLOPs, got {budget}")
    repeated = sorted({b for b in budgets if list(budgets).count(b) > 1})
    if repeated:
        raise ValueError(f"--budgets repeats {', '.join(f'{b:g}' for b in repeated)}: each budget's runs would "
                         "overwrite the other's; give each budget once")
    ordered = sorted(budgets)
    close = [(a, b) for a, b in zip(ordered, ordered[1:]) if math.log10(b / a) <= BUDGET_GAP_DECADES]
    if close:  # the fit groups budgets this close as one (fit.budget_groups): found out only after training them
        a, b = close[0]
        raise ValueError(f"--budgets {a:g} and {b:g} are less than {10 ** BUDGET_GAP_DECADES:.2f}x apart: the fit "
                         "would take their runs as one budget's; space the budgets further apart (the defaults are "
                         "2x apart)")
    if not (spread > 1 and math.isfinite(spread)):
        raise ValueError(f"--spread must be a finite number above 1 (the sizes span M_guess/spread .. M_guess x "
                         f"spread), got {spread}")
    if sizes > len(HIDDEN_LADDER):  # (--sizes 70 failed with "min() arg is an empty sequence" after the corpus)
        raise ValueError(f"--sizes {sizes} is more than the {len(HIDDEN_LADDER)} shapes the sweep picks from: give "
                         "at most that many (5 to 7 bracket a budget's optimum)")


def ladder(seq_len: int) -> list[tuple[float, int]]:
    """(M at seq_len, hidden) of every ladder shape, smallest first. M does not depend on the vocabulary."""
    return [(non_embedding_flops_per_token(tiny_dense_config(h, 256, seq_len), seq_len), h) for h in HIDDEN_LADDER]


def pick_sizes(shapes: list, budget: float, sizes: int, spread: float) -> list:
    """The `sizes` distinct shapes ((M, ...) tuples) nearest to M_guess x spread^(-1..1), M_guess = 6 sqrt(C/120)."""
    guess = 6 * math.sqrt(budget / 120)
    chosen: list = []
    for i in range(sizes):
        target = guess * spread ** (-1 + 2 * i / (sizes - 1))
        chosen.append(min((x for x in shapes if x not in chosen), key=lambda x: abs(math.log(x[0] / target))))
    return chosen


def check_ladder(budgets: tuple[float, ...], sizes: int, spread: float, seq_len: int,
                 holdout_factor: float = 0.0) -> None:
    """Refuses, before anything is written, budgets whose sizes lie above the ladder's largest shape (the grid gave
    them the same few largest shapes, all below their optimum, and the fit found no minimum to bracket), and more
    sizes than the ladder has shapes near a budget's guess (--sizes 70 picked shapes 1,000x above it)."""
    shapes = ladder(seq_len)
    top, hidden = shapes[-1]
    largest = 120 * (top * LADDER_SLACK / (6 * spread)) ** 2  # the budget whose M_guess x spread is the limit
    over = sorted(b for b in budgets if 6 * math.sqrt(b / 120) * spread > top * LADDER_SLACK)
    if over:
        raise ValueError(f"--budgets {', '.join(f'{b:g}' for b in over)} need models above the sweep's largest shape "
                         f"(hidden {hidden}, M {top:.3g} FLOPs/token at {seq_len} tokens): at --spread {spread:g} the "
                         f"largest budget it serves is {largest:.3g} FLOPs; lower --budgets or --spread")
    big = max(budgets) * holdout_factor
    if big and 6 * math.sqrt(big / 120) > top * LADDER_SLACK:
        raise ValueError(f"the held-out run at {holdout_factor:g}x the largest budget ({big:.3g} FLOPs) needs a model "
                         f"above the sweep's largest shape (hidden {hidden}): lower --holdout-factor or --budgets")
    for budget in budgets:
        guess = 6 * math.sqrt(budget / 120)
        low, high = min(guess / spread / LADDER_SLACK, shapes[0][0]), guess * spread * LADDER_SLACK
        if high < shapes[0][0]:
            continue  # all below the ladder: its smallest shapes stand in (the plateau warning covers such budgets)
        far = [x for x in pick_sizes(shapes, budget, sizes, spread) if not low <= x[0] <= high]
        if far:
            raise ValueError(f"--sizes {sizes}: the ladder has too few shapes near budget {budget:g}'s M_guess "
                             f"{guess:.3g} (its sizes would reach M {far[-1][0]:.3g}, hidden {far[-1][1]}, outside "
                             f"[{guess / spread:.3g}, {guess * spread:.3g}]); lower --sizes or raise --spread")


def grid(budgets: tuple[float, ...], sizes: int, spread: float, vocab: int, seq_len: int,
         batch_sequences: int | None = None) -> list[SweepRun]:
    """sizes x budgets runs; for each budget the ladder shapes nearest to M_guess x spread^(-1..1)."""
    check_grid(budgets, sizes, spread)
    check_ladder(budgets, sizes, spread, seq_len)
    shapes = ladder(seq_len)
    runs = []
    for budget in sorted(budgets):
        batch = batch_sequences_for(budget, seq_len, batch_sequences)
        batch_tokens = batch * seq_len
        for scale, hidden in sorted(pick_sizes(shapes, budget, sizes, spread)):
            config = tiny_dense_config(hidden, vocab, seq_len)
            steps = max(1, round(budget / scale / batch_tokens))
            counts = parameter_counts(config)
            # 3 significant digits: `.0e` named 2.5e11's runs c2e11, the names of 2e11's (a sweep with both wrote
            # both budgets' runs into the same folders)
            runs.append(SweepRun(f"c{budget:.3g}-h{hidden}".replace("+", ""), budget, hidden,
                                 config.num_hidden_layers, scale, steps * batch_tokens, counts.activated_non_vocab,
                                 batch))
    return runs


def corpus_tokens(doc: dict) -> dict[str, int]:
    """Tokens per domain in a token shards' manifest (its shards' counts)."""
    out: dict[str, int] = {}
    for shard in doc.get("shards") or []:
        if isinstance(shard, dict) and isinstance(shard.get("tokens"), int):
            out[str(shard.get("domain"))] = out.get(str(shard.get("domain")), 0) + shard["tokens"]
    return out


def repeat_warnings(runs: list[SweepRun], corpus: int) -> list[str]:
    """A sweep whose runs read their corpus more than once. The fit takes each run's D as fresh tokens, but repeated
    tokens are worth less (Muennighoff et al. 2023, the planner's data-constrained law: little past ~4 passes), so
    the larger runs' losses sit above what their D would buy and the fitted law misjudges the data term. A user's
    12.6K-token corpus under runs of up to 5.4M tokens (~430 passes) gave no word."""
    if corpus <= 0:
        return []
    most = max(runs, key=lambda r: r.tokens)
    if most.tokens <= corpus:
        return []
    over = sum(r.tokens > corpus for r in runs)
    many = sum(r.tokens > MANY_PASSES * corpus for r in runs)
    return [f"the runs repeat the corpus: the largest ({most.name}) reads {most.tokens:,} tokens of a "
            f"{corpus:,}-token corpus, {most.tokens / corpus:,.1f} passes; {over} of {len(runs)} runs read it more "
            f"than once, {many} more than {MANY_PASSES:g} times. Repeated tokens are worth less than fresh ones "
            "(Muennighoff et al. 2023, arXiv 2305.16264, the data-constrained law `axk1 plan` applies), so the "
            "fitted law would misjudge D: give a corpus of at least "
            f"{most.tokens:,} tokens, or lower --budgets (the largest run reads about C / M tokens)"]


def short_run_warnings(runs: list[SweepRun], seq_len: int) -> list[str]:
    """Runs too small to measure a law: budgets under the plateau, runs of a few optimizer steps (--budgets 1e9,2e9
    wrote runs of 7 steps without a word)."""
    out = []
    low = sorted({r.budget for r in runs if r.budget < PLATEAU_FLOPS})
    if low:
        out.append(f"budgets {', '.join(f'{b:g}' for b in low)} are below ~{PLATEAU_FLOPS:g} FLOPs, where the byte "
                   "corpus's models all end near one loss (a plateau that carries nothing about model size, and a "
                   "fit including it extrapolated 20% wrong): raise --budgets, or check the fit plot's lowest budget")
    short = [r for r in runs if r.tokens // (r.batch * seq_len) < MIN_RUN_STEPS]
    if short:
        fewest = min(short, key=lambda r: r.tokens)
        out.append(f"{len(short)} of {len(runs)} runs take fewer than {MIN_RUN_STEPS} optimizer steps ({fewest.name}: "
                   f"{fewest.tokens // (fewest.batch * seq_len)}): warmup and decay are most of such a run, so its "
                   "loss measures the schedule more than the model; raise --budgets or lower --batch")
    return out


def run_recipe(run: SweepRun, manifest: str, seq_len: int, threads: int,
               mixture: dict[str, float] | None = None) -> Recipe:
    """The run's recipe (paths relative to its folder): one stage, cosine to 10%, validation at the end; `mixture`
    the manifest's domains (by default the byte corpus's one)."""
    batch_sequences = run.batch
    steps = run.tokens // (batch_sequences * seq_len)
    # a smaller learning rate for wider models (tiny models train stably at a few 1e-3)
    lr = float(f"{3e-3 * min(1.0, math.sqrt(64 / run.hidden)):.3g}")
    return Recipe(
        model=RecipeModelConfig(config="config.json", mtp_depth=0),
        data=DataConfig(manifest=manifest, seed=1234),
        validation=ValidationConfig(held_out=0.02, every_steps=steps, sequences=128),
        optimizer=OptimizerConfig(lr=lr, weight_decay=0.1, grad_clip=1.0),
        schedule=ScheduleConfig(kind="cosine", warmup_steps=max(1, steps // 20), final_lr_ratio=0.1),
        batch=BatchConfig(global_sequences=batch_sequences, micro_batch=batch_sequences),
        checkpointing=CheckpointConfig(interval_steps=max(steps, 1), keep_latest=1, async_=False),
        logging=LoggingConfig(every_steps=max(1, steps // 10), progress=False),
        run=RunConfig(out_dir=".", threads=threads),
        stages=[StageConfig(name="sweep", tokens=run.tokens, seq_len=seq_len, mixture=mixture or {DOMAIN: 1.0})],
    )


def write_sweep(out_dir: str | Path, budgets: tuple[float, ...] = DEFAULT_BUDGETS, sizes: int = DEFAULT_SIZES,
                spread: float = DEFAULT_SPREAD, seq_len: int = 128, batch_sequences: int | None = None,
                holdout_factor: float = 1.5,
                manifest: str | Path | None = None, threads: int = 1, force: bool = False) -> dict:
    """Writes DIR/data (the byte corpus, unless `manifest` is given), DIR/runs/<name>/{config.json, recipe.toml},
    DIR/holdout/ (the larger run at holdout_factor x the largest budget, 0 for none) and DIR/sweep.json. A DIR that
    holds trained runs, or run folders the new grid lacks, is refused unless `force` (which clears them)."""
    out = Path(out_dir)
    check_grid(tuple(budgets), sizes, spread)
    if seq_len < 8 or (batch_sequences is not None and batch_sequences < 1):
        raise ValueError(f"--seq-len must be >= 8 and --batch >= 1, got {seq_len} and {batch_sequences}")
    if not (holdout_factor >= 0 and math.isfinite(holdout_factor)):
        raise ValueError(f"--holdout-factor must be a finite number >= 0 (the held-out run's budget over the largest; "
                         f"0 for none), got {holdout_factor}")
    check_ladder(tuple(budgets), sizes, spread, seq_len, holdout_factor)
    if manifest is None:
        manifest_path = write_byte_corpus(out / "data").resolve()
    else:
        manifest_path = Path(manifest).resolve()
        if not manifest_path.exists():
            raise ValueError(f"--manifest {manifest} does not exist: build token shards with `axk1 data run`, or "
                             "leave --manifest out to use the standard library's source as bytes")
    manifest_doc = read_json_file(manifest_path, "give the manifest.json that `axk1 data run` wrote",
                                  what="token shards' manifest")
    manifest_doc = manifest_doc if isinstance(manifest_doc, dict) else {}
    vocab = manifest_doc.get("vocab_size")
    held = corpus_tokens(manifest_doc)
    # every domain the manifest holds, in its own proportions: a fixed {"code": 1.0} stopped every run of a sweep
    # on a pipeline's manifest (web, books, ...) at its first step, for a domain no shard held
    total = sum(held.values())
    mixture = {d: round(n / total, 6) for d, n in sorted(held.items()) if n > 0} if total else None
    if not isinstance(vocab, int) or vocab < 4:
        raise ValueError(f"{manifest_path} has no usable vocab_size")
    vocab = -(-vocab // 64) * 64
    runs = grid(tuple(budgets), sizes, spread, vocab, seq_len, batch_sequences)
    holdout = None
    if holdout_factor:
        big = max(budgets) * holdout_factor
        guess = 6 * math.sqrt(big / 120)
        hidden = min(ladder(seq_len), key=lambda x: abs(math.log(x[0] / guess)))[1]
        config = tiny_dense_config(hidden, vocab, seq_len)
        scale = non_embedding_flops_per_token(config, seq_len)
        batch = batch_sequences_for(big, seq_len, batch_sequences)
        holdout = SweepRun(HOLDOUT_NAME, big, hidden, config.num_hidden_layers, scale,
                           max(1, round(big / scale / (batch * seq_len))) * batch * seq_len,
                           parameter_counts(config).activated_non_vocab, batch)
    clear_old_runs(out, {r.name for r in runs}, force)
    written = []
    for run in runs + ([holdout] if holdout else []):
        folder = out / (HOLDOUT_NAME if run is holdout else f"runs/{run.name}")
        folder.mkdir(parents=True, exist_ok=True)
        tiny_dense_config(run.hidden, vocab, seq_len).save_pretrained(folder)
        recipe = run_recipe(run, str(Path(_relative(manifest_path, folder))), seq_len, threads, mixture)
        (folder / "recipe.toml").write_text(to_toml(recipe, f"IsoFLOP sweep run {run.name}: C = {run.budget:.3g} "
                                                             f"FLOPs, M = {run.scale:.3g} FLOPs/token, D = "
                                                             f"{run.tokens:,} tokens (written by `axk1 plan sweep`)"))
        written.append({**vars(run), "folder": str(folder)})
    doc = {"budgets": sorted(budgets), "sizes": sizes, "spread": spread, "seq_len": seq_len,
           "batch_sequences": batch_sequences or "DeepSeek LLM's batch law per budget", "manifest": str(manifest_path),
           "runs": written[:len(runs)],
           "holdout": written[-1] if holdout else None, "corpus_tokens": total,
           "warnings": repeat_warnings(runs + ([holdout] if holdout else []), total)
           + short_run_warnings(runs + ([holdout] if holdout else []), seq_len)}
    (out / "sweep.json").write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def clear_old_runs(out: Path, names: set[str], force: bool) -> None:
    """A sweep written over an older one kept its metrics beside the new recipes (the fit then mixed old losses with
    new recipes, or said "let it finish"), and its run folders outside the new grid (runs/* picked them up). Refused
    unless `force`, which deletes the old run folders (those with a recipe.toml: the sweep's own) and the held-out
    run; nothing else in DIR is touched."""
    folders = [p for p in sorted((out / "runs").glob("*")) if (p / "recipe.toml").is_file()]
    folders += [out / HOLDOUT_NAME] if (out / HOLDOUT_NAME / "recipe.toml").is_file() else []
    trained = [str(p.relative_to(out)) for p in folders if (p / "metrics.jsonl").exists()]
    stale = [str(p.relative_to(out)) for p in folders if p.parent.name == "runs" and p.name not in names]
    if not (trained or stale):
        return
    if not force:
        problems = ([f"trained runs ({named(trained)})"] if trained else []) + (
            [f"run folders the new grid does not have ({named(stale)})"] if stale else [])
        raise ValueError(f"{out} holds {' and '.join(problems)}: new recipes there would sit beside old metrics and "
                         "runs the fit picks up; write the sweep to another -o folder, or pass --force to delete "
                         "its run folders and holdout first")
    for folder in folders:
        discard(folder)


def _relative(target: Path, folder: Path) -> str:
    """target relative to folder when both share a root (so a sweep folder can move), else absolute."""
    import os

    try:
        return os.path.relpath(target, folder.resolve())
    except ValueError:
        return str(target)
