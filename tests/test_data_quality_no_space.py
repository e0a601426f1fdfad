"""Languages written without spaces between words (Japanese, Chinese, Thai...): measured over the words between
spaces, a paragraph was one "word" of a hundred characters and every such document was removed as
avg_word_too_long. They now take no word-length rule and the letter-share rule over the tokenizer's words."""

import pytest
from datatrove.data import Document

from axk1.data.quality_filter import NO_SPACE_LANGUAGES, QualityConfig, QualityFilter, quality_reason
from axk1.text.korean import word_tokenize

JAPANESE = ("東京は日本の首都であり、世界でも有数の大都市です。人口は約千四百万人で、多くの企業や大学が集まっています。\n"
            "古い寺や神社が残る一方で、高い建物が並ぶ新しい街並みも見られます。鉄道の路線は細かく張り巡らされ、"
            "通勤の時間帯には電車が数分おきに走ります。\n"
            "春には川沿いの桜が咲き、多くの人が花見に出かけます。夏は蒸し暑く、秋になると公園の木々が赤や黄色に色づきます。\n"
            "観光客も毎年たくさん訪れ、美術館や博物館、商店街を歩いて楽しみます。")
CHINESE = ("北京是中华人民共和国的首都，也是全国的政治和文化中心。这座城市有三千多年的历史，拥有许多著名的古迹。\n"
           "故宫位于城市的中心，是明清两代的皇家宫殿。每年都有很多游客来这里参观，了解中国古代的建筑和艺术。\n"
           "北京的交通十分方便，地铁线路覆盖了城市的大部分地区。人们可以乘坐公共汽车或者骑自行车上班。\n"
           "春天的时候，公园里开满了鲜花；秋天的香山红叶吸引了无数市民前去观赏。冬天比较寒冷，有时会下雪。")


def _doc(text: str, language: str) -> Document:
    return Document(text=text, id="d", metadata={"language": language})


@pytest.mark.parametrize("language, text", [("ja", JAPANESE), ("zh", CHINESE)])
def test_japanese_and_chinese_prose_is_kept(language, text):
    assert min(map(len, text.split())) > 30  # what the words between spaces are in these languages
    # (Kiwi's words in Chinese are clauses, fewer than the 50 of a Korean page this long)
    assert QualityFilter(QualityConfig(min_words=20)).filter(_doc(text, language)) is True


@pytest.mark.parametrize("language, text", [("ja", JAPANESE), ("zh", CHINESE)])
def test_no_word_length_rule_but_letter_share_over_the_tokenizers_words(language, text):
    """Kiwi keeps a Hanzi run whole (a clause, 6 to 13 characters): no word-length range fits such words, so none is
    applied; the letter share is counted over them with the single marks (、。，) left out, and symbol spam fails."""
    assert language in NO_SPACE_LANGUAGES
    words = word_tokenize(text, "kiwi")
    cfg = QualityConfig(min_words=20)
    assert quality_reason(text, words, cfg, korean=False, spaced=False) is None
    assert quality_reason(text, words, QualityConfig(min_words=20, max_avg_word_length=1.5), korean=False,
                          spaced=False) is None
    spam = text + "\n" + " ".join(["★", "■", "123", "○", "456"] * 40)
    assert quality_reason(spam, word_tokenize(spam, "kiwi"), cfg, korean=False, spaced=False) == "non_alpha_words"
    assert QualityFilter(cfg).filter(_doc(spam, language)) == (False, "non_alpha_words")


def test_languages_with_spaces_keep_gophers_measure():
    """A document labelled English that has no spaces is still removed: the exemption follows the language."""
    glued = "Thisisasentencewithoutanyspacesatallbetweenitswordsandsoitgoesonforever. " * 20 + "It ends here. " * 5
    assert QualityFilter().filter(_doc(glued, "en")) == (False, "avg_word_too_long")
