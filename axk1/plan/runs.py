"""A trained run as a scaling-law point (M, D, L): its recipe gives the model and the sequence length, its metrics
JSONL (the trainer's, axk1/train/metrics.py) the tokens trained on and the last held-out validation loss
(axk1/train/validation.py)."""

from __future__ import annotations

import math
from pathlib import Path

from axk1.flops import non_embedding_flops_per_token
from axk1.json_text import read_json_file, read_metrics_rows
from axk1.plan.fit import RunPoint
from axk1.train.recipe import load_recipe


class SparseRun(ValueError):
    """A run whose model has MoE layers: fit_runs gathers them to name every one at once."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


SPARSE_WHY = ("the fit is of dense runs: `axk1 plan` puts MoE on top of the fitted law through its efficiency leverage "
              "law (docs/planning.md), so a MoE run's lower loss fitted with the dense ones would count that leverage "
              "twice (4 MoE runs among 20 moved E from 1.5 to 0.009 without a word)")


def _refuse_sparse(name: str, config) -> None:
    """A sweep's runs are dense (axk1/plan/sweep.py): a run with a sparse layer measures another law."""
    sparse = [i for i in range(config.num_hidden_layers) if config.is_moe_layer(i)]
    if sparse:
        raise SparseRun(name, f"{name}: its model has MoE layers ({len(sparse)} of {config.num_hidden_layers} "
                              f"sparse: first_k_dense_replace {config.first_k_dense_replace}): {SPARSE_WHY}; leave it "
                              "out of the fit, or train it dense (first_k_dense_replace = num_hidden_layers, as "
                              "`axk1 plan sweep` writes)")


def read_run(folder: str | Path) -> RunPoint:
    folder = Path(folder)
    recipe_path = folder / "recipe.toml" if folder.is_dir() else folder
    if not recipe_path.exists():
        raise ValueError(f"{folder} is not a run folder (no recipe.toml): give the folders `axk1 plan sweep` wrote")
    recipe = load_recipe(recipe_path)
    config = recipe.model.build_config()
    _refuse_sparse(recipe_path.parent.name, config)
    seq_len = max(n for stage in recipe.stages for n in stage.lengths())
    metrics = Path(recipe.logging.jsonl)
    if not metrics.exists():
        raise ValueError(f"{recipe_path.parent.name}: no metrics at {metrics}: train it first (axk1 train "
                         f"{recipe_path})")
    try:
        rows = read_metrics_rows(metrics)
    except ValueError as e:  # a line that is not JSON: name the file, not just the parser's complaint
        raise ValueError(f"{recipe_path.parent.name}: {metrics} is not valid JSON lines ({e}): the run's metrics are "
                         "damaged; train it again") from None
    val = [r for r in rows if "val_loss" in r]
    last_step = max((r["step"] for r in rows if isinstance(r.get("step"), int)), default=0)
    if last_step < recipe.total_steps() and not val:  # the trainer stopped it (bad steps) or it was cut short
        raise ValueError(f"{recipe_path.parent.name}: it stopped at step {last_step} of {recipe.total_steps()} "
                         "(diverged, or cut short: see its metrics): train it again with a lower learning rate, or "
                         "leave it out of the fit")
    if not val:
        raise ValueError(f"{recipe_path.parent.name}: its metrics hold no validation loss: the fit needs held-out "
                         "losses ([validation] held_out > 0 in the recipe, as `axk1 plan sweep` writes)")
    for r in rows:  # a row without a numeric step, or with tokens that are no number, was a KeyError / TypeError
        bad = [k for k in ("step", *(("tokens",) if "tokens" in r else ())) if isinstance(r.get(k), bool)
               or not isinstance(r.get(k), (int, float)) or (isinstance(r[k], float) and not math.isfinite(r[k]))]
        if bad:  # NaN or Infinity too: max() over the rows skipped a NaN, and an infinite count reached the fit
            raise ValueError(f"{recipe_path.parent.name}: a row of {metrics} has no finite number as "
                             f"{' or '.join(bad)} "
                             f"({str(r)[:120]}): the run's metrics are damaged; train it again")
    last = max(val, key=lambda r: r["step"])
    if not any("tokens" in r for r in rows):  # was "the last validation loss is not at the run's last step"
        raise ValueError(f"{recipe_path.parent.name}: the rows of {metrics} have no `tokens` field, so the tokens it "
                         "trained on are unknown: the metrics were not written by `axk1 train` (or were edited); "
                         "train it again")
    tokens = max(r.get("tokens", 0) for r in rows)
    if last["step"] < max(r["step"] for r in rows) or tokens <= 0:
        raise ValueError(f"{recipe_path.parent.name}: the last validation loss is not at the run's last step: let "
                         "the run finish (validation runs at the end of every stage)")
    planned = sum(n * seqs * length for stage, parts in zip(recipe.stages, recipe.stage_steps())
                  for (n, seqs), length in zip(parts, stage.lengths()))
    if tokens < planned * 0.999:  # a run cut short (max_steps) is another point than the one its recipe plans
        raise ValueError(f"{recipe_path.parent.name}: it trained {tokens:,.0f} of its recipe's {planned:,} tokens: "
                         "let it finish (its learning rate schedule ends with the recipe), or leave it out of the fit")
    if not tokens <= planned * 1.001:  # NaN too; `axk1 train` stops at the recipe's tokens, never past them
        raise ValueError(f"{recipe_path.parent.name}: its metrics say it trained {_count(tokens)} tokens, more than "
                         f"its recipe's {planned:,}: the metrics are damaged or belong to another recipe; train it "
                         "again, or leave it out of the fit")
    loss = last["val_loss"]
    if isinstance(loss, bool) or not isinstance(loss, (int, float)) or not (math.isfinite(loss) and loss > 0):
        raise ValueError(f"{recipe_path.parent.name}: its last validation loss (step {last['step']}, {metrics}) is "
                         f"{loss!r}, not a positive finite number: the run diverged or its metrics are damaged; "
                         "train it again (lower the learning rate if it diverges) or leave it out of the fit")
    chance = math.log(config.vocab_size)
    if loss >= chance:  # a diverged run that finished: kept, it moved approach 2's exponent from 0.305 to 0.637
        raise ValueError(f"{recipe_path.parent.name}: its last validation loss {loss:.4g} is at or above "
                         f"ln({config.vocab_size}) = {chance:.4g}, what a uniform guess over the vocabulary scores: "
                         "the run diverged or never learned; train it again with a lower learning rate, or leave it "
                         "out of the fit")
    setting = (f"seq_len {seq_len}, vocabulary {config.vocab_size}, {_data_setting(recipe)}, "
               f"{_mixture_setting(recipe)}")
    return RunPoint(recipe_path.parent.name, non_embedding_flops_per_token(config, seq_len), float(tokens),
                    float(loss), setting)


