"""Korean text helpers: the one definition of the Hangul ranges, script ratios (the prose of a text and when it is
Korean: axk1/text/prose.py), NFC normalisation, and the LineJoiner, which decides whether a Korean word cut by a
line break is one word (the reflow that asks it, for a PDF's text layer and OCR: axk1/data/pdf_reflow.py).

Never NFKC: it decomposes compatibility jamo and changes circled Hangul (see docs/data.md, "Korean text").
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
import unicodedata
from collections import Counter

# Unicode blocks, inclusive code point ranges.
SYLLABLES = (0xAC00, 0xD7A3)            # 가..힣, precomposed syllables
JAMO = (0x1100, 0x11FF)                 # conjoining jamo
COMPATIBILITY_JAMO = (0x3130, 0x318F)   # ㄱ, ㅏ, ... as typed alone
JAMO_EXTENDED = ((0xA960, 0xA97F), (0xD7B0, 0xD7FF))  # archaic conjoining jamo
HANGUL = (SYLLABLES, JAMO, COMPATIBILITY_JAMO, *JAMO_EXTENDED)
# For regular expressions: a character class body matching one syllable, e.g. f"[A-Za-z{SYLLABLE_CLASS}]".
SYLLABLE_CLASS = f"{chr(SYLLABLES[0])}-{chr(SYLLABLES[1])}"
# East Asian characters a font draws one em wide: Hangul jamo and syllables, CJK radicals to Yi (kana, ideographs,
# compatibility jamo among them), CJK compatibility ideographs, fullwidth forms.
# Presentation forms that exist only for vertical text (︿ ﹀ ︙ ︵ ︶).
VERTICAL_FORMS = ((0xFE10, 0xFE19), (0xFE30, 0xFE4F))
_WIDE = (JAMO, (0x2E80, 0xA4CF), SYLLABLES, (0xF900, 0xFAFF), *VERTICAL_FORMS, (0xFF00, 0xFF60))

# Hanja (Chinese characters as Korean writes them): CJK unified ideographs, extension A, compatibility ideographs.
HANJA_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Japanese kana: hiragana, katakana, their phonetic extensions, halfwidth katakana. Japanese prose always has some.
KANA_RE = re.compile("[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
# In mixed script (국한문 혼용: older laws, newspapers, scholarship) Sino-Korean words are written in Hanja and the
# Korean grammar around them in Hangul, so a word is Hanja, then a particle, an ending or 하다 in Hangul, then the
# word's end: 休職期間은, 第7號의, 命할, 敎育公務員이. Chinese quoting a Korean word keeps its Hangul apart from its
# characters, and a Chinese note on Korean grammar (助词은和는…) runs on into Hanja without a word end. A run is
# matched from its start only (the lookbehind), so the search stays linear on a long run of Hanja.
_HANJA_RUN_RE = re.compile(f"[{HANJA_CLASS}]+")
_ATTACHED_RE = re.compile(f"(?<![{HANJA_CLASS}])[{HANJA_CLASS}]++"
                          f"(?=[은는이가을를의에와과도로으만께까부처하한할함합했해되된될됨등적][{SYLLABLE_CLASS}]*"
                          f"(?:[^{SYLLABLE_CLASS}{HANJA_CLASS}]|$))")

# Invisible characters that are not str.isspace() and mean nothing in text: zero-width space, BOM, word joiner,
# HANGUL FILLER, HALFWIDTH HANGUL FILLER, soft hyphen (a hyphenation hint; inside a word it hid the word from dedup).
_INVISIBLE_RE = re.compile("[\u200b\u2060\ufeff\u3164\uffa0\u00ad]")
# The zero-width joiner and non-joiner do mean something between two letters or symbols of other scripts: ZWJ
# builds emoji sequences (👨‍👩‍👧 is one family, not three people; 🏳️‍🌈 a rainbow flag) and Indic conjuncts, ZWNJ is
# Persian and Indic spelling (می‌خواهم). Korean never uses them, so next to Hangul, a digit, punctuation, a space
# or at an end of the text they are removed like the characters above (a joiner inside 010‍-1234 hid a number).
_JOINER_RE = re.compile("[\u200c\u200d]")
_JOINER_SIDES = ("L", "M", "So", "Sk")  # letter, mark (U+FE0F, the emoji presentation selector, is one), symbol


def _chars(ranges: tuple[tuple[int, int], ...]) -> frozenset[str]:
    # a set lookup per character: faster than range comparisons on the data pipeline's hot path
    return frozenset(chr(c) for lo, hi in ranges for c in range(lo, hi + 1))


_HANGUL_CHARS = _chars(HANGUL)


def is_hangul(ch: str) -> bool:
    """Hangul syllables, jamo, compatibility jamo and conjoining extensions."""
    return ch in _HANGUL_CHARS


def is_syllable(ch: str) -> bool:
    return SYLLABLES[0] <= ord(ch) <= SYLLABLES[1]


def count_syllables(text: str) -> int:
    return len(re.findall(f"[{SYLLABLE_CLASS}]", text))  # a regex: ~20x faster than a Python loop on long pages


def is_wide(ch: str) -> bool:
    """Drawn one em wide (CJK, and the vertical forms ︿ ﹀ ︙ of vertical text), for width estimates of a line."""
    o = ord(ch)
    return any(lo <= o <= hi for lo, hi in _WIDE)


# Control characters: the line and page breaks among them (as str.splitlines reads them) become "\n", the rest go,
# and so do U+FFFE and U+FFFF, which are no characters at all (an XML parser refuses them, and lxml then hands
# trafilatura a page it drops whole).
_BREAK_CONTROLS_RE = re.compile("[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_OTHER_CONTROLS_RE = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")


def strip_controls(text: str) -> tuple[str, int]:
    """(text without control characters and the noncharacters U+FFFE/U+FFFF, how many were removed): a NUL or a
    C1 code from a JSONL export stayed in clean text ('앞\x00뒤'), and one in a web page lost the page its text.
    Tab, LF and CR stay (normalize_text turns CR into LF); a line or page break (NEL, U+2028, form feed) becomes
    LF. Not part of normalize_text: the PDF path removes and counts controls itself, and reads PDFium's U+0002 as
    a soft hyphen."""
    text, removed = _OTHER_CONTROLS_RE.subn("", text)
    return _BREAK_CONTROLS_RE.sub("\n", text), removed


def normalize_text(text: str) -> str:
    """NFC, invisible characters removed, CR/CRLF to LF. Never NFKC."""
    text = _INVISIBLE_RE.sub("", text)
    if "\u200c" in text or "\u200d" in text:
        text = _JOINER_RE.sub(lambda m: "" if _stray_joiner(text, m.start()) else m.group(0), text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text)


def _stray_joiner(text: str, i: int) -> bool:
    """Whether the ZWJ/ZWNJ at text[i] joins nothing (see _JOINER_RE): a neighbour missing, Hangul or not a letter,
    mark or symbol."""
    if i == 0 or i + 1 == len(text):
        return True
    return not all(unicodedata.category(c).startswith(_JOINER_SIDES) and not is_hangul(c)
                   for c in (text[i - 1], text[i + 1]))


def hangul_ratio(text: str) -> float:
    """Hangul letters / all letters (0 when there are no letters)."""
    letters = hangul = 0
    for ch in text:
        if ch.isalpha():
            letters += 1
            if is_hangul(ch):
                hangul += 1
    return hangul / letters if letters else 0.0


def korean_script_ratio(text: str) -> float:
    """Letters in Korean script / all letters: Hangul, and Hanja too where the text writes Korean in mixed script,
    that is without kana (Japanese), with a Hangul particle or ending right after at least one Hanja run in five
    (Chinese has none) and a tenth of the two scripts' letters in Hangul. Otherwise the Hangul ratio. So a
    Hanja-heavy Korean line ("第45條(休職期間등) ①休職期間은", Hangul ratio 0.17) counts as Korean; Chinese and
    Japanese prose do not."""
    runs = _HANJA_RUN_RE.findall(text)
    attached = len(_ATTACHED_RE.findall(text))
    if not attached or attached * 5 < len(runs) or KANA_RE.search(text):
        return hangul_ratio(text)
    hangul, hanja = sum(map(is_hangul, text)), sum(map(len, runs))
    if hangul < 0.1 * (hangul + hanja):  # a particle or two in Chinese prose (a note on Korean grammar) is not Korean
        return hangul_ratio(text)
    return (hangul + hanja) / sum(ch.isalpha() for ch in text)


def hangul_space_ratio(text: str) -> float:
    """Hangul–space–Hangul transitions per Hangul syllable: ~0.25 on healthy Korean, near 0 when words are glued."""
    syllables = count_syllables(text)
    if not syllables:
        return 0.0
    spaced = len(re.findall(f"[{SYLLABLE_CLASS}] [{SYLLABLE_CLASS}]", text))
    return spaced / syllables


# Particles and endings that never start a free-standing word: a line starting with one continues the word above.
# Only forms that are (almost) never free-standing words: "이", "다", "도", "한다" can be, so they are left out.
_BOUND_STARTS = (
    "을", "를", "은", "는", "의", "에", "에서", "에게", "으로", "로", "과", "와", "까지", "부터", "처럼", "보다",
    "이다", "입니다", "습니다", "니다", "요", "며", "면", "던", "로서", "로서의", "로써", "으로서", "으로써", "에는",
    "에서는", "으로는", "로는",
)
_BOUND_RE = re.compile("^(?:" + "|".join(sorted(_BOUND_STARTS, key=len, reverse=True)) + r")(?=[\s.,!?;:)\]]|$)")


class LineJoiner:
    """Decides, at a line break between two Hangul characters, whether the word was broken (join with "")
    or the break replaced a space (join with " ").

    Evidence, cheapest first: (1) the joined form occurs as a word elsewhere in the document; (2) the next
    line starts with a bound particle/ending alone; (3) both halves occur as words elsewhere; (4) Kiwi's
    spacing model on the two words (optional, ~0.5 ms a decision, only for what the rules leave open);
    (5) a space. Whole documents are never respaced (docs/data.md).
    """

    def __init__(self, use_kiwi: bool = True):
        self.use_kiwi = use_kiwi

    def decide(self, pairs: list[tuple[str, str]], vocab: Counter) -> list[bool]:
        """For each (left word, right word) pair, True to join without a space. `vocab` holds words known to be
        whole (see interior_word_counts)."""
        stems = {_stem(w) for w in vocab}
        out: list[bool | None] = []
        for left, right in pairs:
            joined = left + right
            if joined in vocab or _stem(joined) in stems:
                out.append(True)
            elif len(left) == 1 and left in _FREE_SYLLABLES:
                out.append(False)
            elif (_BOUND_RE.match(right) or (len(left) == 1 and left not in vocab) or _open_end(left)
                  or right[0] in _TENSE_MARKERS or _hada_form(left, right)):
                out.append(True)
            elif (left in vocab or left in stems) and (right in vocab or _stem(right) in stems):
                out.append(False)
            else:
                out.append(None)
        open_idx = [i for i, v in enumerate(out) if v is None]
        if open_idx and self.use_kiwi:
            kiwi = get_kiwi()
            # a pair as long as KIWI_MAX_RUN would crash Kiwi (word_tokenize): it keeps the space
            open_idx = [i for i in open_idx if len(pairs[i][0]) + len(pairs[i][1]) < KIWI_MAX_RUN]
            if kiwi is not None and open_idx:
                texts = [pairs[i][0] + pairs[i][1] for i in open_idx]
                for i, spaced in zip(open_idx, kiwi_each(kiwi.space, texts, reset_whitespace=True)):
                    out[i] = not _space_at(spaced, len(pairs[i][0]))
        return [bool(v) for v in out]


# One-syllable words that stand before another word (determiners, numerals, adverbs): "그 소녀를", "좀 더".
# Checked after the document's own evidence, so "그" + "러나" still joins where "그러나" occurs elsewhere.
_FREE_SYLLABLES = frozenset("그이저한두세네새헌각온뭇몇첫및또곧더잘못안꼭좀늘참왜")

# Word ends that cannot close a word: the formal endings -ㅂ니다 / -습니다 cut before their last syllable.
# Likewise a tense or honorific marker (받았 / 다, 어수선했 / 으나) always has an ending after it.
_OPEN_ENDINGS = ("합니", "습니", "됩니", "입니", "랍니", "갑니", "옵니", "십니", "았", "었", "했", "였", "겠", "셨")

# A tense or honorific marker opens no word: a line that starts with one continues the word before it (일이 / 었지만).
_TENSE_MARKERS = frozenset("었았였겠")
# A conjugated form of 하다 after a noun of two or more syllables is the noun's verb (발휘 / 한다고, 발전 / 하고), as
# the suffix -적 (잠재 / 적인) and the copula (방법 / 이므로) are the noun's: the form's ending is named, so a noun that
# starts with 하 (하드웨어, 해당, 하나) is not one.
_HADA_FORM = re.compile("^(?:하(?:[다고는지여면며게도려]|십|기[에를로]?)|한다|했|합니|해(?:[서야도요]|진|졌)"
                        "|적(?:인|입니|으로|이다)|이(?:므로|라면|라고|라는|지만|었|어서))")  # -적 and the copula too
# ...after a bare noun: a left word ending in a particle or an ending (해야 / 합니다, 작업을 / 해야) keeps its space
_NOT_NOUN_ENDS = frozenset("야을를은는이가에로과와도서면며고게지한된던할운운라")


def _open_end(left: str) -> bool:
    """A word end that cannot close a word: _OPEN_ENDINGS, or a syllable with a final ㅂ before 니 (the formal
    ending cut before 다 / 까: 미룹니 / 다) or 십시 (imperative cut before 오: 하십시 / 오)."""
    if left.endswith(_OPEN_ENDINGS) or left.endswith("십시"):
        return True
    return len(left) >= 2 and left[-1] == "니" and _final_consonant(left[-2]) == 17  # ㅂ


def _final_consonant(syllable: str) -> int:
    """The final consonant's index of a Hangul syllable (0: none, 17: ㅂ); -1 for any other character."""
    code = ord(syllable) - SYLLABLES[0]
    return code % 28 if 0 <= code <= SYLLABLES[1] - SYLLABLES[0] else -1


