"""Korean quality signals (axk1/data/korean_signals.py) on real Korean text nobody here wrote: the constitution and
ten National Assembly bills shipped in konlpy, and the main text of the 14 Korean web pages in tests/fixtures/web
(Debian's FAQ, GIMP's and LibreOffice's help). The same texts with the spaces between Hangul syllables dropped,
as text extracted from a PDF that never drew its spaces reads (docs/data.md, "Korean quality signals"), must be
told apart by the word length and by Kiwi's spacing rate."""

import random
import re
import unicodedata
from pathlib import Path

import konlpy
import pytest
from datatrove.data import Document

from axk1.data.config import config_from_dict
from axk1.data.filter_steps import extract_filters_around_site_boilerplate
from axk1.data.korean_signals import (KoreanSignalsConfig, KoreanSignalsFilter, chat_noise, korean_signals,
                                      sentence_endings)

CORPUS = Path(konlpy.__file__).parent / "data" / "corpus"
PAGES = Path(__file__).parent / "fixtures" / "web" / "reference"
_BETWEEN_SYLLABLES_RE = re.compile(r"(?<=[가-힣]) (?=[가-힣])")


def real_texts() -> dict[str, str]:
    paths = [CORPUS / "kolaw" / "constitution.txt", *sorted((CORPUS / "kobill").glob("*.txt")),
             *sorted(PAGES.glob("ko-*.main.txt"))]
    return {p.name: p.read_text(encoding="utf-8") for p in paths}


def drop_spaces(text: str, share: float, seed: int = 0) -> str:
    rng = random.Random(seed)
    return _BETWEEN_SYLLABLES_RE.sub(lambda m: "" if rng.random() < share else " ", text)


@pytest.fixture(scope="module")
def measured():
    texts = real_texts()
    assert len(texts) == 25
    return {name: (korean_signals(t, spacing=True), korean_signals(drop_spaces(t, 1.0), spacing=True))
            for name, t in texts.items()}


def test_real_korean_has_no_chat_noise_and_short_words(measured):
    for name, (real, _) in measured.items():
        assert real["chat_noise"] == 0, name
        assert 2.5 < real["eojeol_length"] < 3.5, (name, real)
        assert real["spacing_errors"] < 35, (name, real)  # Kiwi splits compounds legal text joins: not 0
        assert real["hanja_ratio"] < 0.05, (name, real)


def test_text_without_its_spaces_is_told_apart_by_word_length_and_spacing(measured):
    for name, (real, glued) in measured.items():
        assert glued["eojeol_length"] > 5 > real["eojeol_length"], (name, real, glued)
        assert glued["spacing_errors"] > 100 > real["spacing_errors"], (name, real, glued)


def test_sentence_endings_separate_prose_from_article_lists():
    """The constitution's and the help pages' sentences mostly end in 다/요; a bill is mostly headings and items
    (the reason the threshold is off by default: bills are good text)."""
    texts = real_texts()
    assert sentence_endings(texts["constitution.txt"]) > 0.8
    assert sentence_endings(texts["ko-lo-impress-line-draw.main.txt"]) > 0.8
    assert all(sentence_endings(t) < 0.25 for name, t in texts.items() if name[:7].isdigit())
    assert sentence_endings("제목 하나") is None  # too few sentences to say


def test_chat_noise_counts_jamo_runs_and_emoticons_only():
    assert chat_noise("ㅋㅋㅋ") == 1.0
    assert chat_noise("좋아요 ^^ 감사합니다 T_T ;;") == pytest.approx(7 / 15)
    assert chat_noise("ㄱ과 ㄴ은 자음이다.") == 0  # a jamo named alone in prose is not noise
    assert chat_noise("좋다 🙂") == pytest.approx(1 / 3)


def test_chat_noise_counts_jamo_laughter_in_every_form_text_arrives_in():
    """Halfwidth jamo (old Korean sites), conjoining jamo (what NFKC makes of ㅋ and ㅠ) and spaced laughter scored 0;
    old Hangul, written in conjoining jamo that alternate initial, vowel and final, is not noise."""
    base = "오늘 영화 진짜 재밌었다 "
    laughter = ["ㅋㅋㅋㅋㅋㅋ", "ﾻﾻﾻﾻﾻﾻ", unicodedata.normalize("NFKC", "ㅋㅋㅋㅋㅋㅋ"),
                unicodedata.normalize("NFKC", "ㅠㅠㅠㅠㅠㅠ"), "ㅋ ㅋ ㅋ ㅋ ㅋ ㅋ"]
    for noise in laughter:
        assert chat_noise(base + noise) == pytest.approx(6 / 16), noise
    assert chat_noise("나랏 말ᄊᆞ미 듕귁에 달아 문ᄍᆞᆼ와로 서르 ᄉᆞᄆᆞᆺ디 아니ᄒᆞᆯᄊᆡ 이런 젼ᄎᆞ로") == 0
    assert chat_noise("자음은 ㄱ ㄴ ㄷ 순서로 배운다") == 0


def test_the_filter_records_every_korean_document_and_removes_only_over_a_threshold():
    texts = real_texts()
    doc = lambda text, **meta: Document(text=text, id="d", metadata={"language": "ko", **meta})  # noqa: E731
    record = KoreanSignalsFilter(KoreanSignalsConfig())
    real = doc(texts["constitution.txt"])
    assert record.filter(real) is True and real.metadata["korean_signals"]["eojeol_length"] < 5
    strict = KoreanSignalsFilter(KoreanSignalsConfig(max_eojeol_length=5))
    assert strict.filter(doc(drop_spaces(texts["constitution.txt"], 1.0))) == (False, "eojeol_too_long")
    assert strict.filter(doc(drop_spaces(texts["constitution.txt"], 1.0), skip_filters=True)) is True
    english = Document(text="plain English prose", id="e", metadata={"language": "en"})
    assert strict.filter(english) is True and "korean_signals" not in english.metadata
    noisy = KoreanSignalsFilter(KoreanSignalsConfig(max_chat_noise=0.02))
    assert noisy.filter(doc(texts["ko-faq-kernel.main.txt"] + "\nㅋㅋㅋㅋㅋㅋㅋㅋ ㅠㅠㅠㅠ " * 30)) == (False, "chat_noise")


def test_the_pipeline_file_switches_it_and_refuses_bad_thresholds():
    def steps(section: dict):
        cfg = config_from_dict({"sources": [{"type": "text", "path": "x"}], "run": {"stages": ["extract"]},
                                "filters": {"korean_signals": section}})
        before, after = extract_filters_around_site_boilerplate(cfg.filters, lambda name: None)
        return [type(s).__name__ for s in before + after]

    assert "KoreanSignalsFilter" in steps({})
    assert "KoreanSignalsFilter" not in steps({"enabled": False})
    with pytest.raises(ValueError, match="max_spacing_errors needs spacing = true"):
        steps({"max_spacing_errors": 50})
    with pytest.raises(ValueError, match="max_chat_noise must be a number >= 0"):
        steps({"max_chat_noise": -1})
