"""`axk1 plan fit`: runs -> both fits with bootstrap intervals -> a law file, a summary, a check on a held-out run
and the fit plot."""

from __future__ import annotations

import math
import os
from pathlib import Path

from dataclasses import replace

from axk1.plan.fit import (FAR_BELOW, FRONTIER_TOLERANCE, ISOFLOP_OUTLIER, MAX_RMSE_LOG, IsoFlop, RunPoint, bootstrap,
                           budget_groups, exponent_disagreement, far_below, fit_isoflop, fit_parametric, frontier,
                           interval, worst_runs)
from axk1.plan.law_file import LawFile
from axk1.plan.runs import SPARSE_WHY, SparseRun, read_run
from axk1.plan.scaling import LossSurface

MIN_REFITS = 20  # refits that succeeded: fewer give intervals of no width (the same few runs each time)
# refits asked for: fewer than MIN_REFITS can never give a band (10-19 were accepted, and the fit then always said
# "no intervals and no band")
MIN_BOOTSTRAP = MIN_REFITS


def _run_key(folder: str | Path) -> Path:
    """A run as its recipe file, resolved: the same run named twice (a path and its symlink, `runs/a` and
    `runs/a/recipe.toml`) is one key."""
    path = Path(folder)
    return (path / "recipe.toml" if path.is_dir() else path).resolve()


def check_one_setting(points: list) -> None:
    """Every run of a fit is measured alike: a copy of a run counted twice (another folder, the same point), or
    runs of another sequence length or vocabulary (losses of another unit) mixed in, moved the law silently."""
    settings = {}
    for p in points:
        settings.setdefault(p.setting, []).append(p.name)
    if len(settings) > 1:
        raise ValueError("the runs were not trained alike, so their losses are not one law's: " + "; ".join(
            f"{s or '(not recorded)'}: {', '.join(names[:3])}{', ...' if len(names) > 3 else ''}"
            for s, names in settings.items())
            + ": fit each setting's runs apart")
    seen: dict = {}
    for p in points:
        key = (p.scale, p.tokens, p.loss)
        if key in seen:
            raise ValueError(f"runs {seen[key]} and {p.name} are the same point (size, tokens and loss): a copy of one "
                             "run counts it twice; give it once")
        seen[key] = p.name


def _read_dense_runs(folders: list[str]) -> list[RunPoint]:
    """The runs as points; every run with MoE layers named at once (one at a time, a user fixed 4 in 4 tries)."""
    points, sparse = [], []
    for f in folders:
        try:
            points.append(read_run(f))
        except SparseRun as e:
            sparse.append(e)
    if len(sparse) == 1:
        raise sparse[0]
    if sparse:
        raise ValueError(f"{len(sparse)} of {len(folders)} runs have MoE layers ({', '.join(e.name for e in sparse)}): "
                         f"{SPARSE_WHY}; leave them out of the fit, or train them dense (first_k_dense_replace = "
                         "num_hidden_layers, as `axk1 plan sweep` writes)")
    return points


def check_held_out(points: list[RunPoint], held: RunPoint) -> None:
    """The --check run is measured as the fitted runs are and is not one of their points: a run of sequence length
    64 beside runs of 128 was "checked" with an error of -9%; a copy or rerun of a fitted run checks nothing."""
    same = [p.name for p in points if (p.scale, p.tokens) == (held.scale, held.tokens)]
    if same:  # a copy or a rerun of a fitted point measures its seed's noise, not how the law extrapolates
        raise ValueError(f"--check {held.name} has the size and tokens of the fitted run {same[0]} (a copy or a rerun "
                         "of it): it checks nothing the fit has not seen; give a run at another size or budget "
                         "(`axk1 plan sweep` writes OUTPUT/holdout)")
    try:
        check_one_setting(points + [held])
    except ValueError as e:
        raise ValueError(f"--check {held.name}: {e}; give a held-out run trained as the fitted ones were") from None


