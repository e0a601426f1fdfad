"""The longest sequence length a checkpoint has trained at, from its train_state.json: what `axk1 export --yarn`
extends from (YaRN stretches the positions a model has learned; max_position_embeddings only bounds a stage's
seq_len, and a recipe may train far shorter).

The run definition saved with every checkpoint (train/resume.py) holds the [[stages]] and [batch] that fix the
trainer's plan (train/data.py StageSampler: each stage's lengths in turn, so many steps each); the state's step says
how far along it the checkpoint is. A length counts once a step of it has been trained."""

from __future__ import annotations

from axk1.train.recipe import Recipe
from axk1.train.recipe_sections import BatchConfig, StageConfig


def trained_length(saved: dict) -> tuple[int | None, str]:
    """(the longest seq_len the checkpoint's stages trained, "") or (None, why it cannot be told)."""
    run = saved.get("run")
    if saved.get("init_from"):
        return None, (f"it continued the model in {saved['init_from']} ([model] init_from), whose trained length "
                      "its train_state.json does not record")
    stages = run.get("stages") if isinstance(run, dict) else None
    if not stages:
        return None, "its train_state.json records no [[stages]] lengths (a post-training or older checkpoint)"
    try:
        recipe = Recipe(stages=[StageConfig(**s) for s in stages],
                        batch=BatchConfig(global_tokens=run["batch.global_tokens"],
                                          global_sequences=run["batch.global_sequences"]))
        step = saved["state"]["step"]
        if not isinstance(step, int):
            raise TypeError(f"step is {step!r}")
        plan = [(n, length) for stage, parts in zip(recipe.stages, recipe.stage_steps())
                for (n, _), length in zip(parts, stage.lengths())]
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
        return None, f"its train_state.json's stages, batch size or step are unreadable ({type(e).__name__}: {e})"
    longest, first = 0, 0
    for n, length in plan:
        if first < step:  # a step of this length trained (past the plan's end the trainer stays in its last part)
            longest = max(longest, length)
        first += n
    if not longest:
        return None, f"it is at step {step}, before any training step"
    return longest, ""