def _count(tokens: float) -> str:
    """A token count for a message, whatever a damaged file holds (an int of 400 digits, inf, NaN)."""
    try:
        return f"{tokens:,.0f}"
    except (OverflowError, ValueError):
        return str(tokens)[:40]


def _data_setting(recipe) -> str:
    """The data a run's loss is measured on: its manifest and the tokenizer the manifest names. Runs on another
    corpus or tokenizer with the same length and vocabulary size (a loss of 1.95 on Korean web text beside 1.83 on
    Python source) were fitted as one law."""
    manifest = Path(recipe.data.manifest).resolve()
    try:
        raw = read_json_file(manifest, "")
    except (OSError, ValueError):
        raw = None  # gone or unreadable: its path still tells it from the others
    fields = raw if isinstance(raw, dict) else {}
    tokenizer = fields.get("tokenizer_hash") or fields.get("tokenizer") or "not recorded"
    return f"data {manifest}, tokenizer {tokenizer}"


def _mixture_setting(recipe) -> str:
    """What the validation loss is drawn from besides the corpus: each stage's mixture (normalised: {code = 2} is
    {code = 1}) and the held-out share and rows. The validation rows follow the current stage's mixture
    (axk1/train/validation.py), so a run on {code = 0.3, web = 0.7} scores other text than one on {code = 1}, and
    held_out 0.2 of 4 rows other rows than 0.02 of 128: both were fitted as one law with the rest."""
    stages = []
    for stage in recipe.stages:
        total = sum(stage.mixture.values())
        stages.append(" ".join(f"{domain} {weight / total:.4g}" for domain, weight in sorted(stage.mixture.items())
                               if weight > 0))
    v = recipe.validation
    return f"mixture {' | '.join(stages)}, validation held_out {v.held_out:g} x {v.sequences} rows"
