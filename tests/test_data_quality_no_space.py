"""Languages written without spaces between words (Japanese, Chinese, Thai...): measured over the words between
spaces, a paragraph was one "word" of a hundred characters and every such document was removed as
avg_word_too_long. They now take no word-length rule and the letter-share rule over the tokenizer's words."""

import pytest
from datatrove.data import Document

from axk1.data.quality_filter import (NO_SPACE_LANGUAGES, QualityConfig, QualityFilter, character_units, chars_per_word,
                                      quality_reason, repetition_reason, words_from_chars)
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

# A short real page each: a city library's notice of its new opening hours (159 and 121 characters), 10 clauses
# between punctuation; about 97 and 75 words as a segmented corpus counts them
NOTICE_JA = ("市立図書館は、四月一日から開館時間を変更します。平日は午前九時から午後八時まで、土曜日と日曜日は午前十時から"
             "午後六時までご利用いただけます。毎月第二月曜日は休館日です。本の貸出は一人十冊まで、期間は二週間です。"
             "返却が遅れた場合は、次の貸出ができなくなりますのでご注意ください。詳しくは受付の職員にお問い合わせください。")
NOTICE_ZH = ("市立图书馆自四月一日起调整开放时间。工作日开放时间为上午九点至晚上八点，周六和周日为上午十点至下午六点。"
             "每月第二个星期一闭馆。每位读者最多可借阅十本书，借期为两周。逾期未还者将暂停借阅资格，请读者注意按时归还。"
             "如有疑问，请咨询服务台工作人员。")


def _doc(text: str, language: str) -> Document:
    return Document(text=text, id="d", metadata={"language": language})


@pytest.mark.parametrize("language, text", [("ja", JAPANESE), ("zh", CHINESE)])
def test_japanese_and_chinese_prose_is_kept(language, text):
    assert min(map(len, text.split())) > 30  # what the words between spaces are in these languages
    assert QualityFilter().filter(_doc(text, language)) is True


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


