"""English documents take Gopher's stop-word rule, which FineWeb keeps: at least 2 of "the, be, to, of, and, that,
have, with". The quality filter had a Korean stop-word rule only, so English keyword spam and pages of bare code
passed it. Real English prose always has them (the project's English web fixtures and 118 English documentation
pages of 50 words or more, Rust Book chapters among them: 7 or more each), and Korean decisions do not change."""

import random
from pathlib import Path

import pytest
from datatrove.data import Document

from axk1.data.quality_filter import QualityConfig, QualityFilter, quality_reason
from axk1.text.korean import word_tokenize

FIXTURES = Path(__file__).parent / "fixtures" / "web" / "reference"

_VOCAB = ("cheap flights hotel deals paris london tickets booking discount luxury resort beach cruise travel "
          "insurance rental cars airport parking vacation packages family holidays last minute offers best price "
          "guarantee online reservation city breaks spa weekend getaway").split()
_rng = random.Random(7)
# a keyword-stuffed page: sentences of shuffled search terms, no repeated line or n-gram the repetition rules catch
SPAM = "\n".join(" ".join(_rng.sample(_VOCAB, 12)).capitalize() + "." for _ in range(12))

# a page that is a listing alone, no prose around it
CODE = """#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare_names(const void *left, const void *right) {
    const char *const *a = left;
    const char *const *b = right;
    return strcmp(*a, *b);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s name...\\n", argv[0]);
        return EXIT_FAILURE;
    }
    qsort(argv + 1, argc - 1, sizeof argv[0], compare_names);
    for (int index = 1; index < argc; index++) {
        printf("%d: %s\\n", index, argv[index]);
    }
    return EXIT_SUCCESS;
}
"""

# English prose whose stop words come capitalised or with punctuation attached: "The", "(the", "that," and "and."
PROSE = """The pipeline reads each page once. Pages (the ones a crawler fetched twice) are merged, so that, in the end,
every document is kept once, and the filters judge it alone: a rule sees the text, its language and its source.
Rules that need more context have it written in the metadata before they run, which keeps every step small.
A page removed by a rule is written to the exclusions folder with its reason, so nothing is lost without a word,
and a run can be resumed from where it stopped without repeating the work already done, or judging anew."""


def _doc(text: str, language: str) -> Document:
    return Document(text=text, id="d", metadata={"language": language})


def test_english_keyword_spam_and_bare_code_are_removed():
    spam_only = QualityConfig(min_words=40)
    assert QualityFilter(spam_only).filter(_doc(SPAM, "en")) == (False, "few_english_stop_words")
    assert QualityFilter(QualityConfig(min_words=40, min_stop_words_en=0)).filter(_doc(SPAM, "en")) is True
    # the listing's letterless words ("{", "*a", "=") remove it already; with that rule lenient, this one still does
    code_only = QualityConfig(min_words=40, min_alpha_words_ratio_other=0.3, min_line_punct_ratio=0.0)
    assert QualityFilter(code_only).filter(_doc(CODE, "en")) == (False, "few_english_stop_words")
    assert QualityFilter(QualityConfig(min_words=40, min_alpha_words_ratio_other=0.3, min_line_punct_ratio=0.0,
                                       min_stop_words_en=0)).filter(_doc(CODE, "en")) is True


@pytest.mark.parametrize("tokenizer", ["kiwi", "regex"])
def test_real_english_pages_are_not_removed_by_it(tokenizer):
    pages = sorted(FIXTURES.glob("en-*.main.txt"))
    assert len(pages) >= 6
    on, off = QualityConfig(word_tokenizer=tokenizer, min_words=40), QualityConfig(word_tokenizer=tokenizer,
                                                                                   min_words=40, min_stop_words_en=0)
    for text in [PROSE, *(p.read_text() for p in pages)]:
        assert QualityFilter(on).filter(_doc(text, "en")) == QualityFilter(off).filter(_doc(text, "en")), text[:60]
    assert QualityFilter(on).filter(_doc(PROSE, "en")) is True  # kept on stop words that are capitalised or punctuated


def test_korean_and_other_languages_are_not_judged_by_english_stop_words():
    """Korean decisions are those of the Korean rules whatever the English setting; a language other than English
    (a French page, an unidentified one) is not held to English words either."""
    korean = sorted(FIXTURES.glob("ko-*.main.txt"))
    assert len(korean) >= 6
    for text in [*(p.read_text() for p in korean), SPAM]:
        decisions = {QualityFilter(QualityConfig(min_words=40, min_stop_words_en=n)).filter(_doc(text, "ko"))
                     for n in (0, 2, 50)}
        assert len(decisions) == 1, text[:60]
        words = word_tokenize(text, "kiwi")
        assert quality_reason(text, words, QualityConfig(min_words=40), korean=True, english=False) != \
            "few_english_stop_words"
    for language in ("fr", None):
        assert QualityFilter(QualityConfig(min_words=40)).filter(_doc(SPAM, language)) is True


def test_the_count_is_settable_and_a_negative_one_is_refused_naming_the_key():
    strict = QualityFilter(QualityConfig(min_words=40, min_stop_words_en=200))
    assert strict.filter(_doc(PROSE, "en")) == (False, "few_english_stop_words")
    with pytest.raises(ValueError, match=r"filters\.quality\.min_stop_words_en = -1: a count of words, 0"):
        QualityConfig(min_stop_words_en=-1)
