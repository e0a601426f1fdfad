"""Checks on synthetic samples, in order: a reply cut at max_tokens, what the reply
carries whatever its format (special tokens, a prompt echo, a broken encoding), format (by the parser), refusal
(axk1/synth/refusal.py), length, language, grounding (QA), benchmark decontamination, copy of the source, duplicates
within the output. The first failing
check is the sample's rejection reason; every rejected sample is kept with it."""

from __future__ import annotations

import re
from pathlib import Path

from axk1.synth.dedup import NearDuplicateIndex
from axk1.synth.recipe import SampleFilterConfig
from axk1.synth.refusal import refusal
from axk1.synth.text import grounding, latin_ratio
from axk1.text.contamination import ContaminationIndex, read_benchmarks, texts_to_check
from axk1.text.korean import hangul_ratio, strip_controls
from axk1.text.mojibake import utf8_read_as_latin1
from axk1.text.ngrams import char_shingles

# A prompt line this long that reappears in a reply is the prompt echoed back, not an answer that happens to match.
ECHO_MIN_CHARS = 20
# Placeholders in the prompt files' format lines: "<the question>", "<질문>", "‹질문>", "<first step>".
_PLACEHOLDER = re.compile(r"[<‹〈][^<>‹›〈〉{}\n]{1,60}[>›〉]")


def reply_problem(reply: str, prompt: str, passage: str, reasoning: str | None = None) -> str | None:
    """Why a raw teacher reply must not become training data whatever its format: it carries a special-token
    string (it would turn into a control token, or teach the model to write one), or it echoes the prompt (its
    instructions or format placeholders). The copy check compares with the passage only, so it misses these."""
    from axk1.text.tokenizer_file import SPECIAL_TOKENS

    for token in SPECIAL_TOKENS:  # the reasoning too: it is kept as teacher_reasoning
        if token in reply or token in (reasoning or ""):
            return f"special token in reply: {token}"
    instructions = prompt.replace(passage, "\n")  # the prompt without its passage: what the teacher was told
    for placeholder in dict.fromkeys(_PLACEHOLDER.findall(instructions)):
        if placeholder in reply:
            return f"prompt echo: the reply contains the prompt's placeholder {placeholder}"
    for line in instructions.splitlines():
        line = line.strip()
        if len(line) >= ECHO_MIN_CHARS and line in reply:
            return f"prompt echo: the reply repeats the prompt's instruction {line[:60]!r}"
    return None


def cut_reply(content: str, reasoning: str | None, finish_reason: str | None, max_tokens: int) -> str | None:
    """Why a reply the teacher stopped at max_tokens is no sample. Checked before its format: a thinking teacher
    (`axk1 serve` thinks by default) can spend the whole budget reasoning and leave the reply empty, which the
    format check called an "empty reply" though the cause, and the fix, is the budget."""
    if finish_reason != "length":
        return None
    if not content.strip() and reasoning:
        return (f"length: the teacher spent [teacher] max_tokens ({max_tokens}) reasoning and was cut before its "
                "reply: raise max_tokens, or turn its thinking off for tasks that do not think "
                "([teacher] thinking_control = true)")
    return f"length: the teacher hit [teacher] max_tokens ({max_tokens}) (the reply is cut)"


class Decontaminator:
    """The evaluation sets' n-grams (axk1/text/contamination.py); a sample sharing any one is contaminated."""

    def __init__(self, sources: list[str], base: Path, n: int = 13) -> None:
        self.index = ContaminationIndex(read_benchmarks(sources, base), n)
        self.sets = self.index.sets

    def check(self, text: str, where: str = "text") -> str | None:
        found = self.index.match(text)
        if found is None:
            return None
        return f"decontamination: {'' if where == 'text' else f'its {where} '}{found.reason(self.index.n)}"


def copied_share(sample: dict, passage: str) -> float:
    """The share of what the teacher was to write in its own words whose shingles the passage holds (containment,
    not Jaccard: an excerpt of 60% of its passage has Jaccard 0.6 but every shingle copied). Its own words: a QA
    sample's question (its answer is meant to quote the passage: the grounding check asks for that), any other
    sample's text."""
    own = char_shingles(sample["fields"].get("question", "") if sample["kind"] == "qa" else sample["text"])
    return len(own & char_shingles(passage)) / len(own) if own else 0.0


def encoding_problem(content: str, reasoning: str | None) -> str | None:
    """Why a teacher's reply holds no text to train on: mojibake (UTF-8 read as Latin-1 or Windows-1252, `ì„œìš¸`
    for `서울`), U+FFFD (bytes the teacher or its server could not decode, replaced) or control characters
    (strip_controls' set, the one the corpus readers remove). Checked on the raw reply and trace, before the format:
    a reply garbled whole has no labels left to find, and was rejected as `format`."""
    for where, value in (("reply", content), ("reasoning trace", reasoning or "")):
        garbled = utf8_read_as_latin1(value)
        if garbled:
            return (f"encoding: mojibake in the {where} (UTF-8 read as Latin-1/Windows-1252): {garbled[0]!r} is "
                    f"{garbled[1]!r}")
        if "\ufffd" in value:
            at = value.index("\ufffd")
            return (f"encoding: U+FFFD (an undecodable byte, replaced) in the {where}, at "
                    f"{value[max(0, at - 20):at + 20]!r}")
        _, controls = strip_controls(value)
        if controls:
            code = next(f"U+{ord(c):04X}" for c in value if strip_controls(c)[1])
            return f"encoding: {controls} control characters in the {where} (the first {code})"
    return None


class SampleFilter:
    def __init__(self, spec: SampleFilterConfig, decontaminator: Decontaminator | None) -> None:
        self.spec = spec
        self.decontaminator = decontaminator
        self.index = NearDuplicateIndex(spec.near_dup_similarity)

    def check(self, sample: dict, passage: str) -> str | None:
        """The rejection reason for `sample` (None: keep it, and remember it for the duplicate check)."""
        s, text, lang = self.spec, sample["text"], sample["language"]
        refused = refusal(sample)
        if refused:
            return refused
        if len(text) < s.min_chars:
            return f"length: {len(text)} chars < {s.min_chars}"
        if len(text) > s.max_chars:
            return f"length: {len(text)} chars > {s.max_chars}"
        ratio = hangul_ratio(text)
        if lang == "ko" and ratio < s.min_hangul_ratio:
            return f"language: Hangul ratio {ratio:.2f} < {s.min_hangul_ratio} for a Korean sample"
        if lang == "en" and (ratio > s.max_hangul_ratio_en or latin_ratio(text) < 0.5):
            return f"language: not English (Hangul ratio {ratio:.2f}, Latin ratio {latin_ratio(text):.2f})"
        if sample["kind"] == "qa":
            share, missing = grounding(sample["fields"]["answer"], passage)
            if share < s.grounding_min:
                return (f"grounding: {share:.0%} of the answer's key spans occur in the passage (< {s.grounding_min:.0%});"
                        f" missing: {', '.join(missing[:5]) or 'no checkable spans'}")
        if self.decontaminator is not None:
            for where, kept in texts_to_check(text, sample.get("fields")):
                reason = self.decontaminator.check(kept, where)
                if reason:
                    return reason
        share = copied_share(sample, passage)
        if share >= s.copy_containment:
            return f"dedup: a copy of the source passage ({share:.0%} of its 7-character shingles are the passage's)"
        other, sim = self.index.find(text)
        if other is not None:
            return f"dedup: near-duplicate of {other} (similarity {sim:.2f})"
        self.index.add(sample["id"], text)
        return None
