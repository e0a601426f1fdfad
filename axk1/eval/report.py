"""report.md + comparison bar chart from results.json's content, plus what each task adds (its report_lines).

Published numbers are A.X K1's model card (docs/evaluation.md, "Published scores") in the run's mode: a run with
thinking off is set beside the card's non-thinking table, which has HumanEval+ of our tasks and no AIME or
LiveCodeBench (those rows then show no published number rather than the thinking ones); a run with thinking on, or
in the model's default mode, beside the thinking table. Ratios are ours / theirs in percent, as the press put it
(AIME25: 89.8 / 88.4 = 102%).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

from axk1.atomic_file import atomic_writer
from axk1.eval.backends import Sampling
from axk1.eval.contamination import report_line as contamination_line
from axk1.eval.metrics import format_stderr, readable
from axk1.eval.tasks import TASKS, get_task

MODELS = ("A.X K1", "DeepSeek-V3.1", "GLM-4.6")
PUBLISHED = {
    "aime25": {"label": "AIME25", "scores": (89.8, 88.4, 86.0)},
    "aime25-ko": {"label": "AIME25-ko", "scores": (80.4, 81.3, 80.4)},
    # the card's window is 2025-02-01..2025-05-01; the row names the run's (Task.label_window)
    "lcb": {"label": "LiveCodeBench v6", "scores": (75.8, 69.5, 76.0)},
    "lcb-ko": {"label": "LiveCodeBench-ko", "scores": (73.1, 66.2, 55.9)},
    # The card reports HumanEval+ (stricter tests than HumanEval): shown for scale, not a like-for-like comparison.
    "humaneval": {"label": "HumanEval+ (card; we run HumanEval)", "scores": (87.2, 86.0, 83.5)},
}
# The card's sampling protocol (docs/evaluation.md, "Protocol"): temperature 0.6, top-p 0.95, at least 32K new
# tokens, 16-64 samples per problem. A run sampled otherwise measures something else.
# The defaults of Sampling are that protocol (one place to change it), with 16 samples a problem.
PROTOCOL = {**{k: v for k, v in asdict(Sampling()).items() if k != "thinking"}, "n": 16}
PUBLISHED_NON_THINKING = {
    "humaneval": {"label": "HumanEval+ (card; we run HumanEval)", "scores": (79.9, 87.8, 89.0)},
}


# What the two standard errors mean (axk1/eval/metrics.py::summarize), under the table that shows them.
STDERR_NOTE = ("s.e. rerun: how much the score moves when the same problems are sampled again (two runs on this set "
               "differ beyond noise, at 95%, past about 2.8 times it); s.e. over problems: from the spread of the "
               "per-problem scores, how well these problems stand for others like them.")


def published_mode(results: dict) -> str:
    """"non-thinking" for a run with thinking off, else "thinking" (on, or the model's default: the card's headline)."""
    thinking = results.get("config", {}).get("sampling", {}).get("thinking")
    return "non-thinking" if thinking is False else "thinking"


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}"


def unanswered_line(result: dict) -> str:
    """What an incomplete task's score lacks: "18/30 samples unanswered"."""
    total = result["metrics"]["n_problems"] * result["metrics"]["n_samples"]
    return f"{result['unanswered']}/{total} samples unanswered"


def too_long_remedy(name: str, result: dict | None = None) -> str:
    """How task `name`'s too-long samples could fit: lower --max-tokens, or its own length flag where it has one
    (passkey's --passkey-lengths; a benchmark's problems cannot be shortened), or a longer context. Where the
    prompt alone fills the context (`result`'s too_long_prompt), no --max-tokens helps, and the advice says so."""
    flag = get_task(name).length_flag if name in TASKS else ""
    shorter = f"lower --max-tokens{f' or {flag}' if flag else ''}, or serve a longer context"
    prompt, total = (result or {}).get("too_long_prompt", 0), (result or {}).get("too_long", 0)
    if not prompt:
        return shorter
    itself = f"the prompt itself is longer than the model's context, whatever --max-tokens: " \
             f"{f'{flag} or ' if flag else ''}serve a longer context"
    return itself if prompt >= total else f"{prompt} of them: {itself}; the others: {shorter}"


