"""The `axk1 train` recipe's checks that need no compute (axk1/train/recipe.py's `Recipe.validate`): ranges,
consistency between sections, files that must exist. Every error is found when the file is read, before any model
is built; the post-training recipes run these and add their own (posttrain/sft.py, posttrain/rl_recipe.py). What one
table decides alone is that table's `check()` (axk1/train/recipe_sections.py); what is here is between tables.
"""

from __future__ import annotations

from axk1.train.recipe_sections import RecipeSections
from axk1.train.schedules import check_schedule
from axk1.train.step_checks import check_step_shapes, check_warmup


def validate(r: RecipeSections) -> None:
    """Checks that need no compute: ranges, consistency, files that must exist. `r`: a Recipe (or a post-training
    recipe, which adds its own checks after these)."""
    r.model.check()
    if r.needs_stages and not r.stages:
        raise ValueError("the recipe has no [[stages]]: add at least one with name, tokens, seq_len and mixture")
    cfg = r.model.build_config()
    r.optimizer.check()
    check_schedule(r.schedule, len(r.stages) if r.needs_stages else 1)  # SFT and RL train one stage
    r.batch.check(r.needs_batch_size)
    r.moe.check()
    p = r.parallelism
    p.check()
    if p.cp > 1:
        if r.model.mtp_depth or r.moe.seq_aux_loss_alpha:
            raise ValueError(f"[parallelism] cp = {p.cp}: context parallelism runs without MTP and the sequence-wise "
                             "balance loss (each rank sees a part of a row): set [model] mtp_depth = 0 and [moe] "
                             "seq_aux_loss_alpha = 0")
        bad = [L for st in r.stages for L in st.lengths() if L % p.cp]
        if bad:
            raise ValueError(f"[parallelism] cp = {p.cp} must divide every stage's seq_len (not {sorted(set(bad))})")
    # where the experts go: ep splits the model's experts, within the shard axis (the launch's mesh check, here
    # when the file is read rather than after the weights load)
    if cfg.n_routed_experts % p.ep:
        raise ValueError(f"[parallelism] ep={p.ep} must divide the model's {cfg.n_routed_experts} routed experts")
    if p.dp_shard % p.ep:
        raise ValueError(f"[parallelism] ep={p.ep} must divide dp_shard={p.dp_shard} (experts are split within the "
                         "shard axis)")
    _check_stages(r, cfg.max_position_embeddings)
    for section in (r.validation, r.checkpointing, r.logging, r.run, r.data):
        section.check()
    if r.needs_stages:  # SFT checks its shapes after its own [sft] checks, RL its warmup (posttrain/)
        check_step_shapes(r)
        check_warmup(r.schedule.warmup_steps, r.total_steps(), "[schedule] total_steps" if r.schedule.total_steps
                     else "the stages' tokens over [batch]'s tokens a step")


def _check_stages(r: RecipeSections, max_position_embeddings: int) -> None:
    """Each stage's own check (its lengths within the model's included), then what it decides with the others: a
    name no earlier stage has, lengths [batch] fills, and YaRN extending from a length trained before it."""
    global_tokens = r.batch.global_tokens
    names = set()
    trained = 0  # the longest length the stages before this one train
    for i, st in enumerate(r.stages, 1):
        where = st.where(i)
        # before the stage's own check, as ever: a name equal to an earlier one is not blank (that one passed)
        if st.name in names:
            raise ValueError(f"{where}: duplicate stage name")
        names.add(st.name)
        st.check(i, max_position_embeddings)
        for L in st.lengths():
            if 0 < global_tokens < L:  # else a step takes one whole sequence: more tokens than asked, silently
                raise ValueError(f"{where}: [batch] global_tokens = {global_tokens:,} is less than one sequence of "
                                 f"seq_len {L:,}: set it to a multiple of {L:,} (tokens per step, in whole sequences) "
                                 "or set global_sequences instead")
        # YaRN stretches the positions a model has learned: the original length is one it was trained at. A first
        # stage of a continued pretraining (init_from) extends what the loaded model learned elsewhere.
        if st.rope_scaling is not None:
            original = st.rope_scaling["original_max_position_embeddings"]  # st.check read it: a positive int
            if original > trained and not (trained == 0 and r.model.init_from):
                before = (f"the stages before it train at most {trained:,} tokens" if trained else
                          "no stage before it trains the model (and no [model] init_from loads one)")
                raise ValueError(f"{where}: rope_scaling extends from original_max_position_embeddings={original:,}, "
                                 f"but {before}: the original length is the length trained so far (docs/training.md, "
                                 "\"Context extension\"). Train that length with plain RoPE in an earlier stage, or "
                                 "extend from the length trained; to serve past the last trained length, export with "
                                 "`axk1 export --yarn FACTOR` instead")
        trained = max(trained, *st.lengths())