@pytest.mark.parametrize("tokenizer", ["kiwi", "regex"])
@pytest.mark.parametrize("language, text", [("ja", NOTICE_JA), ("zh", NOTICE_ZH)])
def test_a_short_real_page_counts_its_words_from_its_characters(tokenizer, language, text):
    """The tokenizers' words are clauses here (the regex's 10 in either notice, Kiwi's 20 in the Chinese one), under
    the 50 words a page needs: every such page was removed as too_few_words. Counted from the characters at a
    segmented corpus's characters per word it is kept, and a page a third as long still has too few."""
    assert len(word_tokenize(text, "regex")) == 10
    qf = QualityFilter(QualityConfig(word_tokenizer=tokenizer))
    assert qf.filter(_doc(text, language)) is True
    assert qf.filter(_doc(text[:len(text) // 3], language)) == (False, "too_few_words")


@pytest.mark.parametrize("language, text", [("ja", NOTICE_JA), ("zh", NOTICE_ZH)])
def test_chars_per_word_0_counts_the_tokenizers_words_as_runs_before_it(language, text):
    """How a run recorded before these settings was made (axk1/data/run_settings.py, ADDED_LATER)."""
    before = QualityConfig(word_tokenizer="regex", chars_per_word_ja=0.0, chars_per_word_zh=0.0)
    assert QualityFilter(before).filter(_doc(text, language)) == (False, "too_few_words")


@pytest.mark.parametrize("language, text", [("ja", NOTICE_JA), ("zh", NOTICE_ZH)])
def test_repeated_clauses_are_still_removed(language, text):
    """The n-gram rules run over characters here: the notices above, whose two first clauses were 0.29 of the
    characters as a 2-gram of clauses, are kept, and a page that repeats its clauses is still removed."""
    sentences = text.split("。")
    spam = "。".join(sentences[:2] * 6) + "。"  # one line: the duplicated-line rules do not see it
    reason = QualityFilter(QualityConfig(word_tokenizer="regex")).filter(_doc(spam, language))
    assert reason[0] is False and reason[1].startswith(("top_", "dup_")), reason


@pytest.mark.parametrize("tokenizer", ["kiwi", "regex"])
@pytest.mark.parametrize("language, text", [
    ("zh", "便宜" * 200 + "。"), ("zh", "这个产品非常便宜质量很好欢迎购买" * 30 + "。"),
    ("ja", "この商品はとても安くて品質が良いですぜひ購入してください" * 20 + "。"), ("ja", "安い" * 200 + "。"),
], ids=["zh-word", "zh-sentence", "ja-sentence", "ja-word"])
def test_a_phrase_repeated_without_punctuation_is_removed(tokenizer, language, text):
    """Counted from its characters such a page has words enough, but the tokenizers see one clause (no n-gram at
    all), so it was kept: the n-gram rules now count the characters' n-grams."""
    reason = QualityFilter(QualityConfig(word_tokenizer=tokenizer)).filter(_doc(text, language))
    assert reason[0] is False and reason[1].startswith(("top_", "dup_")), reason


@pytest.mark.parametrize("language, text", [("ja", JAPANESE), ("zh", CHINESE), ("ja", NOTICE_JA), ("zh", NOTICE_ZH)])
def test_real_pages_pass_the_character_n_gram_rules(language, text):
    cfg = QualityConfig()
    assert repetition_reason(text, word_tokenize(text, "kiwi"), cfg, per_word=chars_per_word(cfg, language)) is None


def test_character_units_keep_a_spaced_scripts_word_whole():
    assert character_units("新款 iPhone 15发布。") == ["新", "款", "iPhone", "15", "发", "布", "。"]


# Lines that end in full-width marks only: a dialogue (」) and questions and exclamations (？！)
DIALOGUE_JA = ("「明日の朝は何時に駅の前で待ち合わせをしましょうか」\n「八時半なら電車にも間に合うと思います」\n"
               "「それなら少し早めに家を出て、途中でコーヒーを買っていきましょう」\n「いいですね、では八時半に駅の前で」")
QUESTIONS_ZH = ("你今天下午有没有去新开的市立图书馆看看？\n听说那里的阅览室又大又安静，还能一直待到晚上八点！\n"
                "每位读者一次最多可以借几本书，借期又是多长时间？\n如果你周末有空的话，我们一起去那里看书吧！")


@pytest.mark.parametrize("language, text", [("ja", DIALOGUE_JA), ("zh", QUESTIONS_ZH)], ids=["ja", "zh"])
def test_lines_ending_in_full_width_marks_end_in_punctuation(language, text):
    """None of these lines ended in a mark the rule knew (。 only), and the page failed line_punct_ratio."""
    assert all(line[-1] in "」？！" for line in text.split("\n"))
    assert QualityFilter().filter(_doc(text, language)) is True


def test_words_from_chars_counts_a_spaced_scripts_word_once():
    # "iPhone" and "15" a word each, and 6 characters (を今年発売。) at 1.5 a word: 2 + 4
    assert words_from_chars("iPhone 15を 今年 発売。", 1.5) == 6.0
    assert words_from_chars("北京 是首都。\n", 1.6) == pytest.approx(6 / 1.6)


@pytest.mark.parametrize("value", [0.5, -1.0])
def test_a_figure_under_one_character_a_word_is_refused(value):
    with pytest.raises(ValueError, match=r"filters\.quality\.chars_per_word_zh = .*1 or more.*or 0"):
        QualityConfig(chars_per_word_zh=value)


# Real pages of short sentences that end alike (ました, ています, ます), and a news item and a Chinese notice
DIARY_JA = ("今日は朝早く起きました。顔を洗いました。朝ご飯を食べました。学校に行きました。友達と話しました。授業を受けました。"
            "お昼ご飯を食べました。図書館に行きました。本を借りました。家に帰りました。宿題をしました。夕ご飯を食べました。"
            "お風呂に入りました。テレビを見ました。日記を書きました。早く寝ました。")
SELF_JA = ("私は東京に住んでいます。毎日電車で会社に通っています。会社では営業の仕事をしています。週末は家族と過ごしています。"
           "娘は小学校に通っています。息子は幼稚園に通っています。妻は料理教室を開いています。私はピアノを習っています。")
RECIPE_JA = ("材料（二人分）：卵三個、砂糖大さじ一、塩少々、油適量。\n作り方\n1. 卵をボウルに割ります。\n2. 砂糖と塩を加えます。\n"
             "3. よく混ぜます。\n4. フライパンを中火で温めます。\n5. 油をひきます。\n6. 卵液を三分の一流し入れます。\n"
             "7. 半熟になったら手前に巻きます。\n8. 残りの卵液も同じように焼きます。\n9. 形を整えます。\n10. 食べやすく切ります。")
NEWS_JA = ("気象庁によりますと、台風十号は今夜、九州南部に接近する見込みです。各地で非常に強い風が吹いています。"
           "鹿児島県では、これまでに二万世帯が停電しました。鉄道は始発から運転を見合わせています。"
           "空の便も、多くが欠航となりました。県は、川の近くに住む人に避難を呼びかけています。"
           "気象庁は、土砂災害や浸水に厳重に警戒するよう求めています。")
WATER_ZH = ("关于小区停水的通知\n各位业主：\n因市政管道维修，本小区将于本周六上午八点至下午六点停水。请各位业主提前做好储水准备。"
            "停水期间请关好水龙头。恢复供水后，水质可能发黄，请放水几分钟后再使用。给您带来的不便，敬请谅解。\n物业服务中心\n"
            "二〇二四年五月十日")
DIARY_ZH = ("我今天很高兴。早上我去了学校。上午我见了朋友。中午我吃了午饭。下午我看了书。放学后我写了作业。傍晚我回了家。"
            "晚上我吃了晚饭。饭后我看了电视。十点我睡了觉。")


@pytest.mark.parametrize("language, text", [("ja", DIARY_JA), ("ja", SELF_JA), ("ja", RECIPE_JA), ("ja", NEWS_JA),
                                            ("zh", WATER_ZH), ("zh", DIARY_ZH)],
                         ids=["ja-diary", "ja-teimasu", "ja-recipe", "ja-news", "zh-notice", "zh-diary"])
def test_short_sentences_that_end_alike_are_kept(language, text):
    """The top n-gram rules leave each sentence's end out (its closing marks and the hiragana before them): "ました"
    was 0.33 of the diary's characters against the 2-gram's 0.282 and it was removed (top_2_gram), "ています。" 0.32
    of the second page against the 3-gram's 0.228 (top_3_gram)."""
    assert QualityFilter(QualityConfig(min_words=30)).filter(_doc(text, language)) is True


@pytest.mark.parametrize("language, text", [
    ("zh", "便宜" * 200 + "。"), ("zh", "这个产品非常便宜质量很好欢迎购买" * 30 + "。"),
    ("ja", "この商品はとても安くて品質が良いですぜひ購入してください" * 20 + "。"), ("ja", "安い" * 200 + "。"),
    ("ja", "ありがとうございます。" * 40)], ids=["zh-word", "zh-sentence", "ja-sentence", "ja-word", "ja-kana"])
def test_a_repeated_phrase_fails_the_n_gram_rules_that_still_see_it(language, text):
    """Without the sentences' ends the top n-gram rules still see a repeated phrase of words, and the duplicated
    n-gram rules, which count every character, see a repeated sentence of kana alone too."""
    cfg = QualityConfig(max_dup_line_frac=1.0, max_char_dup_ratio=1.0)
    per_word = chars_per_word(cfg, language)
    reason = repetition_reason(text, [], cfg, per_word=per_word)
    assert reason is not None and reason.startswith(("top_", "dup_")), reason
    if "ありがとう" not in text:
        top_only = QualityConfig(max_dup_line_frac=1.0, max_char_dup_ratio=1.0, dup_n_grams={})
        assert repetition_reason(text, [], top_only, per_word=per_word).startswith("top_")


def test_character_units_share_one_string_a_character():
    """A megabyte of Chinese was a list of 333,000 strings of 76 bytes; a page uses a few thousand characters."""
    units = character_units("北京是首都。" * 1000 + "新款 iPhone 15")
    assert len(units) == 6004 and len({id(u) for u in units}) == 10  # 北京是首都。新款, iPhone, 15


def test_duplicated_chars_counts_as_datatrove():
    """The duplicated n-gram rules count hashes, not the grams (a megabyte's 16-grams took 82 MB as strings), and
    count the characters as datatrove's find_all_duplicate does."""
    from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate

    from axk1.data.quality_filter import _duplicated_chars
    for text in (NOTICE_ZH * 3, DIARY_JA + "新款 iPhone 15" * 4, "便宜" * 200 + "。", "安"):
        units = character_units(text)
        for n in (1, 3, 8, 16):
            assert _duplicated_chars(units, n) == find_all_duplicate(units, n), (text[:10], n)