def too_long_line(result: dict) -> str:
    """"2/30 samples too long for the model's context": refused for their length, the same on every rerun."""
    total = result["metrics"]["n_problems"] * result["metrics"]["n_samples"]
    return f"{result['too_long']}/{total} samples too long for the model's context"


def not_comparable(name: str, result: dict, config: dict) -> str | None:
    """Why a task's score may not be set beside the published one (None: it may): samples unanswered, part of the
    problem set, another sampling protocol, or what the task itself sets apart (LiveCodeBench's window, grader)."""
    why = []
    if result.get("unanswered"):
        why.append(unanswered_line(result))
    if result.get("too_long"):
        why.append(too_long_line(result))
    limit = config.get("options", {}).get("limit")
    if limit is not None:
        why.append(f"first {limit} problems only (--limit)")
    sampling, n = config.get("sampling", {}), config.get("n", 1)
    if n < PROTOCOL["n"]:
        why.append(f"avg@{n}; the card's are avg@16-64 (-n 16)")
    for key in ("temperature", "top_p", "top_k"):
        if sampling.get(key, PROTOCOL[key]) != PROTOCOL[key]:
            why.append(f"{key} {sampling[key]}, not {PROTOCOL[key]}")
    if sampling.get("max_tokens", PROTOCOL["max_tokens"]) < PROTOCOL["max_tokens"]:
        why.append(f"max_tokens {sampling['max_tokens']} < {PROTOCOL['max_tokens']}")
    extra = sorted(k for k in config.get("backend", {}).get("extra_body", {}) if k != "chat_template_kwargs")
    if extra:  # min_p, repetition_penalty, ...: sampled otherwise than the card's protocol
        why.append(f"--extra-body sets {', '.join(extra)}")
    if name in TASKS:
        why += get_task(name).comparison_caveats(config.get("options", {}), result)
    return "; ".join(why) or None


def comparison_rows(results: dict) -> list[dict]:
    rows = []
    table = PUBLISHED_NON_THINKING if published_mode(results) == "non-thinking" else PUBLISHED
    options = results.get("config", {}).get("options", {})
    for name, r in results["tasks"].items():
        pub = table.get(r.get("published") or "")
        row = {"task": name, "ours": r["score"], "stderr_rerun": r["metrics"].get("stderr_rerun"),
               "stderr_problems": r["metrics"].get("stderr_problems"),
               "n_problems": r["metrics"]["n_problems"], "n_samples": r["metrics"]["n_samples"]}
        if r.get("unanswered"):  # drawn apart in the chart: a score counting unanswered samples as wrong
            row["incomplete"] = f"{r['unanswered']} of {row['n_problems'] * row['n_samples']} unanswered"
        window = get_task(name).label_window(options) if name in TASKS else None
        label = pub and (f"{pub['label']} ({window})" if window else pub["label"])
        why = not_comparable(name, r, results.get("config", {})) if pub else None
        if why:  # the published numbers are left out, so no ratio or bar suggests a comparison
            row["label"] = f"{label} (not comparable: {why})"
            row["not_comparable"] = why
        elif pub:
            row["published"] = dict(zip(MODELS, pub["scores"]))
            row["label"] = label
            row["ratios"] = {m: 100 * r["score"] / s for m, s in row["published"].items()}
            a, d = pub["scores"][0], pub["scores"][1]
            row["press_ratio"] = 100 * a / d  # A.X K1 / DeepSeek-V3.1, as reported in the press
        rows.append(row)
    return rows


def bar_chart(rows: list[dict], path: Path, model_name: str) -> None:
    import matplotlib.pyplot as plt

    fig = scores_figure(rows, model_name)
    fig.savefig(path, dpi=120)
    plt.close(fig)


INCOMPLETE_HATCH = "//"


