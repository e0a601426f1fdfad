"""Sampling metrics over problems with n samples each: avg@k (= pass@1), unbiased pass@k, standard error."""

from __future__ import annotations

import math


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), computed as a product for stability."""
    if not 0 <= c <= n:
        raise ValueError(f"correct count {c} must be within 0..{n}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n samples (n = {n})")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def standard_error(values: list[float]) -> float | None:
    """Standard error of the mean over problems (sample standard deviation / sqrt(count)); None for fewer than two,
    where it cannot be estimated (0.0 read as a certain score)."""
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return math.sqrt(var / len(values))


def rerun_standard_error(per_problem: list[float], n: int) -> float | None:
    """How much the score moves when the same problems are sampled again (rerun noise), as a fraction: the standard
    deviation of the mean over P problems of each problem's mean of n samples. A problem's mean p̂ of n Bernoulli
    samples has variance p(1-p)/n, and p̂(1-p̂)·n/(n-1) estimates p(1-p) without bias, so each problem adds
    p̂(1-p̂)/(n-1): sqrt(Σ p̂ᵢ(1-p̂ᵢ)/(n-1)) / P. None for one sample a problem, where it cannot be estimated."""
    if n < 2 or not per_problem:
        return None
    return math.sqrt(sum(p * (1 - p) for p in per_problem) / (n - 1)) / len(per_problem)


def summarize(correct_by_problem: dict[str, list[bool]], ks: tuple[int, ...] = (1,)) -> dict:
    """Per-problem correctness lists -> {"n_problems", "n_samples", "avg@n", "stderr_rerun", "stderr_problems",
    "pass@k" ...} in percent. Two standard errors of avg@n answer two questions: `stderr_rerun`, how much a rerun on
    the same problems moves it (sampling noise: the one that decides whether two runs on the set differ), and
    `stderr_problems`, the spread of the per-problem means over problems (how well the set's problems stand for
    others like them; it holds each problem's difficulty and is larger)."""
    if not correct_by_problem:
        raise ValueError("no graded problems to summarise")
    sizes = {len(v) for v in correct_by_problem.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"every problem needs the same, non-zero number of samples; got sizes {sorted(sizes)}")
    n = sizes.pop()
    per_problem = [sum(v) / n for v in correct_by_problem.values()]
    se, rerun = standard_error(per_problem), rerun_standard_error(per_problem, n)
    out = {"n_problems": len(per_problem), "n_samples": n, f"avg@{n}": 100 * sum(per_problem) / len(per_problem),
           "stderr_rerun": None if rerun is None else 100 * rerun, "stderr_problems": None if se is None else 100 * se}
    for k in ks:
        if k <= n:
            scores = [pass_at_k(n, sum(v), k) for v in correct_by_problem.values()]
            out[f"pass@{k}"] = 100 * sum(scores) / len(scores)
    return out


def like_for_like(by_task: dict[str, dict[str, list[bool]]]) -> dict:
    """Two tasks' scores on the problems both measured (`by_task`: task -> its measured problems' correctness
    lists): {"shared_problems", "scores" and "stderr_rerun" (task -> percent, on those problems), "only" (task -> how
    many problems it measured that are not shared)}. Scores on different sets (a Korean translation refused, a
    sample unanswered) compare the sets as much as the languages; on the shared ones they compare like for like."""
    shared = sorted(set.intersection(*(set(problems) for problems in by_task.values())))
    out: dict = {"shared_problems": len(shared), "scores": {}, "stderr_rerun": {},
                 "only": {name: len(problems) - len(shared) for name, problems in by_task.items()}}
    for name, problems in by_task.items() if shared else ():
        summary = summarize({pid: problems[pid] for pid in shared})
        out["scores"][name] = summary[f"avg@{summary['n_samples']}"]
        out["stderr_rerun"][name] = summary["stderr_rerun"]
    return out


def format_stderr(stderr: float | None) -> str:
    """A standard error as the console and report.md show it: "n/a" where there is none (one problem, or one
    sample a problem for the rerun one)."""
    return "n/a" if stderr is None else f"{stderr:.1f}"


def format_stderrs(metrics: dict) -> str:
    """Both standard errors, labelled, as the console and report.md show them: "± 1.2 rerun, ± 7.9 over problems"."""
    return f"± {format_stderr(metrics.get('stderr_rerun'))} rerun, ± {format_stderr(metrics.get('stderr_problems'))} " \
           f"over problems"


def readable(value, limit: int = 10) -> str:
    """A results.json value as report.md shows it: `{'correct': 472, 'wrong': 8}` as "correct: 472, wrong: 8", a
    nested object in parentheses, floats to 2 decimals, text in backticks (paths and prompts hold Markdown's
    characters), a list past `limit` items cut with how many more; an empty one as "none"."""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_nested(v, limit)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        shown = ", ".join(_nested(v, limit) for v in value[:limit]) or "none"
        return shown + (f", ... ({len(value)} in all)" if len(value) > limit else "")
    if isinstance(value, float):
        return f"{round(value, 2):g}"
    if value is None or isinstance(value, (bool, int)):
        return "none" if value is None else str(value).lower()
    return "`" + str(value).replace("`", "'").replace("\n", " ") + "`"


def _nested(value, limit: int) -> str:
    text = readable(value, limit)
    return f"({text})" if isinstance(value, (dict, list, tuple)) and value else text
