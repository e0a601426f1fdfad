"""Passkey retrieval: a 5-digit number hidden at several depths in filler of several lengths.

A length is the whole prompt's tokens (chat template, lead text, needle and question included), counted with the
model's tokenizer where the backend can count (a model folder, hf:, a server with vLLM's /tokenize) and filled to
at most that; elsewhere estimated at 4 characters a token (the filler is plain English). A length whose prompt and
--max-tokens cannot fit the model's context is refused before any request. Accuracy per (length, depth)."""

from __future__ import annotations

import math
import random
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from axk1.eval.backends import Completion
from axk1.eval.provenance import digest
from axk1.eval.tasks.base import (Problem, Task, TaskData, TaskOptions, answer_record, apply_limit, flag,
                                  register)

FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
LEAD = ("There is an important piece of information hidden inside a lot of irrelevant text. Find it and memorise "
        "it; I will ask you about it.\n\n")
QUESTION = "\n\nWhat is the pass key? Reply with the number only."
CHARS_PER_TOKEN = 4  # the estimate where the backend cannot count tokens (~1.6x off for a BPE tokenizer)
FIT_TRIES = 8  # token counts per prompt while filling it (each a request on a server): 4-6 in practice


def haystack(n_chars: int, depth: float, key: int) -> str:
    """`n_chars` of filler with the needle at `depth` of it, at a sentence boundary."""
    filler = (FILLER * (n_chars // len(FILLER) + 1))[:n_chars]
    cut = filler.rfind(". ", 0, int(len(filler) * depth) + 1)
    cut = 0 if cut < 0 or depth == 0 else cut + 2
    needle = f"The pass key is {key}. Remember it. {key} is the pass key. "
    return filler[:cut] + needle + filler[cut:]


def content(n_chars: int, depth: float, key: int) -> str:
    return LEAD + haystack(n_chars, depth, key) + QUESTION


def sized_content(length: int, depth: float, key: int, count) -> tuple[str, int | None]:
    """(the user message, its prompt's tokens): the most filler whose whole prompt is at most `length` tokens by
    `count(messages)` (the backend's count, chat template included), found by a few counts from the measured
    tokens a character; only the fixed text where that alone is longer. Without `count`, `length` x 4 characters
    in all (tokens unknown: None)."""
    if count is None:
        return content(max(0, length * CHARS_PER_TOKEN - len(content(0, depth, key))), depth, key), None
    try:
        return _fill(length, depth, key, count)
    except _Uncounted:  # any count, not only the first, may fail (a server's /tokenize timed out): the estimate
        return sized_content(length, depth, key, None)


class _Uncounted(Exception):
    """The backend's count gave None: this prompt cannot be counted."""


def _fill(length: int, depth: float, key: int, count) -> tuple[str, int]:
    def tokens(n_chars: int) -> int:
        n = count([{"role": "user", "content": content(n_chars, depth, key)}])
        if n is None:
            raise _Uncounted
        return n

    base = tokens(0)
    best = (0, base)
    if base >= length:
        return content(0, depth, key), base
    n = (length - base) * CHARS_PER_TOKEN
    t = tokens(n)
    per_char = max((t - base) / n, 1e-3)
    for _ in range(FIT_TRIES):
        if best[1] < t <= length:
            best = (n, t)
        step = math.floor((length - t) / per_char)  # a token over: at least one character back
        if t == length or step == 0:
            break
        n = max(0, n + step)
        t = tokens(n)
    if best[1] < t <= length:
        best = (n, t)
    return content(best[0], depth, key), best[1]


def check_fits(lengths, context: int | None, max_tokens: int) -> None:
    """Refuse, before any request, a length whose prompt with --max-tokens exceeds the model's context (a server
    refuses it every time, so its cells could never be measured), naming the longest length that fits."""
    too_long = [L for L in lengths if context is not None and L + max_tokens > context]
    if not too_long:
        return
    fits = context - max_tokens
    hint = (f"the longest length that fits is {fits}: drop or lower {', '.join(map(str, too_long))}" if fits >= 1 else
            f"--max-tokens {max_tokens} leaves no room for any prompt: lower it (a passkey reply needs ~16 tokens)")
    raise ValueError(f"--passkey-lengths {','.join(map(str, too_long))}: a prompt of that many tokens and --max-tokens "
                     f"{max_tokens} exceed the model's context of {context} tokens; {hint}")


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


def _prompts(cells, count) -> tuple[list[Problem], dict[int, int], int]:
    """(the problems, {a length below its prompt's fixed text: the tokens that text takes}, how many prompts were
    counted before a count failed: all of them, or where the caller must size them again by the estimate)."""
    problems = []
    short: dict[int, int] = {}
    for i, (length, depth, trial, key) in enumerate(cells):
        text, tokens = sized_content(length, depth, key, count)
        if tokens is None and count is not None:  # the backend could not count this one: the caller decides
            return problems, short, i
        fixed = tokens if tokens is not None else math.ceil(len(text) / CHARS_PER_TOKEN)
        if fixed > length:  # no filler at all, and still longer: the prompt would be labelled a length it is not
            short[length] = max(short.get(length, 0), fixed)
        problems.append(Problem(f"len{length}-depth{depth:g}-{trial}", [{"role": "user", "content": text}],
                                str(key), {"length": length, "depth": depth, "prompt_tokens": tokens}))
    return problems, short, len(cells)


@dataclass
class PasskeyOptions(TaskOptions):
    passkey_lengths: tuple[int, ...] = (256, 512)
    passkey_depths: tuple[float, ...] = (0.0, 0.5, 1.0)
    passkey_trials: int = 2
    # the backend's token count of a chat, (messages) -> int | None, set by configure (None: the estimate)
    passkey_count: Callable | None = None
    passkey_context: int | None = None  # the model's context, where the backend knows it


@dataclass
class PasskeyConfig:
    # comma-separated on the command line, a TOML array or the same text in a --config file
    passkey_lengths: str | list[int] = flag(
        ",".join(map(str, PasskeyOptions.passkey_lengths)), "the whole prompt's tokens, comma-separated: counted "
        "with the model's tokenizer where the backend can, else estimated at 4 characters a token")
    passkey_depths: str | list[float] = flag(
        ",".join(f"{d:g}" for d in PasskeyOptions.passkey_depths), "where the key is hidden, as shares of the "
        "filler: 0 = its start, 1 = its end, comma-separated")
    passkey_trials: int = flag(PasskeyOptions.passkey_trials, "prompts per (length, depth) cell")

    def validate(self) -> None:  # before a model loads (load() checks the Options again for a library caller)
        if any(n < 1 for n in _numbers(self.passkey_lengths, int, "--passkey-lengths")):
            raise ValueError(f"passkey lengths must be >= 1 token, got {self.passkey_lengths}")
        if self.passkey_trials < 1:
            raise ValueError(f"--passkey-trials must be >= 1, got {self.passkey_trials}")
        if any(not 0 <= d <= 1 for d in _numbers(self.passkey_depths, float, "--passkey-depths")):
            raise ValueError(f"--passkey-depths are shares of the filler, each from 0 (its start) to 1 (its end): got "
                             f"{self.passkey_depths!r}")


@register("passkey")
class PasskeyTask(Task):
    name = "passkey"
    group_by = ("length", "depth")
    length_flag = "--passkey-lengths"
    Config = PasskeyConfig
    Options = PasskeyOptions

    @classmethod
    def configure(cls, cfg, options: PasskeyOptions, out: Path, backend) -> None:
        options.passkey_lengths = _numbers(cfg.passkey_lengths, int, "--passkey-lengths")
        options.passkey_depths = _numbers(cfg.passkey_depths, float, "--passkey-depths")
        options.passkey_trials = cfg.passkey_trials
        thinking = {"on": True, "off": False}.get(cfg.thinking)  # as the run's requests
        options.passkey_count = lambda messages: backend.prompt_tokens(messages, thinking)
        options.passkey_context = backend.context_length()
        check_fits(options.passkey_lengths, options.passkey_context, cfg.max_tokens)

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

    def load(self, options: PasskeyOptions) -> TaskData:
        if not all(0 <= d <= 1 for d in options.passkey_depths):  # (nan included)
            raise ValueError(f"passkey depths must be within 0..1, got {options.passkey_depths}")
        if not all(length >= 1 for length in options.passkey_lengths):
            raise ValueError(f"passkey lengths must be >= 1 token, got {options.passkey_lengths}")
        if options.passkey_trials < 1:
            raise ValueError(f"--passkey-trials must be >= 1, got {options.passkey_trials}")
        rng = random.Random(1234)
        count = options.passkey_count
        cells = []
        for length in options.passkey_lengths:
            for depth in options.passkey_depths:
                for trial in range(options.passkey_trials):
                    cells.append((length, depth, trial, rng.randint(10000, 99999)))
        cells = apply_limit(cells, options.limit)  # only the prompts asked for are counted
        problems, short, counted = _prompts(cells, count)
        failed_after = None
        if count is not None and counted < len(cells):  # one sizing per run: a length means one thing in it
            failed_after, count = counted, None
            problems, short, _ = _prompts(cells, None)
            if failed_after:
                print(f"axk1 eval: warning: passkey: the backend's token count failed after {failed_after} of "
                      f"{len(cells)} prompts; every prompt is sized by the estimate ({CHARS_PER_TOKEN} characters a "
                      "token) instead, so the lengths of this run are all estimates", file=sys.stderr, flush=True)
        if short:
            need = max(short.values())
            how = "counted by the backend" if count is not None else f"estimated at {CHARS_PER_TOKEN} characters a token"
            raise ValueError(f"--passkey-lengths {','.join(map(str, sorted(short)))}: shorter than the prompt's fixed "
                             f"text alone (chat template, lead, needle and question: {need} tokens, {how}), so no "
                             f"prompt of that length exists; the smallest length that holds it is {need}")
        sizing = ("the whole prompt's tokens, counted by the backend" if count is not None
                  else f"estimated at {CHARS_PER_TOKEN} characters a token (the backend cannot count tokens)")
        if failed_after:
            sizing = (f"estimated at {CHARS_PER_TOKEN} characters a token for every prompt (the backend's count "
                      f"failed after {failed_after} of {len(cells)} prompts)")
        info = {"source": "generated (seed 1234)", "n_problems": len(problems), "lengths": list(options.passkey_lengths),
                "depths": list(options.passkey_depths), "trials": options.passkey_trials, "sizing": sizing,
                "dataset_hash": digest([(p.id, p.gold) for p in problems]), "prompt_hash": digest([LEAD, QUESTION])}
        return TaskData(problems, info)

    def grade(self, problem: Problem, completion: Completion, options: TaskOptions) -> dict:
        record, answer = answer_record(completion)
        if answer is None:  # the request failed, or no answer (with why), or truncated in its reasoning
            return record
        if completion.finish_reason == "length":  # as math answers: a cut reply is wrong whatever it holds
            return {"status": "truncated", "correct": False, "extracted": answer[:80]}
        # the key as a whole number: `9677671` holds 67767 as a substring, not as the key
        found = re.search(rf"(?<![0-9]){re.escape(problem.gold)}(?![0-9])", answer) is not None
        return {"status": "correct" if found else "wrong", "correct": found, "extracted": answer[:80]}


def heatmap(grid: list[dict], path: Path, title: str = "Passkey retrieval",
            xlabel: str = "prompt length (tokens)") -> None:
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