def scores_figure(rows: list[dict], model_name: str):
    """Our score per task beside each published model's, where a row has that model's number. A model no row has a
    number for (every task not comparable, or none on the card) is left out of the bars and the legend, the title
    saying why: drawn as zeros, its bars and ours at 0.0 made a blank chart with three legend entries.
    Our bars carry their rerun standard error where it is known; an incomplete score (unanswered samples counted
    wrong) is hatched and its task labelled "incomplete: k of n unanswered", not drawn as a measurement. The legend
    sits right of the axes, never over a bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    labels = [r["task"] + (f"\nincomplete:\n{r['incomplete']}" if r.get("incomplete") else "") for r in rows]
    series = [(f"ours ({model_name})", [r["ours"] for r in rows])]
    series += [(m, [r.get("published", {}).get(m) for r in rows]) for m in MODELS
               if any(m in r.get("published", {}) for r in rows)]
    width = 0.8 / len(series)
    present = [[i for i, (_, values) in enumerate(series) if values[j] is not None] for j in range(len(rows))]

    def slot(i: int, j: int) -> int:  # series i's place among the bars task j has
        return present[j].index(i)

    error_bars = None
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(rows) + 2) + 2, 4.5))
    for i, (name, values) in enumerate(series):
        drawn = [(j, v) for j, v in enumerate(values) if v is not None]  # a task without that model's number: no bar
        xs = [j + (slot(i, j) - (len(present[j]) - 1) / 2) * width for j, _ in drawn]  # centred on the task's tick
        # ours: its rerun standard error where known (nan draws none), the bar's label above it
        errors = [rows[j].get("stderr_rerun") for j, _ in drawn] if i == 0 else []
        errors = [math.nan if e is None else e for e in errors]
        known = any(not math.isnan(e) for e in errors)
        bars = ax.bar(xs, [v for _, v in drawn], width, label=name, yerr=errors if known else None,
                      error_kw={"ecolor": "black", "capsize": 3, "linewidth": 1})
        ax.bar_label(bars, labels=[f"{v:.1f}" for _, v in drawn], fontsize=7)  # 0.0 too: a score, not a gap
        if i == 0:
            error_bars = bars.errorbar
            for bar, row in zip(bars, rows):
                if row.get("incomplete"):
                    bar.set_hatch(INCOMPLETE_HATCH)
                    bar.set_edgecolor("black")
    ax.set_xticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylabel("score (%)")
    ax.set_ylim(0, 105)
    ax.set_title(_title(rows, [name for name, _ in series[1:]]), fontsize=10)
    handles, names = ax.get_legend_handles_labels()
    # ours as a plain swatch: the legend copies its first bar, hatched when that score is incomplete
    handles[0] = Patch(facecolor=handles[0].patches[0].get_facecolor())
    if error_bars is not None:
        handles.insert(1, error_bars)
        names.insert(1, "± s.e. rerun (ours)")
    if any(r.get("incomplete") for r in rows):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch=INCOMPLETE_HATCH))
        names.append("incomplete: unanswered\nsamples counted wrong")
    ax.legend(handles, names, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


def _title(rows: list[dict], shown: list[str]) -> str:
    """The chart's title, wrapped to a figure as narrow as 6 inches (one line ran past both edges of it)."""
    import textwrap

    if len(shown) == len(MODELS):
        title = f"Our scores beside the published {' / '.join(MODELS)} numbers"
    elif shown:
        missing = [m for m in MODELS if m not in shown]
        title = f"Our scores beside the published {' / '.join(shown)} numbers (none here for {' / '.join(missing)})"
    elif any("not_comparable" in r for r in rows):
        title = "Our scores; the published numbers are left out: not comparable with this run's settings (report.md)"
    else:
        title = "Our scores; the model card publishes no number for these tasks in this mode"
    return textwrap.fill(title, 60)


def _problems(count: int) -> str:
    return f"{count} problem{'s' if count != 1 else ''}"


def pair_line(pair: dict) -> str:
    """What a task and its counterpart score on the problems both measured (runner.paired_scores), and whether their
    rows compare like for like: "lcb and lcb-ko on the 37 problems both measured: lcb 70.0 (± 1.2 rerun), lcb-ko
    60.0 (± 1.3 rerun); their rows are on different sets: lcb-ko excluded or left unanswered 3 problems lcb
    measured"."""
    first, second = pair["tasks"]
    shared = pair["shared_problems"]
    if not shared:
        return (f"{first} and {second} measured no problem in common (their problem ids differ, or every shared "
                "problem has unanswered samples): their scores cannot be compared like for like")
    same = all(pair["problems"][t] == shared for t in pair["tasks"])
    scores = ", ".join(f"{t} {pair['scores'][t]:.1f} (± {format_stderr(pair['stderr_rerun'][t])} rerun)"
                       for t in pair["tasks"])
    if same:
        return f"{first} and {second} on the same {_problems(shared)}: {scores}; their rows compare like for like"
    why = [f"{t} measured {_problems(pair['only'][t])} that {u} did not" for t, u in ((first, second), (second, first))
           if pair["only"][t]]
    why += [f"{t} has {_problems(pair['unmeasured'][t])} with unanswered samples" for t in pair["tasks"]
            if pair["unmeasured"][t]]
    return (f"{first} and {second} on the {_problems(shared)} both measured: {scores}; their rows above are on "
            f"different sets ({'; '.join(why)}), so compare these")