# A particle's form follows the sound of the word before it, as read aloud. Digits are read Sino-Korean: 일(1) 삼(3)
# 육(6) 칠(7) 팔(8) end in a consonant, 이(2) 사(4) 오(5) 구(9) do not; a number ending in 0 ends in 십/백/천 (or 영).
# The Latin letters put before particles (x, s) are read 엑스, 에스: no consonant. ㄹ takes 로 as a vowel does.
_DIGIT_FINAL = {"0": 21, "1": 8, "2": 0, "3": 16, "4": 0, "5": 0, "6": 1, "7": 8, "8": 8, "9": 0}  # ㅇ ㄹ ㅁ ㄱ
_RIEUL = 8


def josa(word: str | int, pair: str) -> str:
    """`word` with the right form of a particle: josa(45, "은/는") -> "45는", josa(46, "은/는") -> "46은",
    josa(3, "으로/로") -> "3으로", josa(7, "으로/로") -> "7로", josa(-12, "을/를") -> "-12를"."""
    word = str(word)
    after_consonant, after_vowel = pair.split("/")
    ch = word.rstrip()[-1]
    final = _DIGIT_FINAL[ch] if ch in _DIGIT_FINAL else max(_final_consonant(ch), 0)
    if after_consonant == "으로":
        return word + ("로" if final in (0, _RIEUL) else "으로")
    return word + (after_consonant if final else after_vowel)


