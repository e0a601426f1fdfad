"""The average word length rule's range is per language: FineWeb-2's Korean 1 to 6 characters (over Kiwi
morphemes) was applied to English too, and removed English pages of longer words as avg_word_too_long; other
languages now get Gopher's and FineWeb's English range, 3 to 10, over the words between spaces as they measure it."""

import pytest
from datatrove.data import Document

from axk1.data.quality_filter import QualityConfig, QualityFilter, quality_reason
from axk1.text.korean import word_tokenize

# English prose of long words, as a standard or a legal page has it (7.6 characters a word between spaces, 6.3 over Kiwi's
# words, which split the punctuation off)
LONG_WORDS = ("The manufacturer must provide a certificate showing that the product conforms to the applicable "
              "specifications. The documentation describes operating requirements, environmental conditions and "
              "maintenance procedures for each installation, and the responsible authority reviews the evidence "
              "before approval. Electrical equipment installed outdoors requires additional protection against "
              "moisture. ")


def _doc(text: str, language: str) -> Document:
    return Document(text=text, id="d", metadata={"language": language})


@pytest.mark.parametrize("tokenizer", ["kiwi", "regex"])
def test_english_of_long_words_is_kept(tokenizer):
    words = LONG_WORDS.split()
    assert 6.5 < sum(map(len, words)) / len(words) < 8, sum(map(len, words)) / len(words)
    qf = QualityFilter(QualityConfig(word_tokenizer=tokenizer, min_words=20))  # (one paragraph, not repeated)
    assert qf.filter(_doc(LONG_WORDS, "en")) is True


def test_english_outside_gophers_range_is_removed():
    short = "a b c d e. " * 30  # one letter a word
    glued = ("Thisisasentencewithoutanyspacesatallbetweenitswords. " * 20)
    qf = QualityFilter()
    assert qf.filter(_doc(short, "en")) == (False, "avg_word_too_short")
    assert qf.filter(_doc(glued + "It ends here and there. " * 5, "en")) == (False, "avg_word_too_long")


def test_korean_keeps_fineweb2s_range_and_the_other_range_is_settable():
    """Eojeol of eight or nine characters, counted as regex words: over Korean's 6 in a Korean document, inside 3 to 10 in a
    document of another language; and max_avg_word_length_other moves the other range."""
    text = " ".join(["정부수립기념행사에", "참석하였습니다."] * 30)
    regex = QualityConfig(word_tokenizer="regex", min_words=20)
    words = word_tokenize(text, "regex")
    assert quality_reason(text, words, regex, korean=True) == "avg_word_too_long"
    assert quality_reason(text, words, regex, korean=False) is None  # (the repetition rules aside)
    strict = QualityFilter(QualityConfig(min_words=20, max_avg_word_length_other=7.0))
    assert strict.filter(_doc(LONG_WORDS, "en")) == (False, "avg_word_too_long")


def test_max_other_0_gives_every_language_the_korean_range_as_runs_before_it():
    """How a run recorded before these settings was made (axk1/data/run_settings.py, ADDED_LATER)."""
    before = QualityFilter(QualityConfig(min_words=20, min_avg_word_length_other=0.0, max_avg_word_length_other=0.0))
    assert before.filter(_doc(LONG_WORDS, "en")) == (False, "avg_word_too_long")  # 6.3 over Kiwi's words, over 6
