"""Quality and repetition heuristics on prose, as a datatrove filter, each removal with a reason.

Thresholds start from FineWeb-2's Korean configuration (kor_Hang, docs/data.md); all are settable in pipeline.toml
under [filters.quality]. Two rules have thresholds of their own for other languages, Gopher's English ones over the
words between spaces as Gopher measures them: the average word length (3 to 10 characters; the Korean 1 to 6 over
Kiwi morphemes removed English pages of documentation or law, whose words run over 6 letters) and the share of
words holding a letter (80%; the Korean 79.1% over Kiwi's words, where every punctuation mark and every piece of a
code line is a word, removed 9 of 48 real English documentation pages). English documents (language "en") also
take Gopher's stop-word rule, which FineWeb keeps: at least 2 of "the, be, to, of, and, that, have, with" (keyword
spam and pages of code have none; the Korean stop-word rule is Korean only). Languages written without spaces
(NO_SPACE_LANGUAGES: Japanese, Chinese, Thai...) have no words between spaces: they take the Korean letter-share
rule over the tokenizer's words and no word-length rule; Japanese and Chinese documents count their words from their
characters (the figures above _SPACED_RUN_RE). Code documents skip the prose filters and go through
axk1/data/code_filter.py instead.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate, find_top_duplicate, get_n_grams

from axk1.data.filter_entry import FilterEntry
from axk1.text.korean import normalize_text, word_tokenize

KOREAN_STOP_WORDS = ("의", "다", "이", "는", "에", "을", "한", "년", "하", "은", "를", "했", "고", "에서", "가", "있",
                     "으로", "인", "월", "로", "되")
# Gopher's English stop words (Rae et al. 2021; FineWeb's GopherQualityFilter keeps them)
ENGLISH_STOP_WORDS = frozenset(("the", "be", "to", "of", "and", "that", "have", "with"))
_PARTICLE_ENDINGS = ("는", "은", "이", "가", "을", "를", "의", "에", "에서", "로", "으로", "다", "고", "도")
# Full-width and half-width forms too: Chinese and Japanese lines end in ！？：；） and quotes in 」』, and a page of
# them (dialogue, questions) failed line_punct_ratio with no line counted as ending in punctuation.
_END_PUNCT = (".", "!", "?", "。", "…", "\"", "'", "”", "’", ":", ";", ")", "다", "요",
              "．", "！", "？", "：", "；", "）", "」", "』", "｡", "｣")
_WORD_EDGES = "\"'“”‘’()[]{}<>.,;:!?*_-"  # around an English word between spaces: "(the", "that,", "*and*"
_BLANK_LINES_RE = re.compile(r"\n\s*\n")
# Languages written without spaces between words (fastText lid.176's labels, as axk1/data/lid.py stores them). Split
# at spaces, a Japanese or Chinese paragraph is one "word" of a hundred characters, and every such document failed
# avg_word_too_long under Gopher's measure. Neither tokenizer finds their words either (Kiwi and the regex keep a
# Hanzi or Thai run whole: a clause's length, 6 to 13 characters), so they take no word-length rule, and the
# letter-share rule over the tokenizer's words with single punctuation marks left out, as Korean does.
# A fixed list, not a count of spaces: a page's few spaced English words would otherwise decide the measure.
NO_SPACE_LANGUAGES = frozenset(("ja", "zh", "yue", "wuu", "th", "lo", "km", "my", "bo"))
# The word-count rules' thresholds (FineWeb-2's) count Kiwi morphemes; the "regex" tokenizer's Korean words are
# eojeol, about two morphemes each (2.07 median Kiwi words per regex word over konlpy's ten bills and the
# constitution, 1.74 to 2.30). Counted as they are, a bill's 884 eojeol over 183 line breaks made 0.207 breaks a
# word, over the 0.196 limit: every real bill was removed as a list. A Korean document's eojeol count twice.
EOJEOL_MORPHEMES = 2.0
# Japanese and Chinese have no word boundaries a tokenizer here finds: Kiwi and the regex give clauses (a real
# 160-character Japanese notice was 10 regex words, a 120-character Chinese one 10 and 20 Kiwi words) and every short
# real page failed too_few_words. Their words are counted as characters (spaces left out) over a segmented corpus's
# characters per word, punctuation counted on both sides as the corpora count it: UD Japanese-GSD (short-unit words)
# 1.64 in dev and test; UD Chinese-GSDSimp 1.58 and 1.60, the SIGHAN 2005 bakeoff's PKU and MSR training sets 1.65
# and 1.71 (docs/data.md). A run of letters or digits of a spaced script ("iPhone", "2024") is one word, as there.
_SPACED_RUN_RE = re.compile(r"[^\W\u2e80-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003ffff]+")
# A sentence's end in Japanese and Chinese: its closing marks and, before them (or before a line's end), the run of
# hiragana that inflects its verb ("起き|ました。", "住んで|います。", "です。"). A diary or a recipe of short
# sentences that all end alike was removed by the top n-gram rules: "ました" was 0.33 of a real 16-sentence diary's
# characters (the 2-gram limit is 0.282), "ます。" 0.16 of a recipe's steps. The top n-gram rules leave these ends
# out (the share stays over the whole text); a phrase repeated is still caught by them, its words are not endings,
# and by the duplicated n-gram rules, which count every character. A match starts only where a hiragana run does
# (the lookbehind): tried from every position inside a long run, each try scanned to the run's end (quadratic: a
# 40,000-character run took 16 s).
_KANA = r"[\u3041-\u309f\u30fc]"
_SENTENCE_END_RE = re.compile(rf"(?<!{_KANA}){_KANA}*[。．！？｡!?」』）]+|(?<!{_KANA}){_KANA}+(?=\n|$)")


@dataclass
class QualityConfig:
    word_tokenizer: str = "kiwi"            # "kiwi" (morphemes, as FineWeb-2) or "regex"
    min_words: int = 50
    max_words: int = 100_000                # a web page's limit (Gopher, FineWeb); 0 = none
    max_words_pdf: int = 0                  # a PDF is a document however long (a 151-page manual holds 124K
    # morphemes: every Korean book was removed as too_many_words); 0 = no limit
    min_avg_word_length: float = 1.0        # Korean documents (metadata.language "ko"), over word_tokenizer's words:
    max_avg_word_length: float = 6.0        # FineWeb-2 kor_Hang over Kiwi morphemes; ~12 suits "regex" eojeol
    min_avg_word_length_other: float = 3.0  # any other language, over the words between spaces: Gopher's and
    max_avg_word_length_other: float = 10.0  # FineWeb's English range (English words are not Korean morphemes);
    # max 0: no range of their own, the Korean one and its measure for every language (runs made before these keys)
    min_alpha_words_ratio: float = 0.791    # Korean: FineWeb-2 kor_Hang "max_non_alpha_words_ratio" (datatrove: share
    # of words with a letter), over word_tokenizer's words
    min_alpha_words_ratio_other: float = 0.8  # any other language: Gopher's English 80%, over the words between
    # spaces; 0: no threshold of its own, the Korean one and its measure for every language (runs made before this key)
    min_stop_words: int = 2                 # Korean documents: FineWeb-2 kor_Hang's stop words
    min_stop_words_en: int = 2              # English documents: Gopher's (ENGLISH_STOP_WORDS), counted over the
    # words between spaces, any case, punctuation stripped ("The" and "that," count); 0: no English rule (runs made
    # before this key)
    chars_per_word_ja: float = 1.64         # Japanese and Chinese documents count their words as their
    chars_per_word_zh: float = 1.6          # characters over this (the figures above _SPACED_RUN_RE); 0: the
    # tokenizer's words, clauses in these languages, as runs made before these keys counted them
    min_line_punct_ratio: float = 0.062
    max_new_line_ratio: float = 0.196
    max_dup_line_frac: float = 0.374
    max_char_dup_ratio: float = 0.1
    # n -> the share of the text's characters above which a document is excluded (FineWeb-2 kor_Hang)
    top_n_grams: dict[int, float] = field(default_factory=lambda: {2: 0.282, 3: 0.228, 4: 0.185})
    dup_n_grams: dict[int, float] = field(default_factory=lambda: {5: 0.201, 6: 0.184, 7: 0.168, 8: 0.154, 9: 0.14,
                                                                   10: 0.127})

    def __post_init__(self) -> None:
        if self.word_tokenizer not in ("kiwi", "regex"):  # was met inside a worker, as its traceback
            raise ValueError(f"filters.quality.word_tokenizer = {self.word_tokenizer!r}: use \"kiwi\" (Korean "
                             "morphemes, as FineWeb-2) or \"regex\"")
        # the TOML reader checked the types (keys in digits, finite numbers); a table given in code may have
        # string keys. A share < 0 excluded every document without a word, and so does 0 for the top n-gram (every
        # text has one); 0 for duplicated n-grams means "none at all"
        self.top_n_grams = {int(k): float(v) for k, v in self.top_n_grams.items()}
        self.dup_n_grams = {int(k): float(v) for k, v in self.dup_n_grams.items()}
        for key, table, low in (("top_n_grams", self.top_n_grams, "(0"), ("dup_n_grams", self.dup_n_grams, "[0")):
            for n, share in table.items():
                if n < 1 or not 0 <= share <= 1 or (share == 0 and low == "(0"):
                    raise ValueError(f"filters.quality.{key} = {{ {n} = {share} }}: keys are n-gram lengths >= 1, "
                                     f"values shares of the text's characters in {low}, 1] (1 turns that n off)")
        if self.min_stop_words_en < 0:  # no document has fewer than 0: the rule would be off without saying so
            raise ValueError(f"filters.quality.min_stop_words_en = {self.min_stop_words_en}: a count of words, 0 "
                             "(no English stop-word rule) or more")
        for key in ("chars_per_word_ja", "chars_per_word_zh"):
            if getattr(self, key) != 0 and not getattr(self, key) >= 1:  # below 1 a word is less than a character
                raise ValueError(f"filters.quality.{key} = {getattr(self, key)}: characters a word, 1 or more (the "
                                 "default is a segmented corpus's figure, docs/data.md), or 0 to count the "
                                 "tokenizer's words")
        for key in ("min_alpha_words_ratio", "min_alpha_words_ratio_other"):
            if not 0 <= getattr(self, key) <= 1:  # a share: above 1 removed every document as non_alpha_words
                raise ValueError(f"filters.quality.{key} = {getattr(self, key)}: a share of the words, from 0 to 1")


def is_prose(doc: Document) -> bool:
    return doc.metadata.get("source_type") != "code"


def skips_prose_filters(doc: Document) -> bool:
    """Code (it has its own filter) and documents marked skip_filters pass the prose filters untouched."""
    return not is_prose(doc) or doc.metadata.get("skip_filters", False)


def chars_per_word(cfg: QualityConfig, language: str | None) -> float:
    """The characters-per-word figure `language`'s words are counted by, or 0 (its tokenizer's words)."""
    return {"ja": cfg.chars_per_word_ja, "zh": cfg.chars_per_word_zh}.get(language or "", 0.0)


def words_from_chars(text: str, per_word: float) -> float:
    """How many words `text` holds, written without spaces at `per_word` characters a word: its characters but
    spaces, a run of letters or digits of a spaced script counting as one word."""
    spaced = _SPACED_RUN_RE.findall(text)
    chars = len("".join(text.split())) - sum(map(len, spaced))
    return len(spaced) + chars / per_word


def quality_reason(text: str, words: list[str], cfg: QualityConfig, korean: bool, pdf: bool = False,
                   english: bool = False, spaced: bool = True, per_word: float = 0.0) -> str | None:
    """Why the document fails a quality rule, or None. `spaced`: its language puts spaces between words (False for
    NO_SPACE_LANGUAGES); `per_word`: its words are counted from its characters (chars_per_word), 0 = `words`."""
    n = len(words)
    # in morphemes, the unit of the thresholds below (EOJEOL_MORPHEMES), or words of the segmented corpora
    if per_word:
        counted = words_from_chars(text, per_word)
    else:
        counted = n * EOJEOL_MORPHEMES if korean and cfg.word_tokenizer == "regex" else n
    if counted < cfg.min_words:
        return "too_few_words"
    limit = cfg.max_words_pdf if pdf else cfg.max_words
    if limit and counted > limit:
        return "too_many_words"
    between = text.split() if spaced and not korean else []  # Gopher's words: between spaces, punctuation attached
    if spaced or korean:  # no word length without word boundaries (NO_SPACE_LANGUAGES)
        if korean or not cfg.max_avg_word_length_other:
            avg, low, high = sum(map(len, words)) / n, cfg.min_avg_word_length, cfg.max_avg_word_length
        else:  # Gopher's measure for its range
            avg = sum(map(len, between)) / max(1, len(between))
            low, high = cfg.min_avg_word_length_other, cfg.max_avg_word_length_other
        if avg < low:
            return "avg_word_too_short"
        if avg > high:
            return "avg_word_too_long"
    if not spaced:  # the tokenizer's words, its single punctuation marks (、。，) left out as in Korean
        alpha, low = _alpha_words_ratio(words, drop_marks=True), cfg.min_alpha_words_ratio
    elif korean or not cfg.min_alpha_words_ratio_other:
        alpha, low = _alpha_words_ratio(words, korean), cfg.min_alpha_words_ratio
    else:  # Gopher's measure: punctuation stays on its word ("it." is one word with a letter, Kiwi's "it" and ".")
        alpha, low = _alpha_words_ratio(between, drop_marks=False), cfg.min_alpha_words_ratio_other
    if alpha < low:
        return "non_alpha_words"
    if korean:
        if cfg.word_tokenizer == "kiwi":
            stops = sum(1 for w in words if w in KOREAN_STOP_WORDS)
        else:  # eojeol: a particle or ending at the end of the word plays the stop word's part
            stops = sum(1 for w in words if len(w) > 1 and w.endswith(_PARTICLE_ENDINGS))
        if stops < cfg.min_stop_words:
            return "few_stop_words"
    elif english and cfg.min_stop_words_en and english_stop_words(text, cfg.min_stop_words_en) < cfg.min_stop_words_en:
        return "few_english_stop_words"
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if lines and sum(ln.endswith(_END_PUNCT) for ln in lines) / len(lines) < cfg.min_line_punct_ratio:
        return "line_punct_ratio"
    # Line breaks per word, a blank line counting as no break: a list has many short lines, while paragraphs
    # separated by blank lines (plain text, Markdown, PDF text) are not a list and would otherwise count double.
    if _BLANK_LINES_RE.sub("\n", text).count("\n") / counted > cfg.max_new_line_ratio:
        return "list_ratio"
    return None


def english_stop_words(text: str, enough: int) -> int:
    """How many of the words between spaces are Gopher's English stop words, counting stopped at `enough` (a long
    page is decided by its first sentences). Case and the punctuation around a word are ignored, so a sentence's
    first "The" and a "that," before a comma count."""
    found = 0
    for w in text.split():
        if w.strip(_WORD_EDGES).lower() in ENGLISH_STOP_WORDS:
            found += 1
            if found >= enough:
                break
    return found


def _alpha_words_ratio(words: list[str], drop_marks: bool) -> float:
    """Share of the words holding a letter. Kiwi makes every punctuation mark a word of its own, so in Korean the
    single marks (. , ( ) 「 」 · -) are left out of the count: a National Assembly bill's dates, article numbers and
    brackets made 23 to 27% of its words letterless and two of konlpy's ten bills failed (0.766 and 0.735, 0.845
    and later without the marks; number lists stay at 0 to 0.33, symbol spam at 0.13). Digits and symbols (★ ■ ○
    emoji) still count as words without a letter."""
    if drop_marks:
        words = [w for w in words if not (len(w) == 1 and unicodedata.category(w).startswith("P"))] or words
    return sum(any(c.isalpha() for c in w) for w in words) / max(1, len(words))


def repetition_reason(text: str, words: list[str], cfg: QualityConfig, per_word: float = 0.0) -> str | None:
    """Why the document fails a repetition rule, or None. `per_word`: the document's words are counted from its
    characters (chars_per_word, Japanese and Chinese), so the n-gram rules run over its characters too
    (character_units): the tokenizer's `words` are clauses there, and a page of one phrase repeated with no
    punctuation between was one clause, no n-gram at all, and was kept."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if lines:
        counts = Counter(lines)
        dup_lines = sum(c for c in counts.values() if c > 1) - sum(1 for c in counts.values() if c > 1)
        if dup_lines / len(lines) > cfg.max_dup_line_frac:
            return "dup_line_frac"
        dup_chars = sum(len(ln) * (c - 1) for ln, c in counts.items() if c > 1)
        if dup_chars / max(1, len(text) - text.count("\n")) > cfg.max_char_dup_ratio:  # FineWeb's denominator
            return "char_dup_ratio"
    # n-gram shares of the whole text's characters, spaces and punctuation included, as datatrove's
    # GopherRepetitionFilter measures them (and its helpers count them): FineWeb-2's kor_Hang thresholds were tuned
    # on that. Over the words' characters alone (about a quarter less in Korean text) the 5-gram rule removed
    # chapters of the Korean constitution, whose articles repeat "법률이 정하는 바에 의하여".
    size = max(1, len(text))
    units = character_units(text) if per_word else words
    ends_out = character_units(_SENTENCE_END_RE.sub(" ", text)) if per_word and cfg.top_n_grams else []
    for n, thr in sorted(cfg.top_n_grams.items()):
        if per_word:  # without the sentences' ends (_SENTENCE_END_RE)
            top = _top_repeated(ends_out, max(1, round(n * per_word)))
        else:
            grams = get_n_grams(words, n)
            top = find_top_duplicate(grams) if grams else 0
        if top / size > thr:
            return f"top_{n}_gram"
    for n, thr in sorted(cfg.dup_n_grams.items()):
        if per_word:
            dup = _duplicated_chars(units, max(1, round(n * per_word)))
        else:
            dup = find_all_duplicate(units, n)
        if dup / size > thr:
            return f"dup_{n}_gram"
    return None


