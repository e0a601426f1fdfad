"""Structured outputs' masks at A.X K1's vocabulary width (163,840 logits a row), checked against llguidance's own
bitmask: each constrained row keeps exactly the tokens its matcher allows, other rows are left alone, and a step
allocates ~2 bytes a token to unpack and apply the masks (their int32 a bit, twice, and a gathered copy of the
logits cost ~19 bytes a token: ~25 MB a step for 8 rows). The first-steps budget of a compile counts its thread's
CPU, not the wall clock that a busy machine stretches. A strict tool's calls under tool_choice "auto" are masked from
each `<tool_call>` to its `</tool_call>`, the rest of the reply (and the reasoning) left free."""

from __future__ import annotations

from types import SimpleNamespace

import llguidance
import numpy as np
import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from axk1.infer import guided
from axk1.infer.guided import Guide, mask_guided
from axk1.infer.guided_request import JSON_OPTIONS, strict_call_grammar
from tests.serve_helpers import train_tokenizer

V = 163_840  # A.X K1's vocabulary: the head's width; the test tokenizer fills its first ~400 ids
EOS = 2


class Row:
    def __init__(self, guide):
        self.guide = guide


@pytest.fixture(scope="module")
def guide():
    tokenizer = train_tokenizer(512)
    return Guide(tokenizer, V, [EOS], tokenizer.token_to_id("</think>"))


def _schema(guide, schema):
    return guide.compile(llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=JSON_OPTIONS), "guided_json")


def _allowed(matcher) -> set[int]:
    """The tokens llguidance's bitmask allows, unpacked by numpy (not by the code under test)."""
    bits = np.unpackbits(np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")[:V]
    return set(np.flatnonzero(bits).tolist())


def _advance(sequence, text_tokens):
    for token in text_tokens:
        assert sequence.follow(token) is None


@pytest.mark.parametrize("free_rows", [False, True], ids=["all rows constrained", "mixed with free rows"])
def test_each_constrained_row_keeps_exactly_what_its_matcher_allows(guide, free_rows):
    obj = _schema(guide, {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})
    num = guide.compile(llguidance.LLMatcher.grammar_from_regex(r"[0-9]{2,6}"), "guided_regex")
    rows = [Row(obj.start()), Row(num.start()), Row(obj.start())]
    _advance(rows[2].guide, guide.tokenizer.tokenize_str('{"name": "a'))  # inside a string: most tokens allowed
    if free_rows:  # a free row, and one whose constraint waits for </think>
        rows = [Row(None), rows[0], Row(obj.waiting_for(guide.think_close).start()), rows[1], rows[2]]
    logits = torch.randn(len(rows), V)
    before = logits.clone()
    mask_guided(rows, logits)
    for r, row in enumerate(rows):
        if row.guide is None or not row.guide.active:
            assert torch.equal(logits[r], before[r])
            continue
        kept = set(torch.isfinite(logits[r]).nonzero()[:, 0].tolist())
        assert kept == _allowed(row.guide.matcher) and kept
        assert torch.equal(logits[r, sorted(kept)], before[r, sorted(kept)])
    assert len(set(torch.isfinite(logits[-1]).nonzero()[:, 0].tolist())) > 100  # the string's row: a wide mask


def test_a_step_allocates_a_few_bytes_a_token_and_masks_in_place(guide):
    obj = _schema(guide, {"type": "object"})
    rows = [Row(obj.start()) for _ in range(8)]
    logits = torch.randn(8, V)
    mask_guided(rows, logits.clone())  # llguidance's first masks, and torch's first calls, outside the count
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        mask_guided(rows, logits)
    allocated = sum(e.cpu_memory_usage for e in prof.events() if e.cpu_memory_usage > 0 and e.cpu_parent is None)
    assert allocated / (8 * V) < 3, f"{allocated / (8 * V):.1f} bytes a token"
    assert torch.isfinite(logits).sum(dim=1).tolist() == [len(_allowed(r.guide.matcher)) for r in rows]


class _StalledClock:
    """The time module as a compiling thread sees it on a busy machine: each wall-clock reading a second later
    (the thread waiting for a CPU), its own CPU time as it is."""

    def __init__(self):
        import time
        self._time, self._now = time, 0.0

    def monotonic(self):
        self._now += 1.0
        return self._now

    def __getattr__(self, name):
        return getattr(self._time, name)


def test_the_first_steps_budget_counts_cpu_not_a_busy_machines_wall_clock(guide, monkeypatch):
    schema = llguidance.LLMatcher.grammar_from_json_schema({"type": "object"}, defaults=JSON_OPTIONS)
    monkeypatch.setattr(guided, "time", _StalledClock())
    assert guide.compile(schema, "guided_json").kind == "guided_json"
    monkeypatch.setattr(guided, "FIRST_STEPS_BUDGET_S", 1e-9)  # a grammar whose masks cost more than the budget
    with pytest.raises(ValueError, match="ms of CPU for its first tokens' masks; this server allows 0 ms"):
        guide.compile(schema, "guided_json")


def test_a_strict_call_constrains_each_call_a_free_reply_opens_and_not_the_reasoning(guide):
    """Strict tools under tool_choice "auto" (guided_request.strict_call_grammar): think mode's reasoning is free,
    a `<tool_call>` in it included; in the answer, each `<tool_call>` the model writes starts the call's grammar
    (its row masked), and after the call's `</tool_call>` the reply is free (unmasked) until the next one."""
    tool = {"type": "function", "function": {"name": "f", "strict": True, "parameters": {
        "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "additionalProperties": False}}}
    open_id = guide.special_id("<tool_call>")
    constraint = guide.compile(strict_call_grammar(SimpleNamespace(tools=[tool]), guide), "tools")
    row = Row(constraint.triggered_by(open_id).waiting_for(guide.think_close).start())
    tokens = guide.tokenizer.tokenize_str
    call = tokens('<tool_call>\n{"name": "f", "arguments": {"n": 7}}\n</tool_call>', parse_special=True)
    free = tokens("It is one.", parse_special=True)

    def masked() -> bool:
        logits = torch.zeros(1, V)
        mask_guided([row], logits)
        return not torch.isfinite(logits).all()

    _advance(row.guide, call + free)  # reasoning: the block is not followed
    assert not row.guide.active and not masked()
    _advance(row.guide, [guide.think_close] + free)
    for _ in range(2):  # two calls, text between them
        _advance(row.guide, call[:1])
        assert row.guide.active and masked()
        _advance(row.guide, call[1:])
        assert not row.guide.active and not masked()
        _advance(row.guide, free)
    _advance(row.guide, call[:-4])
    assert row.guide.follow(tokens("x")[0])[0] == "error"  # inside a call, its grammar holds