def _hada_form(left: str, right: str) -> bool:
    return len(left) >= 2 and left[-1] not in _NOT_NOUN_ENDS and bool(_HADA_FORM.match(right))


_PARTICLES = ("에서", "에게", "으로", "까지", "부터", "처럼", "보다", "을", "를", "은", "는", "이", "가", "의", "에",
              "로", "과", "와", "도", "만")


def _stem(word: str) -> str:
    """The word without one trailing particle (only when something of two or more syllables is left)."""
    for p in _PARTICLES:
        if word.endswith(p) and len(word) - len(p) >= 2:
            return word[: -len(p)]
    return word


def _space_at(spaced: str, pos: int) -> bool:
    """Whether Kiwi's respaced string has a space after `pos` non-space characters."""
    seen = 0
    for ch in spaced:
        if seen == pos:
            return ch == " "
        if ch != " ":
            seen += 1
    return False


# model type (None: Kiwi's default) -> its Kiwi in this process
_KIWIS: dict[str | None, object] = {}
_KIWI_LOCK = threading.Lock()


def _forget_kiwis_in_child() -> None:
    # A Kiwi runs its batch calls on its own worker threads, which a fork does not copy: a forked child (datatrove's
    # start_method = "fork", or a pool started after an in-process stage had loaded Kiwi) that used the parent's
    # instance hung for ever on its first tokenize. The child loads its own; the lock is new too, in case the
    # fork came while another thread held it. The parent's instances are never freed here: their destructor
    # joins those missing threads, and hung the child (one more reference each, which nothing gives back).
    global _KIWI_LOCK
    for kiwi in _KIWIS.values():
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(kiwi))
    _KIWIS.clear()
    _KIWI_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_kiwis_in_child)


