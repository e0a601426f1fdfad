"""Difficulty signals per document, stored in metadata for the mix step: compression ratio, lexical diversity
(MTLD), readability (sentence and word length; Flesch does not apply to Korean) and, when a reference model
is given, its perplexity. Nothing is thresholded here: buckets and ordering are chosen at mix time.

Every signal is a property of the text, not of its length: the same text cut at 600 characters, at 8,000 or
whole scores alike (a whole-document compression ratio fell from 0.58 to 0.21 as argparse.py grew, moving it from
the hardest bucket to the easiest). Word length is measured per script: a Hangul word is counted in syllables, on
a range measured on real Korean text (docs/data.md, "Domains, difficulty, curriculum")."""

from __future__ import annotations

import math
import random
import re
import zlib

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from axk1.text.korean import count_syllables, normalize_text

_WORD_RE = re.compile(r"\w+")
# Sentences end at . ! ? 。 and a line break, and in Korean also at a sentence-final ending (다, 요, 죠, 까 closing a
# word of two syllables or more: 했다, 좋았어요, 그렇죠, 합니까) before a space: casual Korean (reviews, comments,
# chat) often has no final punctuation, and a page of ten movie reviews was a few "sentences" of 27 words, which
# scored it above the constitution.
_SENT_RE = re.compile(r"(?<=[.!?。])\s+|(?<=다\.)\s*|(?<=[가-힣][다요죠까])[ \t]+|\n+")


# Compression is measured over windows of this many characters: zlib finds more repeats in a longer text, so a
# whole-document ratio mostly measured length. 256 kept the ratio of real documents (konlpy's Korean bills and
# constitution, Korean and English web pages, licences, stdlib modules) within 0.04 on average between their first
# 600 and 8,000 characters and the whole; windows of 512 spread them more (0.05), the whole document by 0.21.
WINDOW_CHARS = 256
# A text shorter than a window compresses worse for its shortness alone: on the same documents, pieces of L < 256
# characters measured (256 / L) ** 0.25 times the whole document's ratio (exponent 0.21 to 0.30 over L = 50..200,
# Korean and English alike), which this factor takes back out.
SHORT_TEXT_EXPONENT = 0.25


