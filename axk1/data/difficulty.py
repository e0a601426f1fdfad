"""Difficulty signals per document, stored in metadata for the mix step: compression ratio, lexical diversity
(MTLD), readability (sentence and word length; Flesch does not apply to Korean) and, when a reference model
is given, its perplexity. Nothing is thresholded here: buckets and ordering are chosen at mix time."""

from __future__ import annotations

import math
import re
import zlib

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from axk1.text.korean import normalize_text

_WORD_RE = re.compile(r"\w+")
_SENT_RE = re.compile(r"(?<=[.!?。])\s+|(?<=다\.)\s*|\n+")


def compression_ratio(text: str) -> float:
    """zlib-compressed size / raw UTF-8 size: repetitive, easy text compresses well (low ratio)."""
    raw = text.encode("utf-8")
    return len(zlib.compress(raw, 6)) / len(raw) if raw else 0.0


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


def readability(text: str) -> dict[str, float]:
    sents = [s for s in _SENT_RE.split(text) if s and s.strip()]
    words = _WORD_RE.findall(text)
    return {"words_per_sentence": len(words) / max(1, len(sents)),
            "chars_per_word": sum(map(len, words)) / max(1, len(words))}


def _squash(x: float, lo: float, hi: float) -> float:
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


def difficulty_signals(text: str) -> dict[str, float]:
    text = normalize_text(text)  # NFD Hangul triples the characters per word and halves the compression ratio
    words = [w.lower() for w in _WORD_RE.findall(text)]
    r = readability(text)
    return {"compression_ratio": round(compression_ratio(text), 4), "mtld": round(mtld(words), 2),
            "words_per_sentence": round(r["words_per_sentence"], 2), "chars_per_word": round(r["chars_per_word"], 3)}


def difficulty_score(signals: dict[str, float]) -> float:
    """One number in [0, 1] from the signals (fixed ranges, so a document's score does not depend on the
    corpus); perplexity, when present, counts as much as the other signals together."""
    parts = [_squash(signals["compression_ratio"], 0.2, 0.6), _squash(math.log1p(signals["mtld"]), 2.5, 5.5),
             _squash(signals["words_per_sentence"], 5, 35), _squash(signals["chars_per_word"], 2, 7)]
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