def character_units(text: str) -> list[str]:
    """`text` as the units words_from_chars counts: each character but spaces, a run of letters or digits of a
    spaced script ("iPhone", "2024") one unit. The n-gram rules take round(n x chars_per_word) of them for an n-gram
    of n words, so a Japanese or Chinese 2-gram is 3 characters and a 10-gram 16."""
    # one string object a distinct character: each character read from the text is a new 76-byte object (26 MB for
    # a megabyte of Chinese), a page uses a few thousand
    units, at, seen = [], 0, {}
    for run in _SPACED_RUN_RE.finditer(text):
        units.extend(seen.setdefault(c, c) for c in text[at:run.start()] if not c.isspace())
        units.append(run.group())
        at = run.end()
    units.extend(seen.setdefault(c, c) for c in text[at:] if not c.isspace())
    return units


# The two functions below count the n-grams of a text's characters by their hashes (Python's 64-bit string hash): a
# set of a megabyte of Chinese's 16-character grams took 82 MB as strings. Two of a megabyte's 333,000 grams share a
# hash by chance once in 3 x 10^8 (each of the nine rules), a gram's count then one too many.


def _top_repeated(units: list[str], n: int) -> int:
    """The characters of the most common n-gram of `units` times its count, as datatrove's find_top_duplicate, but 0
    when it is met once: over characters every short page has an n-gram, and one met once repeats nothing."""
    counts = Counter(hash("".join(units[i:i + n])) for i in range(len(units) - n + 1))
    if not counts:
        return 0
    top, count = counts.most_common(1)[0]
    if count < 2:
        return 0
    gram = next(g for g in ("".join(units[i:i + n]) for i in range(len(units) - n + 1)) if hash(g) == top)
    return len(gram) * count