def output_path(flag: str, value: str, default_name: str, add_suffix: bool = False) -> Path:
    """A file `plan fit` writes, checked before the fit: a folder (one that exists, or a path ending in /) gets
    `default_name`, a name without a suffix takes default_name's if `add_suffix` (what matplotlib does); missing
    parent folders are made. Each failed only after the law was fitted (savefig; -o a folder: "Is a directory" after
    ~22 s)."""
    folder = value.endswith(("/", os.sep)) or Path(value).is_dir()
    target = Path(value) / default_name if folder else Path(value)
    target = target if target.suffix or not add_suffix else target.with_suffix(Path(default_name).suffix)
    if target.is_dir():
        raise ValueError(f"{flag} {value}: {target} is a folder; give the file's path (e.g. {target / default_name})")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{flag} {value}: cannot make its folder {target.parent} ({e.strerror or e}): give a path "
                         "in a folder you can write") from None
    return target


def fit_runs(folders: list[str], output: str | Path, check: str | None = None, plot: str | None = None,
             samples: int = 200, tolerance: float | None = FRONTIER_TOLERANCE) -> str:
    """`tolerance`: approach 3 fits the runs within this fraction of their budget's best loss (fit.frontier); None:
    every run."""
    if samples < MIN_BOOTSTRAP:
        raise ValueError(f"--bootstrap must be at least {MIN_BOOTSTRAP} refits (the intervals are their 5%-95% "
                         f"spread, and fewer than {MIN_REFITS} refits give none), got {samples}")
    seen: dict[Path, str] = {}
    for f in folders:
        if _run_key(f) in seen:
            raise ValueError(f"the same run is given twice ({seen[_run_key(f)]} and {f}): each run is one point of "
                             "the fit; give it once")
        seen[_run_key(f)] = str(f)
    if check and _run_key(check) in seen:
        raise ValueError(f"--check {check} is one of the fitted runs ({seen[_run_key(check)]}): the check predicts a "
                         "run the fit has not seen; give a held-out run (`axk1 plan sweep` writes OUTPUT/holdout)")
    points = _read_dense_runs(folders)
    check_one_setting(points)
    low = far_below(points)
    if low:  # refused, not left out: the user decides whether the run or its logging is wrong
        raise ValueError("; ".join(f"run {p.name}'s val_loss {p.loss:.4g} is far below its budget's other runs "
                                   f"(median {m:.4g}, more than {FAR_BELOW:g}x)" for p, m in low)
                         + ": no size trains that much better at one compute budget; check its metrics for a loss "
                         "in other units, another metric or validation data seen in training, and fit without it")
    # the held-out run and the plot's path are checked before anything is written: a bad --check left a law file
    # behind an error
    held = read_run(check) if check else None
    if held is not None:
        check_held_out(points, held)
    target = output_path("--plot", plot, "fit.png", add_suffix=True) if plot else None
    output = output_path("-o", str(output), "law.json")
    if len(points) < 5:  # said here: after the frontier the count was of the runs it kept ("got 3" of 4 given)
        raise ValueError(f"a scaling-law fit needs at least 5 runs with a validation loss, got {len(points)}: run "
                         "more of the sweep's recipes (axk1 plan sweep writes them)")
    near, left_out = frontier(points, tolerance) if tolerance is not None else (points, [])
    if len(near) < 5:
        raise ValueError(f"{len(points)} runs given, only {len(near)} are within {tolerance:.0%} of their budget's best "
                         "loss, and approach 3 fits at least 5: run more sizes near each budget's best, or widen "
                         "--frontier (0 fits every run)")
    law = fit_parametric(near)
    if law.rmse_log > MAX_RMSE_LOG:  # a law that misses its own runs this far plans nothing (it predicted 0.0000)
        raise ValueError(f"the fitted law misses its runs by an rmse of log L of {law.rmse_log:.3g} (at most "
                         f"{MAX_RMSE_LOG:g}: a typical error of {math.exp(MAX_RMSE_LOG) - 1:.0%}), so no law file "
                         "is written; the runs that disagree most (measured vs fitted loss): " + ", ".join(
                             f"{p.name} {p.loss:.4g} vs {q:.4g}" for p, q in worst_runs(law, near))
                         + ": check their metrics and that they trained to the end, and fit without the broken ones")
    try:
        iso: IsoFlop | None = fit_isoflop(points)
        iso_note = ""
    except ValueError as e:
        iso, iso_note = None, f" (approach 2 not available: {e})"
    boot, boot_iso = bootstrap(points, samples, parametric_points=near)
    few = len(boot) < MIN_REFITS  # (5 runs: 7 of 200 resamples hold 5 distinct runs, all the same 5: [x, x] intervals)
    if few:
        boot = []
    intervals = {k: list(interval([getattr(b, k) for b in boot])) for k in ("E", "A", "alpha", "B", "beta")}
    intervals["approach3_exponent"] = list(interval([b.model_exponent for b in boot]))  # M_opt ~ C^a
    if boot_iso:
        intervals["approach2_exponent"] = list(interval([b.exponent for b in boot_iso]))
    fitted = {id(p) for p in near}  # the law file checks its law against these when it is read
    # named by its path: the stem alone was "law" for every `-o law.json`, and a plan said "fitted law 'law'"
    out = LawFile(replace(law, name=str(output), samples=tuple(b.terms for b in boot)),
                  iso.exponent if iso else None, iso.coefficient if iso else None, intervals=intervals,
                  runs=[{**vars(p), "fitted": id(p) in fitted} for p in points])
    out.save(output)
    surface = out.surface()
    lines = [f"fitted {len(points)} runs ({len(budget_groups(points))} budgets); {len(boot)} bootstrap refits"]
    if few:
        lines.append(f"no intervals and no band: fewer than {MIN_REFITS} of the {samples} resamples could be refitted "
                     "(a refit needs 5 distinct runs of the frontier): fit more runs, several sizes a budget")
    if left_out:
        lines.append(f"approach 3 fits the {len(near)} runs within {tolerance:.0%} of their budget's best loss; left "
                     "out: " + ", ".join(f"{p.name} ({p.loss:.3f})" for p in left_out))
    lines += [f"approach 3: L = {law.E:.3f} + {law.A:.4g}/M^{law.alpha:.3f} + {law.B:.4g}/D^{law.beta:.3f}  "
             f"(rmse of log L {law.rmse_log:.4f})"]
    lines += [f"  {k:>6} {getattr(law, k):.4g}  [{lo:.4g}, {hi:.4g}]" for k, (lo, hi) in intervals.items()
              if k in ("E", "A", "alpha", "B", "beta")]
    lo, hi = intervals["approach3_exponent"]
    lines.append(f"  M_opt ~ C^{law.model_exponent:.3f} [{lo:.3f}, {hi:.3f}]")
    if iso:
        lo, hi = intervals.get("approach2_exponent", [float("nan")] * 2)
        lines.append(f"approach 2: M_opt = {iso.coefficient:.4g} C^{iso.exponent:.3f} [{lo:.3f}, {hi:.3f}] from "
                     f"{len(iso.minima)} IsoFLOP minima: " + ", ".join(f"C {c:.2g} -> M {m:.3g} (L {l:.3f})"
                                                                       for c, m, l in iso.minima))
        if iso.left_out:
            lines.append(f"  left out of approach 2 (more than {ISOFLOP_OUTLIER:.0%} above their budget's best loss: "
                         f"broken, not a point of the parabola): {', '.join(iso.left_out)}")
    else:
        lines.append("approach 2: none" + iso_note)
    if held is not None:
        predicted = float(law.loss(held.scale, held.tokens))
        band = surface.band(held.scale, held.tokens)
        error = predicted / held.loss - 1
        lines.append(f"held-out run {held.name}: C {held.flops:.3g} ({reach_text(held.flops, points)}), predicted "
                     f"{predicted:.4f} [{band[0]:.4f}, {band[1]:.4f}], measured {held.loss:.4f}: error {error:+.2%}")
    if target is not None:
        lines.append(f"plot: {plot_fit(points, law, iso, held, target, left_out)}")
    lines.append(f"law file: {output} (use: axk1 plan --law {output} ...)")
    disagreement = exponent_disagreement(law, iso)
    if disagreement:  # last, where it is read
        lines.append(f"warning: {disagreement}")
    return "\n".join(lines)


