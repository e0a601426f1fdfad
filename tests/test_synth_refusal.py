"""A teacher's refusal written in the asked-for format was kept as reasoning data: the refusal check
(axk1/synth/refusal.py) rejects it, in English and Korean, and leaves real text and ordinary samples alone."""

from pathlib import Path

from axk1.synth.filters import SampleFilter
from axk1.synth.formats import parse_reply
from axk1.synth.recipe import SampleFilterConfig
from axk1.synth.refusal import refusal
from tests.korean_corpus import CORPUS

PASSAGE = "Sheep are counted at the market every Monday; sums like 3 + 4 = 7 are done step by step. " * 3
WEB = Path(__file__).parent / "fixtures" / "web"


def sample(kind: str, reply: str, language: str = "en", id: str = "s") -> dict:
    parsed = parse_reply(kind, reply)
    assert parsed.error is None, parsed.error
    return {"id": id, "kind": kind, "language": language, "text": parsed.text, "fields": parsed.fields,
            "metadata": {"finish_reason": "stop"}}


def check(s: dict) -> str | None:
    return SampleFilter(SampleFilterConfig(), None).check(s, PASSAGE)


def test_a_refusal_in_the_asked_for_format_is_rejected_as_a_refusal():
    refused = sample("reasoning", "Problem: I cannot comply.\nSolution:\n1. I'm sorry.\n2. I can't help with that.\n"
                                  "Final answer: I cannot help with that.")
    assert check(refused) == "refusal: the teacher refused (final_answer opens with 'I cannot help')"
    # a worked problem whose final answer is a refusal
    answer = sample("reasoning", "Problem: A farmer has 12 sheep and buys 5 more. How many sheep?\nSolution:\n"
                                 "1. He starts with 12.\n2. He buys 5.\nFinal answer: I’m sorry, but I can’t answer.")
    assert check(answer).startswith("refusal: the teacher refused (final_answer opens with \"I'm sorry, but\")")
    ko_qa = sample("qa", "질문: 시장에서 양을 언제 셉니까?\n답변: 죄송하지만 이 요청은 도와드릴 수 없습니다.", "ko")
    assert check(ko_qa).startswith("refusal: the teacher refused (answer opens with '죄송하지만')")
    ko_rewrite = sample("rewrite", "요청하신 글은 다시 써 드릴 수 없습니다. 이 질문에 답변을 드릴 수 없는 점 양해 바랍니다.", "ko")
    assert check(ko_rewrite).startswith("refusal:")


def test_ordinary_samples_and_real_text_are_not_refusals():
    worked = sample("reasoning", "Problem: A farmer has 12 sheep and buys 5 more. How many sheep?\nSolution:\n"
                                 "1. He starts with 12.\n2. Adding 5 gives 17.\nFinal answer: 17")
    assert check(worked) is None
    story = ("The market opened early on Monday and the farmer counted his sheep twice before selling any of them. "
             "A neighbour arrived late, out of breath, and asked to borrow a cart for the afternoon. \"I'm sorry, but "
             "I cannot help you today,\" the farmer said, and sold his sheep.")
    assert refusal({"text": story, "fields": {"text": story}}) is None  # dialogue past the opening
    for text in ["How can I help a friend who has 3 sheep?", "도움을 드릴 수 있는 방법은 세 가지입니다."]:
        assert refusal({"text": text, "fields": {"answer": text}}) is None
    # documents nobody here wrote: the web help pages of the fixtures, konlpy's bills and constitution
    real = [p.read_text(encoding="utf-8") for p in sorted(WEB.glob("*.main.txt"))]
    real += [p.read_text(encoding="utf-8") for p in sorted((CORPUS / "kobill").glob("*.txt"))]
    real.append((CORPUS / "kolaw" / "constitution.txt").read_text(encoding="utf-8"))
    paragraphs = [p for t in real for p in t.split("\n\n") if p.strip()]
    assert len(paragraphs) > 100
    assert [p[:60] for p in paragraphs if refusal({"text": p, "fields": {}})] == []