def get_kiwi(model_type: str | None = None):
    """One Kiwi per process and model type, shared by every caller (about 4 s to load: 2 s here, 2 s more on its
    first call); None when kiwipiepy is not installed. Thread-safe: two threads asking at once load one Kiwi.
    datatrove's KiwiTokenizer loads the "sbg" model; None is Kiwi's default, which the filters use."""
    with _KIWI_LOCK:
        if model_type not in _KIWIS:
            try:
                from kiwipiepy import Kiwi
            except ImportError:
                return None
            _KIWIS[model_type] = Kiwi() if model_type is None else Kiwi(model_type=model_type)
        return _KIWIS[model_type]


def kiwi_each(method, texts: list[str], **kwargs):
    """`method` (a Kiwi's tokenize or space) on each text in turn, on this thread. Given a list, Kiwi hands the
    texts to its own thread pool while the caller reads the results (its maintainer advises single texts where that
    matters); a pipeline's parallelism here is its worker processes, and one native crash inside a worker's threads
    takes the whole process down with no Python stack. The results are the same."""
    return (method(text, **kwargs) for text in texts)


_STRIP = ".,!?;:()[]{}\"'“”‘’·…"


def interior_word_counts(lines: list[str]) -> Counter:
    """Words that are not at either end of a line, so not possibly cut by a line break: the joiner's lexicon."""
    counts: Counter = Counter()
    for line in lines:
        words = line.split()
        counts.update(w.strip(_STRIP) for w in words[1:-1])
    return counts


