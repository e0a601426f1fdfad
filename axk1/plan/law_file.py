"""A scaling law fitted from the user's runs, as a JSON file `axk1 plan fit` writes and `axk1 plan --law FILE` reads.

The file holds the parametric law (approach 3) in DeepSeek LLM's units (model scale M = non-embedding FLOPs per
token, C = M D), the IsoFLOP allocation (approach 2), the bootstrap refits that give the prediction band, and the
runs it was fitted to. `resolve_law` is the one place a --law argument becomes a LossSurface: a built-in name or a
law file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from axk1.json_text import from_strict, read_json_file, strict_json
from axk1.plan.fit import FRONTIER_TOLERANCE, RunPoint, frontier
from axk1.plan.scaling import FIT_SOURCE, LAWS, LossSurface

FORMAT = "axk1-scaling-law-v1"
# a law file's law must fit its own runs: its rmse of log L over them at most this multiple of the one it records,
# plus RMSE_SLACK (a file read back as written recomputes its figure to the last bit)
RMSE_MARGIN, RMSE_SLACK = 1.5, 1e-3


@dataclass
class LawFile:
    """A law file: the fitted surface (its samples the bootstrap refits, its rmse_log the fit's error, its source
    the file's) and what a surface does not hold. On disk one flat JSON object (to_dict), as it always was."""
    law: LossSurface
    isoflop_exponent: float | None      # approach 2: M_opt = k C^a (None when the sweep could not give it)
    isoflop_coefficient: float | None
    intervals: dict[str, list[float]] = field(default_factory=dict)  # 5%-95% of each fitted quantity
    # {name, scale, tokens, loss, setting, fitted} of every run given; fitted: in approach 3's fit (the frontier)
    runs: list[dict] = field(default_factory=list)

    def surface(self) -> LossSurface:
        """The law as a plan reads it: its source says what it was fitted to, fitted_flops how far it reaches."""
        return replace(self.law, source=f"{self.law.source}: fitted to {len(self.runs)} runs (approach 3, rmse of "
                                        f"log L {self.law.rmse_log:.4f})",
                       # NaN: a fitted law whose runs are not listed, so how far a plan extrapolates is unknown
                       fitted_flops=max((r["scale"] * r["tokens"] for r in self.runs), default=math.nan),
                       fitted_vocab=self.vocabulary())

    def vocabulary(self) -> int | None:
        """The vocabulary size its runs were trained with, from their setting (axk1/plan/runs.py writes "vocabulary
        N"); None when no run records one. The runs of one fit share it (fit_report.check_one_setting)."""
        sizes = {int(m.group(1)) for r in self.runs
                 if (m := re.search(r"\bvocabulary (\d+)\b", str(r.get("setting", ""))))}
        return sizes.pop() if len(sizes) == 1 else None

    def to_dict(self) -> dict:
        """The file's object, its keys in the order they have always been written."""
        law = self.law
        return {"name": law.name, "E": law.E, "A": law.A, "alpha": law.alpha, "B": law.B, "beta": law.beta,
                "rmse_log": law.rmse_log, "isoflop_exponent": self.isoflop_exponent,
                "isoflop_coefficient": self.isoflop_coefficient, "samples": [list(s) for s in law.samples],
                "intervals": self.intervals, "runs": self.runs, "source": law.source, "format": FORMAT}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # strict JSON: an interval no refit measured is NaN, written as null (a bare NaN is not JSON; the loader
        # puts it back)
        path.write_text(strict_json(self.to_dict(), indent=1) + "\n")
        return path


REQUIRED = ("name", "E", "A", "alpha", "B", "beta", "rmse_log", "isoflop_exponent", "isoflop_coefficient")
OPTIONAL = {"samples": list, "intervals": dict, "runs": list, "source": lambda: FIT_SOURCE, "format": lambda: FORMAT}
MAX_EXPONENT = 3.0
MAX_IRREDUCIBLE = 20.0  # nats per token: ln of a vocabulary of 485 million tokens


def load_law_file(path: str | Path) -> LawFile:
    path = Path(path)
    try:
        raw = read_json_file(path, "it must be a file written by `axk1 plan fit`", what="law file")
    except FileNotFoundError:
        raise ValueError(f"law file {path} does not exist: write one with `axk1 plan fit RUN... -o {path}`") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ValueError(f"{path} is not a law file (no \"format\": \"{FORMAT}\"): write one with `axk1 plan fit`")
    raw = from_strict(raw)
    unknown = [k for k in raw if k not in REQUIRED and k not in OPTIONAL]
    missing = [k for k in REQUIRED if k not in raw]
    if unknown or missing:
        said = "; ".join(([f"unknown key(s) {', '.join(map(repr, unknown))}"] if unknown else [])
                         + ([f"missing key(s) {', '.join(map(repr, missing))}"] if missing else []))
        raise ValueError(f"law file {path}: {said}; rewrite it with `axk1 plan fit`")
    doc = {**{k: make() for k, make in OPTIONAL.items()}, **raw}
    problem = _law_problem([doc[k] for k in ("E", "A", "alpha", "B", "beta")]) or _fields_problem(doc)
    if problem:
        raise ValueError(f"law file {path}: {problem}; rewrite it with `axk1 plan fit`")
    if not isinstance(doc["samples"], list) or not isinstance(doc["runs"], list):
        raise ValueError(f"law file {path}: samples and runs must be lists; rewrite it with `axk1 plan fit`")
    for i, sample in enumerate(doc["samples"]):
        well_formed = isinstance(sample, list) and len(sample) == 5
        problem = _law_problem(sample) if well_formed else "not [E, A, alpha, B, beta]"
        if problem:
            raise ValueError(f"law file {path}: samples[{i}]: {problem}; rewrite it with `axk1 plan fit`")
    for i, run in enumerate(doc["runs"]):
        values = [run.get(k) for k in ("scale", "tokens")] if isinstance(run, dict) else [None]
        if not all(_number(v) and v > 0 for v in values):
            raise ValueError(f"law file {path}: runs[{i}] needs a positive scale and tokens; rewrite it with "
                             "`axk1 plan fit`")
        if "loss" in run and not (_number(run["loss"]) and run["loss"] > 0):
            raise ValueError(f"law file {path}: runs[{i}] has a loss of {run['loss']!r}, not a positive number; "
                             "rewrite it with `axk1 plan fit`")
    law = LossSurface(doc["name"], doc["E"], doc["A"], doc["alpha"], doc["B"], doc["beta"], 1.0, doc["source"],
                      samples=tuple(tuple(s) for s in doc["samples"]), rmse_log=doc["rmse_log"])
    problem = _fit_problem(law, doc["runs"])
    if problem:
        raise ValueError(f"law file {path}: {problem}: its law, samples or runs were edited, or come from "
                         "another fit; refit it with `axk1 plan fit RUN... -o FILE` (a law of your own is "
                         "planned only as a fit of your runs)")
    return LawFile(law, doc["isoflop_exponent"], doc["isoflop_coefficient"], doc["intervals"], doc["runs"])


def _fit_problem(law: LossSurface, runs: list[dict]) -> str | None:
    """Why the file's law is not the fit of its own runs, or None. Hand-edited to E 0.3 and A 5, samples and runs
    kept, a law file planned "predicted loss 0.3305 (5-95% band 1.5832-1.5832)" without a word. Checked over the
    runs approach 3 fitted (`fitted`; a file written before it was recorded: all its runs, or the frontier at the
    default tolerance, whichever the law fits better)."""
    points = [RunPoint(str(r.get("name", f"runs[{i}]")), r["scale"], r["tokens"], r["loss"])
              for i, r in enumerate(runs) if "loss" in r]
    if not points:
        return None  # nothing to check it against (the plan warns that the runs are unknown)
    if any("fitted" in r for r in runs):
        choices = [[p for p, r in zip(points, (r for r in runs if "loss" in r)) if r.get("fitted")]]
    else:
        choices = [points, frontier(points, FRONTIER_TOLERANCE)[0]]
    errors = [(_rmse_log(law, subset), subset) for subset in choices if subset]
    if not errors:
        return None
    rmse, fitted = min(errors, key=lambda e: e[0])
    names = ", ".join(p.name for p in fitted[:4]) + (", ..." if len(fitted) > 4 else "")
    if not rmse <= RMSE_MARGIN * law.rmse_log + RMSE_SLACK:  # NaN too
        return (f"its law does not fit the runs it records: the rmse of log L over the {len(fitted)} runs it was "
                f"fitted to ({names}) is {rmse:.4g}, the file says {law.rmse_log:.4g}")
    if len(law.samples) >= 2:
        outside = []
        for p in fitted:
            central = float(law.loss(p.scale, p.tokens))
            low, high = law.band(p.scale, p.tokens)
            # a margin of the band's own width: a genuine fit's law lies inside its refits' band at its runs
            if max(low - central, central - high) > (high - low) + 1e-9 * central:
                outside.append(p.name)
        if len(outside) * 2 > len(fitted):
            return (f"its law lies outside its own bootstrap samples' 5-95% band at {len(outside)} of its "
                    f"{len(fitted)} fitted runs ({', '.join(outside[:4])}{', ...' if len(outside) > 4 else ''}): "
                    "the samples are not refits of this law, so the plan's band would not be its uncertainty")
    return None


def _rmse_log(law: LossSurface, points: list[RunPoint]) -> float:
    """As fit_parametric measures it: numpy's power over arrays, so a file read back as written gives its figure."""
    predicted = law.loss(np.array([p.scale for p in points]), np.array([p.tokens for p in points]))
    with np.errstate(all="ignore"):
        residuals = np.log(predicted / np.array([p.loss for p in points]))
    return float(np.sqrt(np.mean(residuals ** 2)))


def _fields_problem(doc: dict) -> str | None:
    """Why the law file's other fields cannot be used, or None: they are printed with the plan (a null rmse_log was
    a TypeError traceback, a string one "Unknown format code 'f'"). A null interval bound becomes NaN."""
    for name in ("name", "source"):
        if not isinstance(doc[name], str):
            return f"{name} must be a string, got {doc[name]!r}"
    if not (_number(doc["rmse_log"]) and doc["rmse_log"] >= 0):
        return f"rmse_log must be a finite non-negative number, got {doc['rmse_log']!r}"
    for name in ("isoflop_exponent", "isoflop_coefficient"):
        if doc[name] is not None and not _number(doc[name]):
            return f"{name} must be a number or null, got {doc[name]!r}"
    if not isinstance(doc["intervals"], dict):
        return f"intervals must be an object of [low, high] pairs, got {doc['intervals']!r}"
    for key, pair in doc["intervals"].items():
        # NaN (or null): an interval no refit measured
        if not (isinstance(pair, list) and len(pair) == 2
                and all(v is None or _number(v) or (isinstance(v, float) and math.isnan(v)) for v in pair)):
            return f"intervals[{key!r}] must be [low, high] (numbers or null), got {pair!r}"
        doc["intervals"][key] = [math.nan if v is None else v for v in pair]
    return None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _law_problem(values: list) -> str | None:
    """Why [E, A, alpha, B, beta] cannot be a loss law L = E + A/M^alpha + B/D^beta, or None. The exponents of
    every published law and fit lie in (0, 1]; past 3 the powers overflow at any real size (alpha 100 was an
    OverflowError), and E is a loss in nats per token."""
    names = ("E", "A", "alpha", "B", "beta")
    for name, value in zip(names, values):
        if not _number(value) or value < 0:
            return f"{name} must be a finite non-negative number, got {value!r}"
    E, A, alpha, B, beta = values
    if A == 0 and B == 0:  # a constant loss: every model and token count ties, and no safeguard can tell
        return "A and B are both 0: the loss would not depend on model size or tokens"
    if not (0 < alpha <= MAX_EXPONENT and 0 < beta <= MAX_EXPONENT):
        return f"alpha and beta must be in (0, {MAX_EXPONENT}] (got {alpha}, {beta})"
    if E > MAX_IRREDUCIBLE:
        return f"E = {E} is not a loss in nats per token (at most {MAX_IRREDUCIBLE})"
    return None


def resolve_law(name: str) -> LossSurface:
    """--law: a built-in law's name, or the path of a law file."""
    if name in LAWS:
        return LAWS[name]
    if Path(name).suffix == ".json" or Path(name).exists():
        # named by the path it was given as: every fitted law's stored name is its file's stem, often "law"
        return replace(load_law_file(name).surface(), name=name)
    raise ValueError(f"unknown scaling law {name!r}: choose {' or '.join(LAWS)}, or give a law file (.json) written "
                     "by `axk1 plan fit`")