def reach_text(flops: float, points: list[RunPoint]) -> str:
    """Where a checked run's budget lies against the fitted ones: a run at 0.01x the largest printed "x0.0 the largest
    fitted", read as a check of the law upward."""
    ratio = flops / max(p.flops for p in points)
    where = ("above the fitted budgets: an extrapolation upward" if ratio > 1 else
             "inside the fitted budgets: an interpolation" if flops >= min(p.flops for p in points) else
             "below the fitted budgets: an extrapolation downward, not upward")
    return f"x{ratio:.3g} the largest fitted, {where}"


def plot_fit(points: list[RunPoint], law: LossSurface, iso: IsoFlop | None, held: RunPoint | None,
             path: str | Path, left_out: list[RunPoint] = ()) -> Path:
    """Left: loss vs M per budget (runs, hollow where approach 3 left them out; the fitted law's IsoFLOP curve, each
    budget's minimum; the held-out run and its prediction). Right: the optimal M vs C from both approaches."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=110)
    groups = budget_groups(points)
    colours = plt.cm.viridis(np.linspace(0, 0.85, len(groups) + (1 if held else 0)))
    all_m = [p.scale for p in points] + ([held.scale] if held else [])
    ms = np.logspace(np.log10(min(all_m)) - 0.3, np.log10(max(all_m)) + 0.3, 200)
    budgets = [float(np.exp(np.mean(np.log([p.flops for p in g])))) for g in groups]
    outside = {id(p) for p in left_out}
    for group, flops, colour in zip(groups, budgets, colours):
        fitted = [p for p in group if id(p) not in outside]
        left.plot([p.scale for p in fitted], [p.loss for p in fitted], "o", color=colour, label=f"runs, C {flops:.1e}")
        left.plot([p.scale for p in group if id(p) in outside], [p.loss for p in group if id(p) in outside], "o",
                  mfc="none", color=colour)
        left.plot(ms, law.loss(ms, flops / ms), "-", color=colour, lw=1)
    if iso:
        left.plot([m for _, m, _ in iso.minima], [l for _, _, l in iso.minima], "kx", ms=9,
                  label="IsoFLOP minima (approach 2)")
    if left_out:
        left.plot([], [], "o", mfc="none", color="grey", label="left out of approach 3 (off the frontier)")
    if held:
        left.plot(ms, law.loss(ms, held.flops / ms), "--", color=colours[-1], lw=1)
        left.plot([held.scale], [held.loss], "*", ms=14, color="#d62728", label=f"held-out run, C {held.flops:.1e}")
        left.plot([held.scale], [law.loss(held.scale, held.tokens)], "D", mfc="none", color="#d62728",
                  label="its prediction")
    left.set_xscale("log"), left.set_xlabel("M (non-embedding FLOPs per token)")
    left.set_ylabel("held-out validation loss (nats/token)"), left.legend(fontsize=7), left.grid(alpha=0.3)
    left.set_title(f"L = {law.E:.2f} + {law.A:.3g}/M^{law.alpha:.2f} + {law.B:.3g}/D^{law.beta:.2f}")
    cs = np.logspace(np.log10(min(budgets)) - 0.5, np.log10(max(budgets)) + 1.5, 50)
    right.plot(cs, law.model_coefficient * cs ** law.model_exponent, "-",
               label=f"approach 3: C^{law.model_exponent:.2f}")
    if iso:
        right.plot([c for c, _, _ in iso.minima], [m for _, m, _ in iso.minima], "kx", ms=9, label="IsoFLOP minima")
        right.plot(cs, iso.coefficient * cs ** iso.exponent, "--", label=f"approach 2: C^{iso.exponent:.2f}")
    right.set_xscale("log"), right.set_yscale("log"), right.grid(alpha=0.3, which="both")
    right.set_xlabel("C = M x D (FLOPs)"), right.set_ylabel("optimal M"), right.legend(fontsize=8)
    right.set_title("compute-optimal model scale")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