_WORD_RE = re.compile(r"\w+")
# kiwipiepy (0.21) kills the process (segmentation fault) on long runs without a space: a number of 65,536
# characters, and much shorter quote-heavy runs side by side ('"a' * 4100 twice, or 20 KB of '"a":' cut in two
# 10,000-character pieces). Pieces of 1,000 characters or less never did (quotes, JSON, base64, URLs, mixtures; 10 KB
# to 400 KB a text; tokenize and space). So word_tokenize and the spacing signal cut longer runs into such pieces,
# and LineJoiner leaves such pairs to its rules; a word that long is junk to every filter all the same. The match
# starts only where a run starts (time linear in the text).
KIWI_MAX_RUN = 1_000
_LONG_RUN_RE = re.compile(r"(?<!\S)\S{%d,}" % KIWI_MAX_RUN)


def cut_long_runs(text: str) -> str:
    """`text` with every run of KIWI_MAX_RUN or more non-space characters cut by spaces into pieces that long."""
    def cut(m: re.Match) -> str:
        run = m.group(0)
        return " ".join(run[i:i + KIWI_MAX_RUN] for i in range(0, len(run), KIWI_MAX_RUN))
    return _LONG_RUN_RE.sub(cut, text)


def word_tokenize(text: str, mode: str = "regex") -> list[str]:
    """Words for filters and shingles: "kiwi" = Kiwi morphemes (FineWeb-2's choice for Korean), "regex" =
    runs of word characters (eojeol for Korean; fast, no model).

    Kiwi's words are the morphemes' surface spans of the text, as datatrove's KiwiTokenizer gives them (FineWeb-2's
    thresholds were tuned on those): "했다" is 했 + 다, not Kiwi's analysed forms 하 + 었 + 다, which would never
    match a stop word such as 했."""
    if mode == "kiwi":
        kiwi = get_kiwi()
        if kiwi is None:
            raise ImportError("word tokenizer 'kiwi' needs kiwipiepy: pip install 'kiwipiepy<0.22'")
        paras = [cut_long_runs(p) for p in text.split("\n") if p.strip()]
        spans = (p[t.start:t.end].strip() for p, toks in zip(paras, kiwi_each(kiwi.tokenize, paras)) for t in toks)
        return [w for w in spans if w]
    if mode != "regex":
        raise ValueError(f"word tokenizer {mode!r}: use 'kiwi' or 'regex'")
    return _WORD_RE.findall(text)
