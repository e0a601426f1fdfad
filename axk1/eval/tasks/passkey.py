"""Passkey retrieval: a 5-digit number hidden at several depths in filler of several lengths.

Length is in approximate tokens (4 characters each: the filler is plain English). Accuracy per (length, depth)."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from pathlib import Path

from axk1.eval.backends import Completion
from axk1.text.reasoning import split_reasoning
from axk1.eval.tasks.base import Problem, Task, TaskData, TaskOptions, apply_limit, digest, register

FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
LEAD = ("There is an important piece of information hidden inside a lot of irrelevant text. Find it and memorise "
        "it; I will ask you about it.\n\n")
QUESTION = "\n\nWhat is the pass key? Reply with the number only."
CHARS_PER_TOKEN = 4


def haystack(length_tokens: int, depth: float, key: int) -> str:
    n_chars = max(len(FILLER), length_tokens * CHARS_PER_TOKEN)
    filler = (FILLER * (n_chars // len(FILLER) + 1))[:n_chars]
    cut = filler.rfind(". ", 0, int(len(filler) * depth) + 1)
    cut = 0 if cut < 0 or depth == 0 else cut + 2
    needle = f"The pass key is {key}. Remember it. {key} is the pass key. "
    return filler[:cut] + needle + filler[cut:]


def _numbers(text, kind: type, flag: str) -> tuple:
    """`256,512` (or a --config file's list) -> (256, 512); an error that names the flag for anything else (an
    empty list included)."""
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    try:
        values = tuple(kind(x) for x in items if str(x).strip())
    except (ValueError, TypeError):
        raise ValueError(f"{flag} takes comma-separated {kind.__name__}s such as "
                         f"{'256,512' if kind is int else '0,0.5,1'}, got {text!r}") from None
    if not values:
        raise ValueError(f"{flag} is empty: give at least one value")
    return values


@register("passkey")
class PasskeyTask(Task):
    name = "passkey"
    group_by = ("length", "depth")
    option_defaults = {"passkey_lengths": (256, 512), "passkey_depths": (0.0, 0.5, 1.0), "passkey_trials": 2}

    @classmethod
    def add_arguments(cls, parser) -> None:
        defaults = PasskeyTask.option_defaults
        parser.add_argument("--passkey-lengths", default=",".join(map(str, defaults["passkey_lengths"])),
                            help="approximate tokens, comma-separated (default %(default)s)")
        parser.add_argument("--passkey-depths", default=",".join(f"{d:g}" for d in defaults["passkey_depths"]),
                            help="where the key is hidden, as shares of the filler: 0 = its start, 1 = its end, "
                                 "comma-separated (default %(default)s)")
        parser.add_argument("--passkey-trials", type=int, default=defaults["passkey_trials"],
                            help="prompts per (length, depth) cell (default %(default)s)")

    @classmethod
    def configure(cls, args, options: TaskOptions, out: Path, backend) -> None:
        options.set("passkey_lengths", _numbers(args.passkey_lengths, int, "--passkey-lengths"))
        options.set("passkey_depths", _numbers(args.passkey_depths, float, "--passkey-depths"))
        options.set("passkey_trials", args.passkey_trials)

    def extra_scores(self, problems: list[Problem], records: list[dict], n: int) -> dict:
        """Accuracy per (length, depth) cell, over every sample of its problems."""
        meta = {p.id: p.meta for p in problems}
        cells: dict = defaultdict(list)
        for r in records:
            m = meta[r["problem_id"]]
            cells[(m["length"], m["depth"])].append(bool(r["correct"]))
        return {"grid": [{"length": L, "depth": d, "accuracy": 100 * sum(v) / len(v)}
                         for (L, d), v in sorted(cells.items())]}

    def report_lines(self, result: dict, out: Path) -> list[str]:
        if not result.get("grid"):
            return []
        heatmap(result["grid"], out / "passkey.png")
        return ["", "![passkey](passkey.png)", ""]

    def load(self, options: TaskOptions) -> TaskData:
        if not all(0 <= d <= 1 for d in options.passkey_depths):  # (nan included)
            raise ValueError(f"passkey depths must be within 0..1, got {options.passkey_depths}")
        if not all(length >= 1 for length in options.passkey_lengths):
            raise ValueError(f"passkey lengths must be >= 1 token, got {options.passkey_lengths}")
        if options.passkey_trials < 1:
            raise ValueError(f"--passkey-trials must be >= 1, got {options.passkey_trials}")
        rng = random.Random(1234)
        problems = []
        for length in options.passkey_lengths:
            for depth in options.passkey_depths:
                for trial in range(options.passkey_trials):
                    key = rng.randint(10000, 99999)
                    content = LEAD + haystack(length, depth, key) + QUESTION
                    problems.append(Problem(f"len{length}-depth{depth:g}-{trial}", [{"role": "user", "content": content}],
                                            str(key), {"length": length, "depth": depth}))
        problems = apply_limit(problems, options.limit)
        info = {"source": "generated (seed 1234)", "n_problems": len(problems), "lengths": list(options.passkey_lengths),
                "depths": list(options.passkey_depths), "trials": options.passkey_trials,
                "dataset_hash": digest([(p.id, p.gold) for p in problems]), "prompt_hash": digest([LEAD, QUESTION])}
        return TaskData(problems, info)

    def grade(self, problem: Problem, completion: Completion, options: TaskOptions) -> dict:
        if completion.error:
            return {"status": "request_failed", "correct": False, "extracted": None, "error": completion.error}
        answer = split_reasoning(completion.text, completion.think_open).answer
        if answer is None:
            return {"status": "truncated" if completion.finish_reason == "length" else "no_answer", "correct": False,
                    "extracted": None}
        if completion.finish_reason == "length":  # as math answers: a cut reply is wrong whatever it holds
            return {"status": "truncated", "correct": False, "extracted": answer[:80]}
        # the key as a whole number: `9677671` holds 67767 as a substring, not as the key
        found = re.search(rf"(?<![0-9]){re.escape(problem.gold)}(?![0-9])", answer) is not None
        return {"status": "correct" if found else "wrong", "correct": found, "extracted": answer[:80]}


def heatmap(grid: list[dict], path: Path, title: str = "Passkey retrieval",
            xlabel: str = "context length (approx. tokens)") -> None:
    """Accuracy by context length (columns) and depth of the key (rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = sorted({c["length"] for c in grid})
    depths = sorted({c["depth"] for c in grid})
    acc = {(c["length"], c["depth"]): c["accuracy"] for c in grid}
    matrix = [[acc.get((L, d), float("nan")) for L in lengths] for d in depths]
    fig, ax = plt.subplots(figsize=(1.2 * len(lengths) + 2, 0.6 * len(depths) + 2))
    image = ax.imshow(matrix, vmin=0, vmax=100, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(lengths)), [str(L) for L in lengths])
    ax.set_yticks(range(len(depths)), [f"{d:g}" for d in depths])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("depth of the pass key")
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, label="accuracy (%)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