def _deflated(raw: bytes) -> int:
    """Raw deflate size (no zlib header or checksum: six bytes that weigh on a short window alone)."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return len(c.compress(raw) + c.flush())


def compression_ratio(text: str, window: int = WINDOW_CHARS) -> float:
    """Deflated size / UTF-8 size, over windows of `window` characters (every one full: the last ends at the text's
    end, overlapping the one before): repetitive, easy text compresses well (low ratio). Independent of the text's
    length; a text shorter than a window is measured whole and corrected for its shortness."""
    if not text:
        return 0.0
    starts = list(range(0, max(1, len(text) - window + 1), window))
    if len(text) > window and starts[-1] != len(text) - window:
        starts.append(len(text) - window)
    pieces = [text[s:s + window].encode("utf-8") for s in starts]
    ratio = sum(map(_deflated, pieces)) / sum(map(len, pieces))
    return ratio * (len(text) / window) ** SHORT_TEXT_EXPONENT if len(text) < window else ratio


def mtld(words: list[str], threshold: float = 0.72) -> float:
    """Measure of Textual Lexical Diversity (McCarthy & Jarvis), averaged over both directions."""
    def one_way(seq: list[str]) -> float:
        factors, types, count = 0.0, set(), 0
        for w in seq:
            count += 1
            types.add(w)
            if len(types) / count <= threshold:
                factors += 1
                types, count = set(), 0
        if count:
            factors += (1 - len(types) / count) / (1 - threshold)
        return len(seq) / factors if factors else float(len(seq))
    if not words:
        return 0.0
    return (one_way(words) + one_way(words[::-1])) / 2


def _is_hangul_word(word: str) -> bool:
    return count_syllables(word) * 2 > len(word)


def readability(text: str) -> dict[str, float]:
    """Words a sentence and word length, the latter per script: `chars_per_word` over the words not written in
    Hangul, `hangul_chars_per_word` (syllables) over those that are, `hangul_words` their share of the words."""
    sents = [s for s in _SENT_RE.split(text) if s and s.strip()]
    words = _WORD_RE.findall(text)
    hangul = [w for w in words if _is_hangul_word(w)]
    other = [w for w in words if not _is_hangul_word(w)]
    return {"words_per_sentence": len(words) / max(1, len(sents)),
            "chars_per_word": sum(map(len, other)) / max(1, len(other)),
            "hangul_chars_per_word": sum(map(len, hangul)) / max(1, len(hangul)),
            "hangul_words": len(hangul) / max(1, len(words))}


def _squash(x: float, lo: float, hi: float) -> float:
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


# Text in random order (characters shuffled: spam generators, broken extraction) looks hard on every signal above:
# it compresses badly, its words never repeat (MTLD), its "sentences" run long. It is told by comparing the text
# with a copy of its characters shuffled (a fixed seed, so the score stays a function of the text): real text
# deflates better than its shuffled copy, by order alone (ratio 0.59 to 0.84 over real documents and their first
# 1,000 and 3,000 characters: konlpy's bills and constitution, the Korean and English help pages of
# tests/fixtures/web, Python's documentation, a page of movie reviews), the constitution's characters shuffled do
# not (0.996). Shorter texts are not judged (a 300-character help page measured 0.89). Words shuffled keep their
# characters' order and are not caught: MTLD against the words shuffled again separated them from real text of
# 1,000 words by too thin a margin (real pieces up to 0.82, shuffled copies from 0.86).
DISORDER_MIN_CHARS, DISORDER_RATIO = 1000, 0.95
_DISORDER_SAMPLE = 4000  # characters compared (the first ones): enough to tell, cheap on a long document


def disordered(text: str) -> bool:
    """Whether the text reads as characters in random order (see DISORDER_RATIO)."""
    if len(text) < DISORDER_MIN_CHARS:
        return False
    sample = text[:_DISORDER_SAMPLE]
    chars = list(sample)
    random.Random(0).shuffle(chars)
    return _deflated(sample.encode("utf-8")) >= DISORDER_RATIO * _deflated("".join(chars).encode("utf-8"))


def difficulty_signals(text: str) -> dict[str, float]:
    text = normalize_text(text)  # NFD Hangul triples the characters per word and halves the compression ratio
    words = [w.lower() for w in _WORD_RE.findall(text)]
    r = readability(text)
    return {"compression_ratio": round(compression_ratio(text), 4), "mtld": round(mtld(words), 2),
            "words_per_sentence": round(r["words_per_sentence"], 2), "chars_per_word": round(r["chars_per_word"], 3),
            "hangul_chars_per_word": round(r["hangul_chars_per_word"], 3),
            "hangul_words": round(r["hangul_words"], 3), "disordered": int(disordered(text))}


# The ranges each signal is squashed over. Compression: the windowed ratio of real documents of 600 characters or
# more (those named at WINDOW_CHARS) runs 0.51 (p10) to 0.68 (p90); this range puts them where the whole-document
# ratio on 0.2-0.6 put them (0.22 and 0.71), so the default buckets [0.35, 0.5] keep their meaning.
COMPRESSION_RANGE = (0.44, 0.77)
# Word length, Latin and other scripts: letters a word. Hangul: syllables a word, a syllable worth about 1.5
# letters: the median prose document of 300 characters or more has 3.05 syllables a Hangul word (33 documents:
# konlpy's bills and constitution chapters, 14 Korean web pages of Debian's FAQ and the GIMP and LibreOffice help) and
# 4.68 letters a word in English (15: the English pages of the same help, Debian's licence texts). On the Latin range
# Korean words all looked short (3.05 squashed to 0.21, English 4.68 to 0.54); the Latin range divided by 1.53
# puts the two medians together.
WORD_RANGE = (2.0, 7.0)
HANGUL_WORD_RANGE = (1.3, 4.6)


def difficulty_score(signals: dict[str, float]) -> float:
    """One number in [0, 1] from the signals: fixed ranges, so a document's score depends on its text alone (and
    the reference model), never on the other documents of the corpus or on how long it is; perplexity, when
    present, counts as much as the other signals together. Text in random order (`disordered`) scores 0: its
    signals measure the disorder, not a difficulty, and it must not land in the hardest bucket. Nor is it trained
    as the easiest: the annotate stage removes what is flagged (axk1/data/disorder_filter.py)."""
    if signals.get("disordered"):
        return 0.0
    share = signals["hangul_words"]
    words = (share * _squash(signals["hangul_chars_per_word"], *HANGUL_WORD_RANGE)
             + (1 - share) * _squash(signals["chars_per_word"], *WORD_RANGE))
    parts = [_squash(signals["compression_ratio"], *COMPRESSION_RANGE), _squash(math.log1p(signals["mtld"]), 2.5, 5.5),
             _squash(signals["words_per_sentence"], 5, 35), words]
    score = sum(parts) / len(parts)
    if "perplexity" in signals:
        score = 0.5 * score + 0.5 * _squash(math.log(max(1.0, signals["perplexity"])), 1.0, 8.0)
    return round(score, 4)


class ReferencePerplexity:
    """Perplexity of the first `max_tokens` tokens under a causal LM folder (axk1 HF layout + tokenizer.json)."""

    def __init__(self, model_dir: str, max_tokens: int = 256):
        import torch
        from axk1.text.tokenizer_file import load_tokenizer

        from axk1.checkpoint.hf import load_model
        self.model = load_model(model_dir, dtype=torch.float32, device="cpu").eval()
        self.tokenizer = load_tokenizer(model_dir)
        self.max_tokens = max_tokens

    def __call__(self, text: str) -> float:
        import torch
        import torch.nn.functional as F

        from axk1.data.tokenizer import encode_plain

        ids = encode_plain(self.tokenizer, [text])[0].ids[: self.max_tokens]  # quoted "<|im_end|>" is text here
        if len(ids) < 2:
            return float("nan")
        ids_1T = torch.tensor([ids])
        with torch.no_grad():
            logits_1TV = self.model(ids_1T)
        nll = F.cross_entropy(logits_1TV[0, :-1].float(), ids_1T[0, 1:])
        return float(torch.exp(nll))


class DifficultyAnnotator(PipelineStep):
    name = "axk1 difficulty"
    type = "🏷 - ANNOTATE"

    def __init__(self, reference_model: str | None = None):
        super().__init__()
        self.reference_model = reference_model
        self._ppl = None

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self.reference_model and self._ppl is None:
            self._ppl = ReferencePerplexity(self.reference_model)
        for doc in data:
            with self.track_time():
                annotate_difficulty(doc, self._ppl)
            yield doc


def annotate_difficulty(doc: Document, ppl=None) -> None:
    signals = difficulty_signals(doc.text)
    if ppl is not None:
        value = ppl(doc.text)
        if value == value:  # not NaN
            signals["perplexity"] = round(value, 3)
    doc.metadata["difficulty_signals"] = signals
    doc.metadata["difficulty"] = difficulty_score(signals)


def difficulty_step(annotate, exclusions) -> DifficultyAnnotator:
    """The annotate stage's entry (axk1/data/annotate_steps.py): `[annotate] reference_model` for perplexity,
    skipped when empty."""
    return DifficultyAnnotator(annotate.reference_model or None)
