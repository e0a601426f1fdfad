"""The difficulty score on real text nobody here wrote: Python's own documentation (pydoc_data, shipped with the
standard library), the National Assembly bills and constitution shipped inside konlpy, and the Korean and English
help pages of tests/fixtures/web. The score measured length more than text: zlib finds more repeats in a longer
text, so the same document moved from the hardest bucket to the easiest as it grew (argparse.py: 0.528 at 600
characters, 0.263 whole), and Korean words, counted in syllables on an English range of letters, all looked short."""

import random
import statistics
from pathlib import Path

import konlpy
import pydoc_data.topics
from datatrove.data import Document

from axk1.data.difficulty import DifficultyAnnotator, compression_ratio, difficulty_signals, difficulty_score
from axk1.data.shards import bucket_name

KONLPY = Path(konlpy.__file__).parent / "data" / "corpus"
WEB = Path(__file__).parent / "fixtures" / "web" / "reference"
BUCKETS = [0.35, 0.5]  # the default [tokenize] difficulty_buckets


def _texts() -> dict[str, str]:
    bills = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted((KONLPY / "kobill").glob("*.txt")))
    return {"python docs": "\n".join(pydoc_data.topics.topics.values()), "bills": bills,
            "constitution": (KONLPY / "kolaw" / "constitution.txt").read_text(encoding="utf-8")}


def _score(text: str) -> float:
    return difficulty_score(difficulty_signals(text))


def test_a_text_scores_as_its_pieces_do_whatever_its_length():
    """Whole, a document scores as the 2,000-character pieces it is made of (it scored 0.1 lower: bills 0.265
    whole, 0.383 their pieces), and the same text cut at 600 or 8,000 characters lands in the bucket the whole
    does. Scored one at a time or among others, a document gets the same score: nothing depends on the corpus."""
    for name, text in _texts().items():
        pieces = [text[i:i + 2000] for i in range(0, len(text) - 1999, 2000)]
        ratios = [compression_ratio(p) for p in pieces]
        assert abs(compression_ratio(text) - statistics.mean(ratios)) < 0.02, name
        annotator = DifficultyAnnotator()
        docs = list(annotator.run(Document(t, str(i)) for i, t in enumerate(random.Random(0).sample(pieces, min(10, len(pieces))))))
        assert [d.metadata["difficulty"] for d in docs] == [_score(d.text) for d in docs]
        whole = _score(text)
        assert abs(whole - statistics.mean(map(_score, pieces))) < 0.02, name
        if name != "constitution":  # its preamble and first chapter read harder than the rest (0.63 at 600 chars)
            assert {bucket_name(_score(text[:n]), BUCKETS) for n in (600, 8000)} == {bucket_name(whole, BUCKETS)}


def test_a_short_text_is_not_scored_harder_for_its_shortness():
    """A text shorter than a compression window (256 characters: an AIME problem, a short answer) is measured
    whole, corrected for its shortness: pieces of 100 and 200 characters of real documents measure about what the
    whole does (uncorrected, they were 28% and 8% above it)."""
    for name, text in _texts().items():
        whole = compression_ratio(text)
        for n in (100, 200):
            short = statistics.mean(compression_ratio(text[s:s + n]) for s in range(0, len(text) - n, 1999))
            assert abs(short / whole - 1) < 0.06, (name, n, short, whole)


def test_korean_words_are_measured_in_syllables_on_a_korean_range():
    """A Hangul word's length is counted in syllables on its own range: on the English letters range the Korean
    help pages' words scored 0.19 (median) where the English pages of the same help scored 0.52."""
    def word_part(path: Path) -> float:  # the word-length quarter of the score alone
        signals = dict(difficulty_signals(path.read_text(encoding="utf-8")), compression_ratio=0.0, mtld=0.0,
                       words_per_sentence=0.0)
        return 4 * difficulty_score(signals)

    ko = statistics.median(map(word_part, WEB.glob("ko-*.main.txt")))
    en = statistics.median(map(word_part, WEB.glob("en-*.main.txt")))
    assert abs(ko - en) < 0.1, (ko, en)
    signals = difficulty_signals("대한민국은 민주공화국이다. The Republic of Korea shall be a democratic republic.")
    assert signals["hangul_words"] == 0.182 and signals["hangul_chars_per_word"] == 6.0  # 2 of 11 words
    assert signals["chars_per_word"] == 4.889  # the nine English words alone