def _duplicated_chars(units: list[str], n: int) -> int:
    """The characters of `units`' n-grams met before, as datatrove's find_all_duplicate counts them: read from the
    start, a gram seen before counts and the reading goes on after it, so no character counts twice."""
    seen: set[int] = set()
    repeated, at = 0, 0
    while at <= len(units) - n:
        gram = "".join(units[at:at + n])
        if hash(gram) in seen:
            repeated += len(gram)
            at += n
        else:
            seen.add(hash(gram))
            at += 1
    return repeated


class QualityFilter(BaseFilter):
    """Gopher/FineWeb-style quality and repetition heuristics on prose documents."""

    name = "axk1 quality"

    def __init__(self, config: QualityConfig | None = None, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.config = config or QualityConfig()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if skips_prose_filters(doc):
            return True
        text = normalize_text(doc.text)  # NFD Hangul (macOS) is judged as the same text in NFC
        words = word_tokenize(text, self.config.word_tokenizer)
        language = doc.metadata.get("language")
        pdf = doc.metadata.get("source_type") == "pdf"
        per_word = chars_per_word(self.config, language)
        reason = (quality_reason(text, words, self.config, language == "ko", pdf, english=language == "en",
                                 spaced=language not in NO_SPACE_LANGUAGES, per_word=per_word)
                  or repetition_reason(text, words, self.config, per_word=per_word))
        if reason:
            return False, reason
        return True


# The extract stage's entry (axk1/data/filter_steps.py): settings under [filters.quality]; removals go to
# excluded/quality/.
QUALITY_STEP = FilterEntry(lambda cfg, exclusions: QualityFilter(cfg, exclusion_writer=exclusions("quality")),
                           table="quality", config=QualityConfig)
