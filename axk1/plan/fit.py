"""Fitting a scaling law to the user's own runs: Chinchilla's approaches 2 and 3 (Hoffmann et al. 2022, §3.2-3.3),
with bootstrap intervals.

A run is a point (M, D, L): M the non-embedding training FLOPs per token (DeepSeek LLM's model scale, the one the
planner's default law uses, axk1.flops.non_embedding_flops_per_token), D the tokens it trained on and L its held-out
validation loss at the end. C = M D.

* Approach 2 (IsoFLOP minima): runs of one budget are grouped; a parabola in log M through each group's losses gives
  that budget's best M; a line through (log C, log M_opt) gives M_opt = k C^a.
* Approach 3 (parametric): L = E + A / M^alpha + B / D^beta, fitted as Chinchilla did: a Huber loss (delta 1e-3)
  on the residuals of log L, so a run far off the law (a size that trained badly) pulls the fit less than squared
  error would let it. For fixed exponents the law is linear in (E, A, B), so the exponents are found on a grid
  (then a finer grid around the best) and (E, A, B) by iteratively reweighted least squares; deterministic and
  numpy-only (no scipy in the project).
* Bootstrap: runs resampled with replacement and refitted; the spread of the refits gives the intervals and the
  prediction band (law_file.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from axk1.plan.scaling import FIT_SOURCE, LossSurface

COARSE = np.arange(0.05, 1.5001, 0.025)   # exponents tried first (alpha and beta)
FINE_HALF_WIDTH, FINE_STEP = 0.03, 0.0025  # then around the best pair
BUDGET_GAP_DECADES = 0.15                  # runs whose C differ by less belong to one IsoFLOP group
HUBER_DELTA = 1e-3  # Chinchilla's approach 3: a Huber loss on log-loss residuals with delta 1e-3 (robust to outliers)
IRLS_ROUNDS = 8
# Approach 3 fits the runs within this fraction of their budget's best loss (the frontier). Runs far from their
# budget's optimum are ruled by what the law leaves out — a large model given too few optimizer steps, a small one at
# its capacity floor — and on this machine's sweeps they bent the fitted law so that it overpredicted larger runs by
# ~5% (benchmarks/RESULTS.md, "Scaling law from this machine's runs"); the planner needs the law near the frontier,
# where its optimum lies. Approach 2 keeps every run: its parabolas need the sizes on both sides.
FRONTIER_TOLERANCE = 0.10
# Approach 2 keeps the runs beyond the frontier (its parabolas need sizes on both sides: on this machine's sweep the
# frontier left one budget two sizes), but not one this far above its budget's best: a parabola in log M does not
# describe a run that broke (a diverged run at 4.7x the best moved the exponent from 0.305 to 0.637)
ISOFLOP_OUTLIER = 0.5
MIN_SIZES = 3  # distinct model sizes approach 3 needs to tell A/M^alpha from E
# A run whose loss is below its budget's other runs' median by more than this factor is refused, not fitted: at one
# compute budget no model size trains that much better than its neighbours, so it is a logging mistake (a loss in
# other units, another metric, validation data seen in training). One at 0.01 among ~3 became the budget's "best",
# the 4 genuine runs were dropped as broken, and the law (rmse of log L 5.2) predicted a loss of 0.0000.
FAR_BELOW = 1 + ISOFLOP_OUTLIER
# The most rmse of log L a law file is written with: this machine's sweep fits to 0.044 (benchmarks/RESULTS.md);
# 0.2 is a typical misfit of 22%, several times the loss differences the planner ranks candidates by
MAX_RMSE_LOG = 0.2
# The two approaches estimate one thing, the exponent a of M_opt ~ C^a; on clean runs they agree to ~0.002. Noisy
# runs (5% noise) gave 0.097 against 0.475 with nothing said, and the plan made from the law shrank 3.6x: past this
# absolute difference the fit says so (both numbers, and what makes them agree)
MAX_EXPONENT_GAP = 0.1


@dataclass(frozen=True)
class RunPoint:
    name: str
    scale: float   # M, non-embedding FLOPs per token
    tokens: float  # D
    loss: float    # held-out validation loss (nats per token)
    setting: str = ""  # what its loss is measured in (sequence length, vocabulary): runs of one fit share it

    @property
    def flops(self) -> float:
        return self.scale * self.tokens


@dataclass(frozen=True)
class IsoFlop:
    exponent: float      # a in M_opt = k C^a
    coefficient: float   # k
    minima: list[tuple[float, float, float]]  # (C, M_opt, L_min) per budget group
    left_out: tuple[str, ...] = ()  # runs more than ISOFLOP_OUTLIER above their budget's best


def _check(points: list[RunPoint], need: int) -> None:
    if len(points) < need:
        raise ValueError(f"a scaling-law fit needs at least {need} runs with a validation loss, got {len(points)}: "
                         "run more of the sweep's recipes (axk1 plan sweep writes them)")
    for p in points:
        if not (p.scale > 0 and p.tokens > 0 and p.loss > 0 and math.isfinite(p.loss)):
            raise ValueError(f"run {p.name}: M, D and the validation loss must be positive and finite, got "
                             f"M={p.scale}, D={p.tokens}, L={p.loss}")


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r ** 2, delta * (a - 0.5 * delta))


def _solve_linear(points: list[RunPoint], alphas: np.ndarray, betas: np.ndarray,
                  delta: float = HUBER_DELTA) -> tuple[np.ndarray, np.ndarray]:
    """For every (alpha, beta) pair: (E, A, B) minimising the Huber loss of the log-loss residuals, by iteratively
    reweighted least squares (a run whose residual exceeds delta weighs delta/|r|), and that loss. Pairs whose E, A
    or B come out negative are given an infinite loss (the law's terms are all non-negative)."""
    m = np.array([p.scale for p in points])
    d = np.array([p.tokens for p in points])
    y = np.array([p.loss for p in points])
    x_a = m[None, :] ** -alphas[:, None]
    x_b = d[None, :] ** -betas[:, None]
    base = np.stack([np.ones_like(x_a), x_a, x_b], axis=-1)  # pairs x points x 3
    robust = np.ones_like(x_a)
    for _ in range(IRLS_ROUNDS):
        w = robust / y[None, :]  # relative error: residual / L ~ the error of log L
        X = base * w[..., None]
        XtX = np.einsum("kpi,kpj->kij", X, X) + 1e-12 * np.eye(3)
        Xty = np.einsum("kpi,kp->ki", X, y[None, :] * w)
        coef = np.linalg.solve(XtX, Xty[..., None])[..., 0]
        pred = coef[:, 0:1] + coef[:, 1:2] * x_a + coef[:, 2:3] * x_b
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.log(np.clip(pred, 1e-12, None)) - np.log(y)[None, :]
        robust = np.sqrt(np.minimum(1.0, delta / np.maximum(np.abs(r), 1e-12)))
    err = np.mean(_huber(r, delta), axis=1)
    err[(coef < 0).any(axis=1) | ~np.isfinite(err)] = np.inf
    return coef, err


def fit_parametric(points: list[RunPoint]) -> LossSurface:
    """Approach 3: L = E + A/M^alpha + B/D^beta by a coarse-then-fine grid over the exponents, in DeepSeek LLM's
    units (flops_per_unit 1), with its rmse_log over `points`."""
    _check(points, 5)
    if len(budget_groups(points)) < 2:  # at one budget D = C/M: size and tokens move together, the law is not pinned
        raise ValueError("approach 3 needs runs at two or more compute budgets: at one budget the tokens are C/M, so "
                         "model size and tokens move together and A, alpha, B, beta cannot be told apart (a fit "
                         "there reported intervals of zero width); run the sweep's other budgets")
    sizes = sorted({p.scale for p in points})
    if len(sizes) < MIN_SIZES:  # one size: A/M^alpha is a constant that E absorbs; two: any alpha joins them
        raise ValueError(f"approach 3 needs runs of at least {MIN_SIZES} model sizes, got {len(sizes)} (M = "
                         f"{', '.join(f'{m:.3g}' for m in sizes)}) among {len(points)} runs: the law's size term "
                         "cannot be told from its constant, and the fit would print confident numbers for it; train "
                         "the sweep's other sizes (axk1 plan sweep writes 5 a budget)")
    losses = [p.loss for p in points]
    if (max(losses) - min(losses)) / min(losses) < 1e-3:  # a fit through these is confident and meaningless
        raise ValueError(f"the runs' losses do not change with model size or tokens ({min(losses):.4f} to "
                         f"{max(losses):.4f}): there is no law to fit; check that the runs trained (a learning rate "
                         "of 0, a frozen model, one run's metrics copied to all)")
    pairs = np.array([(a, b) for a in COARSE for b in COARSE])
    try:
        coef, err = _solve_linear(points, pairs[:, 0], pairs[:, 1])
    except np.linalg.LinAlgError:  # numpy's bare "Singular matrix": weights 1/L of 1e9 for a loss of 1e-9
        low = sorted(points, key=lambda p: p.loss)[:3]
        raise ValueError("the law's least squares are singular for these runs' losses (the lowest: " + ", ".join(
            f"{p.name} at {p.loss:.3g}" for p in low) + "): check their val_loss, which the fit weighs by 1/L, for a "
            "value logged in other units or by mistake, and fit without it") from None
    i = int(np.argmin(err))
    if not np.isfinite(err[i]):
        raise ValueError("no law with non-negative E, A and B fits these runs: the losses do not fall with model size "
                         "and tokens as a power law (check that the runs finished and trained long enough)")
    a0, b0 = pairs[i]
    fine = np.arange(-FINE_HALF_WIDTH, FINE_HALF_WIDTH + 1e-9, FINE_STEP)
    pairs = np.array([(a0 + x, b0 + y) for x in fine for y in fine if a0 + x > 0 and b0 + y > 0])
    coef, err = _solve_linear(points, pairs[:, 0], pairs[:, 1])
    j = int(np.argmin(err))
    law = LossSurface("fit", float(coef[j, 0]), float(coef[j, 1]), float(pairs[j, 0]), float(coef[j, 2]),
                      float(pairs[j, 1]), 1.0, FIT_SOURCE)
    # numpy's power (arrays), as the fit's own predictions: Python's ** differs from it in the last bit now and then
    predicted = law.loss(np.array([p.scale for p in points]), np.array([p.tokens for p in points]))
    residuals = [math.log(float(q) / p.loss) for q, p in zip(predicted, points)]
    return replace(law, rmse_log=math.sqrt(sum(r * r for r in residuals) / len(residuals)))


def far_below(points: list[RunPoint]) -> list[tuple[RunPoint, float]]:
    """(run, the median loss of its budget's other runs) for each run more than FAR_BELOW below that median;
    a budget needs two other runs to judge one."""
    out = []
    for group in budget_groups(points):
        for p in group:
            others = [q.loss for q in group if q is not p]
            median = float(np.median(others)) if len(others) >= 2 else math.nan
            if p.loss * FAR_BELOW < median:
                out.append((p, median))
    return out


def worst_runs(law: LossSurface, points: list[RunPoint], n: int = 3) -> list[tuple[RunPoint, float]]:
    """(run, the law's prediction for it) for the `n` runs the law misses most in log L."""
    predicted = [float(q) for q in law.loss(np.array([p.scale for p in points]), np.array([p.tokens for p in points]))]
    pairs = sorted(zip(points, predicted), key=lambda x: -abs(math.log(max(x[1], 1e-300) / x[0].loss)))
    return pairs[:n]


def budget_groups(points: list[RunPoint]) -> list[list[RunPoint]]:
    """Runs grouped by compute: sorted by log C, a new group wherever the gap exceeds BUDGET_GAP_DECADES."""
    ordered = sorted(points, key=lambda p: p.flops)
    groups: list[list[RunPoint]] = []
    for p in ordered:
        if groups and math.log10(p.flops) - math.log10(groups[-1][-1].flops) <= BUDGET_GAP_DECADES:
            groups[-1].append(p)
        else:
            groups.append([p])
    return groups


def frontier(points: list[RunPoint], tolerance: float = FRONTIER_TOLERANCE) -> tuple[list[RunPoint], list[RunPoint]]:
    """(kept, left out): per budget group, the runs whose loss is within `tolerance` of the group's best."""
    if not tolerance > 0:
        raise ValueError(f"the frontier tolerance must be positive (a fraction of the best loss), got {tolerance}")
    kept, out = [], []
    for group in budget_groups(points):
        best = min(p.loss for p in group)
        for p in group:
            (kept if p.loss <= best * (1 + tolerance) else out).append(p)
    return kept, out


def isoflop_minimum(group: list[RunPoint]) -> tuple[float, float, float] | None:
    """(C, M_opt, L_min) from a parabola in log M through one budget's runs; None when the group has fewer than 3
    sizes, its parabola opens downwards, or its minimum lies outside the sizes run (they do not bracket it)."""
    sizes = {p.scale for p in group}
    if len(sizes) < 3:
        return None
    x = np.log([p.scale for p in group])
    y = np.array([p.loss for p in group])
    c2, c1, c0 = np.polyfit(x, y, 2)
    if c2 <= 0:
        return None
    x_min = -c1 / (2 * c2)
    if not x.min() <= x_min <= x.max():  # the sizes do not bracket it: an extrapolated minimum is not a measurement
        return None
    flops = float(np.exp(np.mean(np.log([p.flops for p in group]))))
    return flops, float(np.exp(x_min)), float(c0 + c1 * x_min + c2 * x_min ** 2)


def fit_isoflop(points: list[RunPoint]) -> IsoFlop:
    """Approach 2: M_opt = k C^a through the IsoFLOP minima (needs two budgets with a minimum each)."""
    _check(points, 6)
    groups = budget_groups(points)
    kept = [[p for p in g if p.loss <= min(q.loss for q in g) * (1 + ISOFLOP_OUTLIER)] for g in groups]
    left_out = tuple(p.name for g, k in zip(groups, kept) for p in g if p not in k)
    minima = [m for m in (isoflop_minimum(g) for g in kept) if m is not None]
    if len(minima) < 2:
        raise ValueError(f"approach 2 needs at least two compute budgets whose sizes bracket a minimum (3+ sizes "
                         f"each, loss lowest in the middle); found {len(minima)}: widen the sweep's sizes")
    a, log_k = np.polyfit(np.log([m[0] for m in minima]), np.log([m[1] for m in minima]), 1)
    return IsoFlop(float(a), float(math.exp(log_k)), minima, left_out)


def exponent_disagreement(law: LossSurface, iso: IsoFlop | None) -> str | None:
    """A warning when approach 3's and approach 2's exponents of M_opt ~ C^a differ by more than MAX_EXPONENT_GAP;
    None when they agree or approach 2 gave none."""
    if iso is None or abs(law.model_exponent - iso.exponent) <= MAX_EXPONENT_GAP:
        return None
    return (f"the two approaches disagree on how the optimal model size grows: approach 3 gives M_opt ~ "
            f"C^{law.model_exponent:.3f}, approach 2 C^{iso.exponent:.3f} (more than {MAX_EXPONENT_GAP:g} apart), "
            "so the runs do not pin the law and a plan made from it (approach 3's law) may be far off"
            "; run more sizes per budget, repeat noisy runs, or add budgets further apart, and fit again")


def bootstrap(points: list[RunPoint], samples: int = 200, seed: int = 0,
              parametric_points: list[RunPoint] | None = None) -> tuple[list[LossSurface], list[IsoFlop]]:
    """Refits on runs resampled with replacement (a resample that cannot be fitted is skipped). Approach 3 resamples
    `parametric_points` (default: all the runs; the frontier in `axk1 plan fit`); approach 2 resamples within each
    budget group, so every resample keeps the budgets it was designed with."""
    rng = np.random.default_rng(seed)
    groups = budget_groups(points)
    near = points if parametric_points is None else parametric_points
    params: list[LossSurface] = []
    isos: list[IsoFlop] = []
    for _ in range(samples):
        pick = [near[i] for i in rng.integers(0, len(near), len(near))]
        if len({(p.scale, p.tokens) for p in pick}) >= 5:
            try:
                params.append(fit_parametric(pick))
            except ValueError:
                pass
        regroup = [p for g in groups for p in (g[i] for i in rng.integers(0, len(g), len(g)))]
        try:
            isos.append(fit_isoflop(regroup))
        except ValueError:
            pass
    return params, isos


def interval(values: list[float], level: float = 0.90) -> tuple[float, float]:
    """The central `level` interval of bootstrap values (5%-95% by default)."""
    if not values:
        return math.nan, math.nan
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
