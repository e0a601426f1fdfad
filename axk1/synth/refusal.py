"""A teacher that refuses is no teacher: a refusal written in the asked-for format ("Problem: I cannot comply. ...
Final answer: I cannot help with that.") passed every other check and was kept as reasoning data. Refusals open
what they refuse, so the openings of what the teacher wrote are searched: the sample's text (its problem, question
or rewrite) and its answer fields. Not the whole text: a rewrite of a story may quote "I'm sorry, but" in dialogue;
nor the reasoning trace, where a thinking teacher weighs refusing and then answers."""

from __future__ import annotations

import re

# Phrases only a refusal or an assistant's apology opens with, English and Korean; curly apostrophes too.
_EN = [r"i(?:'m| am) sorry,? but",
       r"i (?:cannot|can ?not|can't|won't|will not) (?:help|assist|comply|provide|do that)",
       r"i(?:'m| am) (?:unable|not able) to (?:help|assist|comply|provide|answer)",
       r"as an ai(?: language model)?,"]
_KO = [r"죄송하지만", r"죄송합니다만", r"도와\s?드릴 수 없", r"도와\s?드리기 어렵", r"도움을 드릴 수 없",
       r"(?:요청|질문)(?:을|에) (?:들어\s?드릴|응할|답할|답변할|답변드릴) 수 없", r"답변(?:을)? ?드릴 수 없",
       r"AI 언어 모델로서"]
REFUSAL = re.compile(r"(?<!\w)(?:" + "|".join(_EN + _KO) + ")", re.IGNORECASE)
OPENING_CHARS = 160  # what a refusal's first sentence fits in, after any markdown or preamble word
ANSWER_FIELDS = ("answer", "final_answer")


def refusal(sample: dict) -> str | None:
    """The rejection reason when the teacher refused (a refusal phrase opens the text or an answer field)."""
    fields = sample.get("fields") or {}
    for where, value in [(f, fields[f]) for f in ANSWER_FIELDS if f in fields] + [("text", sample["text"])]:
        found = REFUSAL.search(value.replace("\u2019", "'")[:OPENING_CHARS])
        if found:
            return f"refusal: the teacher refused ({where} opens with {found.group(0)!r})"
    return None