def write_report(out: Path, results: dict) -> None:
    config = results["config"]
    rows = comparison_rows(results)
    lines = [f"# Evaluation of `{config['model']}`", "",
             f"Backend: {readable(config['backend'])}  ",
             f"Samples per problem: {config['n']}; sampling: {readable(config['sampling'])}",
             "", f"## Scores beside the published numbers ({published_mode(results)} mode, A.X K1 model card)", "",
             "| task | ours (avg@n) | ± s.e. rerun | ± s.e. over problems | problems × samples | "
             + " | ".join(MODELS) + " | " + " | ".join(f"ours / {m}" for m in MODELS) + " | A.X K1 / DeepSeek-V3.1 |",
             "|---|---:|---:|---:|---:|" + "---:|" * (2 * len(MODELS) + 1)]
    for r in rows:
        pub = r.get("published", {})
        ratios = r.get("ratios", {})
        lines.append(f"| {r.get('label', r['task'])} | {r['ours']:.1f} | {format_stderr(r['stderr_rerun'])} | "
                     f"{format_stderr(r['stderr_problems'])} | "
                     f"{r['n_problems']} × {r['n_samples']} | " + " | ".join(_fmt(pub.get(m)) for m in MODELS) + " | "
                     + " | ".join(f"{ratios[m]:.0f}%" if m in ratios else "—" for m in MODELS) + " | "
                     + (f"{r['press_ratio']:.0f}%" if "press_ratio" in r else "—") + " |")
    lines += ["", STDERR_NOTE, ""]
    replaced = config.get("replaced_tasks")
    if replaced:
        lines += [f"This run replaced the scores of {', '.join(replaced['tasks'])} that an earlier run left in this "
                  f"folder (their completions are kept in completions.jsonl): `--tasks {replaced['keep_both']}` "
                  "scores them all again without sampling anything already there.", ""]
    for pair in results.get("pairs", []):  # an English task beside its Korean one: the problems both measured
        lines += [f"Like for like: {pair_line(pair)}.", ""]
    lines += ["![scores](scores.png)", ""]
    for name, r in results["tasks"].items():
        lines += [f"## {name}", "", f"- metrics: {readable(r['metrics'])}", f"- statuses: {readable(r['statuses'])}"]
        if r.get("unanswered"):
            lines.append(f"- **incomplete**: {unanswered_line(r)} (request_failed): run again with the same settings "
                         "and -o to fill them")
        if r.get("too_long"):
            lines.append(f"- **not measured**: {too_long_line(r)} (too_long): the same prompts are refused on every "
                         f"run; {too_long_remedy(name, r)}")
        lines += [f"- **warning**: {w}" for w in r.get("warnings", [])]
        if name in TASKS:  # what the task adds (its own scores, plots); none for a task no longer registered
            lines += get_task(name).report_lines(r, out)
        for key, groups in r.get("groups", {}).items():
            lines.append(f"- by {key}: " + ", ".join(f"{g} {v:.1f}" for g, v in groups.items()))
        if "contamination" in r:
            lines.append(contamination_line(r))
        info = {k: v for k, v in r["info"].items() if k not in ("excluded", "failed_to_parse")}
        lines.append(f"- data: {readable(info)}")
        for key in ("excluded", "failed_to_parse"):
            if r["info"].get(key):
                lines.append(f"- {key.replace('_', ' ')}: {len(r['info'][key])} (reasons in results.json)")
        lines.append("")
    label = str(config["backend"].get("model") or config["model"])
    bar_chart(rows, out / "scores.png", Path(label).name or label)
    with atomic_writer(out / "report.md") as f:
        f.write("\n".join(lines) + "\n")