def _real_documents() -> dict[str, str]:
    texts = {p.name: p.read_text(encoding="utf-8") for p in sorted(WEB.glob("*.main.txt"))}
    texts.update({p.stem: p.read_text(encoding="utf-8") for p in sorted((KONLPY / "kobill").glob("*.txt"))})
    texts.update({name: t for name, t in pydoc_data.topics.topics.items() if len(t) > 4000})
    return texts | _texts()


def test_text_in_random_order_never_scores_hardest():
    """The constitution with its characters shuffled scored 0.859, above every real document (the hardest bucket):
    disorder made it compress badly and never repeat a word. Real documents, and their first 1,000 and 3,000
    characters, are never taken for it; shuffled text is, and scores 0."""
    real = _real_documents()
    chars = list(real["constitution"][:3000].replace("\n", ""))
    for seed in range(3):
        random.Random(seed).shuffle(chars)
        signals = difficulty_signals("".join(chars))
        assert signals["disordered"] == 1 and difficulty_score(signals) == 0.0
    for name, text in real.items():
        for n in (1000, 3000, len(text)):
            assert difficulty_signals(text[:n])["disordered"] == 0, (name, n)


STATUTE = ("제1조(목적) 이 법은 국민의 건강과 안전을 보호하기 위하여 식품의 제조, 가공, 유통 및 판매에 관한 사항을 규정함으로써 "
           "식품으로 인한 위생상의 위해를 방지하고 국민보건의 증진에 이바지함을 목적으로 한다.\n"
           "제2조(국가의 책무) 국가와 지방자치단체는 식품의 안전을 확보하기 위하여 필요한 시책을 수립하고 이를 시행하여야 하며, "
           "그 시행에 필요한 재원을 확보하기 위하여 노력하여야 한다.\n"
           "제3조(영업의 신고) ① 대통령령으로 정하는 영업을 하려는 자는 대통령령으로 정하는 바에 따라 영업의 종류별로 "
           "특별자치시장, 특별자치도지사 또는 시장·군수·구청장에게 신고하여야 한다.\n"
           "② 제1항에 따라 신고한 사항 중 총리령으로 정하는 중요한 사항을 변경하려는 경우에도 또한 같다.\n")
REVIEWS = ("오늘 친구랑 보고 왔는데 진짜 재밌었어요 배우들 연기도 좋았고 음악도 최고였어요 또 보고 싶네요\n"
           "처음엔 좀 지루했는데 중반부터 완전 몰입했다 마지막 장면에서 눈물 났어요 강추합니다\n"
           "기대 많이 했는데 생각보다 별로였어요 스토리가 너무 뻔하죠 그래도 영상미는 좋았다\n"
           "주말에 가족이랑 봤는데 아이들이 너무 좋아했어요 팝콘 먹으면서 보기 딱 좋은 영화예요\n"
           "이 감독 영화는 항상 믿고 봐요 이번에도 실망 안 시켰다 다음 작품도 기다릴게요\n")


def test_casual_korean_is_cut_into_sentences_at_its_endings():
    """Casual Korean often ends its sentences without punctuation (했어요 보고 싶네요): each line of reviews was one
    "sentence" of 15 words and the page scored above statute text."""
    assert difficulty_signals(REVIEWS)["words_per_sentence"] < 5
    assert difficulty_signals(STATUTE)["words_per_sentence"] > 10
    assert _score(STATUTE) > _score(REVIEWS)
    # a word that merely ends in 다 or 요 mid-line is cut after too (바다): the cost of not running Kiwi
    assert difficulty_signals("넓은 바다 위에 배가 떠 있다.")["words_per_sentence"] == 3.0  # two "sentences"
