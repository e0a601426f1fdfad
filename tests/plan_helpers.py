"""Shared by the planning tests: IsoFLOP runs drawn from a known law, a law file fitted on them, a small sweep and a
run folder as a sweep leaves it."""

import dataclasses
import functools
import json

import numpy as np

from axk1.plan.fit import RunPoint, bootstrap, fit_parametric
from axk1.plan.law_file import LawFile

TRUTH = dict(E=1.70, A=300.0, alpha=0.32, B=900.0, beta=0.29)


def synthetic_runs(noise: float = 0.0, seed: int = 0, budgets=(1e11, 1e12, 1e13)) -> list[RunPoint]:
    """An IsoFLOP grid whose losses come from TRUTH (times 1 + Gaussian noise)."""
    rng = np.random.default_rng(seed)
    e, a, alpha, b, beta = TRUTH.values()
    points = []
    for c in budgets:
        for f in (0.2, 0.5, 1.0, 2.0, 5.0):
            m = 1e5 * (c / 1e11) ** 0.5 * f
            d = c / m
            loss = (e + a / m ** alpha + b / d ** beta) * (1 + rng.normal(0, noise))
            points.append(RunPoint(f"c{c:.0e}-{f}", m, d, loss))
    return points


@functools.lru_cache(maxsize=1)
def fitted_law() -> tuple:
    """One fit and its 20 bootstrap refits (a second each), shared by the law-file tests."""
    points = synthetic_runs(noise=0.002, seed=3)
    return points, fit_parametric(points), bootstrap(points, samples=20)[0]


def make_law_file(tmp_path) -> LawFile:
    """A law file from fitted_law()'s fit, its bootstrap samples and runs."""
    points, law, params = fitted_law()
    return LawFile(dataclasses.replace(law, name="mine", samples=tuple(p.terms for p in params)), 0.5, 0.1,
                   runs=[dict(vars(p)) for p in points])


SMALL = dict(budgets=(2e8, 6e8), sizes=3, seq_len=32, batch_sequences=4)  # one or two steps a run


def fake_run(tmp_path, name, val_loss, sparse=False):
    """A run folder as read_run reads it: a recipe and its metrics, the last row with a validation loss. Its model is
    axk1-tiny made dense (all 3 layers), as a sweep's runs are (`sparse`: left as the MoE preset it is)."""
    from tests.train_helpers import write_recipe

    folder = tmp_path / name
    folder.mkdir()
    dense = {} if sparse else {"model": "overrides = { first_k_dense_replace = 3 }"}
    write_recipe(folder, sections=dense).rename(folder / "recipe.toml")
    (folder / "run").mkdir()
    tokens = 2 * 8 * 32 * 6  # the recipe's two stages, whole: a run cut short is refused (test below)
    (folder / "run" / "metrics.jsonl").write_text(json.dumps({"step": 1, "tokens": tokens, "loss": 5.0}) + "\n"
                                                  + f'{{"step": 1, "tokens": {tokens}, "val_loss": {val_loss}}}\n')
    return folder
