"""Translate LiveCodeBench statements to Korean through any backend, cached, with a survival check.

Only `question_content` is translated. The check requires that the translation is Korean (MIN_HANGUL_SHARE of
its prose's letters Hangul, and no code block the source lacks: an echo or the model's solution is not one) and
that everything a solver needs verbatim survives: inline code and fenced blocks, $...$ math, every number (as a
multiset), and every sample I/O line (a line with no letters). A translation that fails the check is retried once with another seed, then excluded with the
reason. The cache is a JSON file keyed by the source text's hash and the translator; its hash versions the set.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from axk1.atomic_file import write_text_atomic
from axk1.eval.backends import Backend, Request, Sampling
from axk1.text.reasoning import split_reasoning
from axk1.eval.provenance import digest
from axk1.json_text import read_json_file
from axk1.text.korean import SYLLABLE_CLASS
from axk1.text.prose import ENGLISH_WORD, MIN_HANGUL_SHARE, prose, prose_hangul_share

PROMPT = ("Translate the following competitive programming problem statement from English into natural Korean. "
          "Keep every LaTeX expression, inline code, identifier, number, and every sample input/output block "
          "exactly as it is. Reply with the translation only.\n\n{text}")
# how often the translations made so far are saved while more arrive: the cache is one JSON file, rewritten whole
SAVE_EVERY_S = 10.0
NUMBER = re.compile(r"(?<![A-Za-z_])-?\d+(?:\.\d+)?")


@dataclass
class Translation:
    text: str | None
    ok: bool
    problems: list[str]  # what did not survive (empty when ok), or why the request failed
    failed: bool = False  # the request failed (no reply): not the translation's fault, asked again next run


def protected_spans(text: str) -> list[str]:
    spans = re.findall(r"```.*?```", text, flags=re.S)
    rest = re.sub(r"```.*?```", " ", text, flags=re.S)
    spans += re.findall(r"`[^`\n]+`", rest)
    spans += re.findall(r"\$[^$]+\$", rest)
    return spans


def io_lines(text: str) -> list[str]:
    """Sample-I/O-looking lines: non-empty, no letters (e.g. '3', '1 2 3', '-1 .#.')."""
    return [line.strip() for line in text.split("\n")
            if line.strip() and not re.search(f"[A-Za-z{SYLLABLE_CLASS}]", line) and not line.strip().startswith("$")]


FENCE = re.compile(r"```.*?```", re.S)
SHORT_LINE_WORDS = 4


def hangul_share(source: str, translated: str) -> float | None:
    """prose_hangul_share of the translation's prose, None when it has none. Not prose: math, code and LaTeX
    commands (axk1/text/prose.py's prose); English words under two letters (`N`, `A_i`: identifiers); and a line
    copied from the source with fewer than SHORT_LINE_WORDS words (sample I/O, `N M`, headings such as `Sample
    Input 1` that a translator keeps). A sentence left in English counts as English, copied or not."""
    kept = {line.strip() for line in source.split("\n")}
    lines = []
    for line in FENCE.sub("\n", translated).split("\n"):
        text = prose(line)  # line by line: a `$` left alone on one line must not pair with one on another
        if line.strip() not in kept or len(ENGLISH_WORD.findall(text)) >= SHORT_LINE_WORDS:
            lines.append(text)
    return prose_hangul_share("\n".join(lines))


def korean_problems(source: str, translated: str) -> list[str]:
    """Why `translated` is not a Korean statement of `source`: a code block the source does not have (the model
    solved the problem instead), or too little Korean in its prose (an echo, an English reply)."""
    problems = [f"a code block the source does not have ({block[:40]!r}): an answer, not a translation"
                for block in FENCE.findall(translated) if block not in source][:1]
    share = hangul_share(source, translated)
    if share is None:
        problems.append("not translated: no prose (only math, code, sample lines or headings)")
    elif share < MIN_HANGUL_SHARE:
        problems.append(f"not Korean: {share:.0%} of the prose's letters are Hangul "
                        f"(a translation needs {MIN_HANGUL_SHARE:.0%})")
    return problems


def survival_problems(source: str, translated: str) -> list[str]:
    """Everything wrong with `translated` as the Korean statement of `source`: what did not survive verbatim
    (spans, numbers, sample lines) and korean_problems. Empty when the translation is usable."""
    problems = korean_problems(source, translated)
    problems += [f"lost span {s[:40]!r}" for s in protected_spans(source) if s not in translated]
    have, want = Counter(NUMBER.findall(translated)), Counter(NUMBER.findall(source))
    missing = want - have
    if missing:
        problems.append(f"lost numbers {sorted(missing)[:10]}")
    translated_lines = {line.strip() for line in translated.split("\n")}
    problems += [f"lost sample line {line[:40]!r}" for line in io_lines(source) if line not in translated_lines]
    return problems


class TranslationCache:
    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self.entries: dict = {}
        if self.path and self.path.exists():
            self.entries = read_json_file(self.path, "delete it (a cache: what it held is translated again)",
                                          what="translation cache", need_object=True)

    def save(self) -> None:
        if self.path:  # a temporary name of this process's: two evals sharing a cache raced on one `.tmp`
            write_text_atomic(self.path, json.dumps(self.entries, ensure_ascii=False, indent=1, sort_keys=True))


def translate_all(texts: dict[str, str], backend: Backend, cache: TranslationCache, sampling: Sampling | None = None,
                  retries: int = 1) -> tuple[dict[str, Translation], str]:
    """{id: English} -> ({id: Translation}, version hash of the translations used)."""
    sampling = sampling or Sampling(temperature=0.3, top_p=0.95, max_tokens=8192, thinking=False)
    translator = digest(backend.describe())
    key_of = {pid: digest([text, translator, PROMPT]) for pid, text in texts.items()}
    results: dict[str, Translation] = {}
    # not cached yet, or cached as a request that failed (a 503 of an overloaded translator must not drop the
    # problem from every later run: only what the survival check refuses is final), or refused with its retry
    # still to come when the run was stopped
    todo = [pid for pid in texts if key_of[pid] not in cache.entries or cache.entries[key_of[pid]].get("failed")
            or cache.entries[key_of[pid]].get("retry")]
    saved = [time.monotonic()]

    def keep(pid: str, completion, last: bool) -> None:
        """A translation as it arrives, into the cache, which is saved (atomically) every SAVE_EVERY_S: the
        cache used to be saved only once every translation was made, so a Ctrl-C, a SIGTERM or a lost connection
        an hour into the LCB-ko translation on a local translator lost every one of them. `last`: no retry after."""
        answer = split_reasoning(completion.text, completion.think_open).answer
        problems = ([completion.error] if completion.error else []) or \
            (["no translation (thinking never ended)"] if answer is None else survival_problems(texts[pid], answer))
        cache.entries[key_of[pid]] = {"text": answer, "ok": not problems, "problems": problems,
                                      "translator": translator, **({"failed": True} if completion.error else {}),
                                      **({"retry": True} if problems and not last else {})}
        if time.monotonic() - saved[0] >= SAVE_EVERY_S:
            cache.save()
            saved[0] = time.monotonic()

    try:
        for attempt in range(retries + 1):
            if not todo:
                break
            requests = [Request([{"role": "user", "content": PROMPT.format(text=texts[pid])}], seed=attempt)
                        for pid in todo]
            last, arrived = attempt == retries, set()

            def done(i: int, completion, asked: list[str] = todo) -> None:
                arrived.add(i)
                keep(asked[i], completion, last)

            completions = backend.generate(requests, sampling, done=done)
            for i, (pid, completion) in enumerate(zip(todo, completions)):
                if i not in arrived:  # a backend that answers a batch at once may leave `done` uncalled
                    keep(pid, completion, last)
            todo = [pid for pid in todo if cache.entries[key_of[pid]].get("retry")]
    finally:  # an interrupted translation keeps what it got: the next run asks only for the rest
        cache.save()
    for pid in texts:
        e = cache.entries[key_of[pid]]
        results[pid] = Translation(e["text"], e["ok"], e["problems"], bool(e.get("failed")))
    version = digest(sorted((pid, t.text) for pid, t in results.items() if t.ok))
    return results, version
