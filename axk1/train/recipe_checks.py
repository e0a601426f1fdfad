"""The `axk1 train` recipe's checks that need no compute (axk1/train/recipe.py's `Recipe.validate`): ranges,
consistency between sections, files that must exist. Every error is found when the file is read, before any model
is built; the post-training recipes run these and add their own (posttrain/sft.py, posttrain/rl_recipe.py).
"""

from __future__ import annotations

import math
from pathlib import Path

from axk1.cli_args import threads_problem
from axk1.config import model_config_file
from axk1.rope_scaling import normalise_rope_scaling
from axk1.parallel.activation_checkpoint import normalize_mode
from axk1.parallel.distributed import timeout_problem
from axk1.train.recipe_sections import RecipeSections
from axk1.train.schedules import check_schedule
from axk1.train.step_checks import check_step_shapes, check_warmup


def _check_model_folder(folder: Path) -> None:
    """[model] init_from must be a model folder with config.json and safetensors weights (tensor names and shapes
    are checked against the model when it is loaded)."""
    from axk1.checkpoint.hf import weight_files  # imports the model (torch): only when a recipe asks for it

    model_config_file(folder, role="[model] init_from")
    try:
        weight_files(folder)
    except (FileNotFoundError, ValueError) as e:  # no weights; weights two loaders read differently
        raise type(e)(f"[model] init_from: {e}") from e


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


def validate(r: RecipeSections) -> None:
    """Checks that need no compute: ranges, consistency, files that must exist. `r`: a Recipe (or a post-training
    recipe, which adds its own checks after these)."""
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
    check_schedule(r.schedule, len(r.stages) if r.needs_stages else 1)  # SFT and RL train one stage
    b = r.batch
    for key in ("global_tokens", "global_sequences"):  # -1 passed as "set", and a step took one sequence
        if getattr(b, key) < 0:
            raise ValueError(f"[batch] {key} = {getattr(b, key)} is negative: set it > 0, or 0 to leave it unset")
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
    if p.precision not in ("fp32", "bf16"):  # a mode, not a dtype: "bf16" is FSDP2 bf16 compute or autocast
        mode = {"float32": "fp32", "bfloat16": "bf16"}.get(p.precision)
        raise ValueError(f"[parallelism] precision {p.precision!r} unknown; use \"fp32\" or \"bf16\" (how training "
                         "computes, not a dtype name" + (f": did you mean \"{mode}\"?)" if mode else ")"))
    if cfg.n_routed_experts % p.ep:
        raise ValueError(f"[parallelism] ep={p.ep} must divide the model's {cfg.n_routed_experts} routed experts")
    if p.dp_shard % p.ep:  # the launch's mesh check, here when the file is read rather than after the weights load
        raise ValueError(f"[parallelism] ep={p.ep} must divide dp_shard={p.dp_shard} (experts are split within the "
                         "shard axis)")
    names = set()
    trained = 0  # the longest length the stages before this one train
    for i, st in enumerate(r.stages, 1):
        where = f"[[stages]] #{i} ({st.name})"
        if not st.name.strip():  # tables, plots and metrics rows name stages by it: a blank one showed as nothing
            raise ValueError(f"[[stages]] #{i}: name is empty: give each stage a name, e.g. name = \"main\"")
        if st.name in names:
            raise ValueError(f"{where}: duplicate stage name")
        names.add(st.name)
        if st.tokens <= 0:
            raise ValueError(f"{where}: tokens must be > 0")
        for L in st.lengths():
            if not 2 <= L <= cfg.max_position_embeddings:
                raise ValueError(f"{where}: seq_len {L} outside 2..max_position_embeddings={cfg.max_position_embeddings}")
            if 0 < b.global_tokens < L:  # else a step takes one whole sequence: more tokens than asked, silently
                raise ValueError(f"{where}: [batch] global_tokens = {b.global_tokens:,} is less than one sequence of "
                                 f"seq_len {L:,}: set it to a multiple of {L:,} (tokens per step, in whole sequences) "
                                 "or set global_sequences instead")
        if st.seq_len_schedule and st.seq_len_schedule[-1] != st.seq_len:
            raise ValueError(f"{where}: seq_len must equal the last entry of seq_len_schedule")
        _check_mixture(where, st.mixture)
        if st.rope_scaling is not None:
            try:
                yarn = normalise_rope_scaling(st.rope_scaling)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{where}: rope_scaling: {e}") from None
            original = yarn["original_max_position_embeddings"]
            if yarn["factor"] < 1 or original > max(st.lengths()):
                raise ValueError(f"{where}: rope_scaling extends from original_max_position_embeddings="
                                 f"{original} by factor {yarn['factor']}: the factor "
                                 "must be >= 1 and the original length at most the stage's seq_len (the stage trains "
                                 "at the longer length)")
            # YaRN stretches the positions a model has learned: the original length is one it was trained at. A
            # first stage of a continued pretraining (init_from) extends what the loaded model learned elsewhere.
            if original > trained and not (trained == 0 and r.model.init_from):
                before = (f"the stages before it train at most {trained:,} tokens" if trained else
                          "no stage before it trains the model (and no [model] init_from loads one)")
                raise ValueError(f"{where}: rope_scaling extends from original_max_position_embeddings={original:,}, "
                                 f"but {before}: the original length is the length trained so far (docs/training.md, "
                                 "\"Context extension\"). Train that length with plain RoPE in an earlier stage, or "
                                 "extend from the length trained; to serve past the last trained length, export with "
                                 "`axk1 export --yarn FACTOR` instead")
        trained = max(trained, *st.lengths())
    v = r.validation
    if not 0 <= v.held_out < 0.5 or v.every_steps < 1 or v.sequences < 1:
        raise ValueError("[validation] needs 0 <= held_out < 0.5, every_steps >= 1 and sequences >= 1")
    c = r.checkpointing
    if c.interval_steps <= 0 or c.keep_latest <= 0:
        raise ValueError("[checkpointing] interval_steps and keep_latest must be >= 1")
    if r.logging.every_steps <= 0 or r.logging.peak_tflops < 0:
        raise ValueError("[logging] every_steps must be >= 1 and peak_tflops >= 0")
    if problem := threads_problem(r.run.threads, "[run] threads"):
        raise ValueError(problem)
    if r.run.max_steps < 0 or r.run.max_bad_steps < 1 or r.run.spike_zscore < 0:
        raise ValueError("[run] needs max_steps >= 0, max_bad_steps >= 1, spike_zscore >= 0")
    if problem := timeout_problem(r.run.collective_timeout_s, "[run] collective_timeout_s"):
        raise ValueError(problem)
    for name, seed in (("[data] seed", r.data.seed), ("[run] seed", r.run.seed)):
        if seed is None:  # [run] seed unset: [data] seed's
            continue
        if seed < 0:  # numpy's generators take non-negative seeds only (a run's draws are keyed by it)
            raise ValueError(f"{name} must be >= 0, got {seed}")
        if seed >= 2**63:  # torch.manual_seed takes 64 bits: a larger one was "Overflow when unpacking long long"
            raise ValueError(f"{name} must be below 2**63 = {2**63}, got {seed}")
    if r.needs_stages:  # SFT checks its shapes after its own [sft] checks, RL its warmup (posttrain/)
        check_step_shapes(r)
        check_warmup(r.schedule.warmup_steps, r.total_steps(), "[schedule] total_steps" if r.schedule.total_steps
                     else "the stages' tokens over [batch]'s tokens a step")
