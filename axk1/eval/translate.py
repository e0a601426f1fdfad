"""Translate LiveCodeBench statements to Korean through any backend, cached, with a survival check.

Only `question_content` is translated. The check requires that everything a solver needs verbatim survives:
inline code and fenced blocks, $...$ math, every number (as a multiset), and every sample I/O line (a line with
no letters). A translation that fails the check is retried once with another seed, then excluded with the
reason. The cache is a JSON file keyed by the source text's hash and the translator; its hash versions the set.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from axk1.eval.backends import Backend, Request, Sampling
from axk1.text.reasoning import split_reasoning
from axk1.eval.provenance import digest
from axk1.json_text import read_json_file
from axk1.text.korean import SYLLABLE_CLASS

PROMPT = ("Translate the following competitive programming problem statement from English into natural Korean. "
          "Keep every LaTeX expression, inline code, identifier, number, and every sample input/output block "
          "exactly as it is. Reply with the translation only.\n\n{text}")
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


def survival_problems(source: str, translated: str) -> list[str]:
    problems = [f"lost span {s[:40]!r}" for s in protected_spans(source) if s not in translated]
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
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.entries, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
            tmp.replace(self.path)


def translate_all(texts: dict[str, str], backend: Backend, cache: TranslationCache, sampling: Sampling | None = None,
                  retries: int = 1) -> tuple[dict[str, Translation], str]:
    """{id: English} -> ({id: Translation}, version hash of the translations used)."""
    sampling = sampling or Sampling(temperature=0.3, top_p=0.95, max_tokens=8192, thinking=False)
    translator = digest(backend.describe())
    key_of = {pid: digest([text, translator, PROMPT]) for pid, text in texts.items()}
    results: dict[str, Translation] = {}
    # not cached yet, or cached as a request that failed (a 503 of an overloaded translator must not drop the
    # problem from every later run: only what the survival check refuses is final)
    todo = [pid for pid in texts if key_of[pid] not in cache.entries or cache.entries[key_of[pid]].get("failed")]
    for attempt in range(retries + 1):
        if not todo:
            break
        requests = [Request([{"role": "user", "content": PROMPT.format(text=texts[pid])}], seed=attempt)
                    for pid in todo]
        completions = backend.generate(requests, sampling)
        still = []
        for pid, completion in zip(todo, completions):
            answer = split_reasoning(completion.text, completion.think_open).answer
            problems = ([completion.error] if completion.error else []) or \
                (["no translation (thinking never ended)"] if answer is None else survival_problems(texts[pid], answer))
            entry = {"text": answer, "ok": not problems, "problems": problems, "translator": translator,
                     **({"failed": True} if completion.error else {})}
            cache.entries[key_of[pid]] = entry
            if problems and attempt < retries:
                still.append(pid)
        todo = still
    cache.save()
    for pid in texts:
        e = cache.entries[key_of[pid]]
        results[pid] = Translation(e["text"], e["ok"], e["problems"], bool(e.get("failed")))
    version = digest(sorted((pid, t.text) for pid, t in results.items() if t.ok))
    return results, version
