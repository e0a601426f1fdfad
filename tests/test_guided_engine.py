"""Guided decoding in the engine, stepped by hand on a random-weight axk1-tiny (whose unconstrained output is
garbage, so a reply that parses is the constraint's doing): constrained and free rows in one batch, preemption and
recomputation (a token must enter a choice's matcher once), and a drafting engine (constrained rows are not
drafted, and give the plain engine's reply)."""

from __future__ import annotations

import json
import queue

import jsonschema
import llguidance
import pytest
import torch

import axk1
from axk1.infer.engine import Engine, SamplingParams
from axk1.infer.guided import Guide
from axk1.infer.guided_request import JSON_OPTIONS
from axk1.infer.engine_config import EngineConfig
from tests.serve_helpers import train_tokenizer

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 99}}, "required": ["n"],
          "additionalProperties": False}
EOS = 2
FREE_TOKENS = 16
MAX_TOKENS = 90  # room for the JSON and the whitespace a random model puts between its tokens (<= 16 a gap)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return axk1.AXK1ForCausalLM(axk1.ModelConfig.from_preset("axk1-tiny"), with_mtp=True).eval()


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(512)


@pytest.fixture(scope="module")
def constraint(tokenizer):
    guide = Guide(tokenizer, 512, [EOS], tokenizer.token_to_id("</think>"))
    return guide.compile(llguidance.LLMatcher.grammar_from_json_schema(SCHEMA, defaults=JSON_OPTIONS), "guided_json")


def _prompt(n, seed):
    g = torch.Generator().manual_seed(seed)
    return [1] + torch.randint(3, 400, (n - 1,), generator=g).tolist()


def _run(model, jobs, **engine_kw):
    """jobs: (prompt, constraint or None, temperature, n); every choice's (tokens, finish reason), job by job, and
    the engine, stepped to the end. A free job stops at FREE_TOKENS: its garbage only needs to be seen."""
    engine = Engine(model, EngineConfig(**{"max_batch": 8, "max_model_len": 128, "block_size": 4, **engine_kw}))
    events: queue.Queue = queue.Queue()
    ids = []
    for j, (prompt, constraint, temperature, n) in enumerate(jobs):
        params = SamplingParams(max_tokens=MAX_TOKENS if constraint else FREE_TOKENS, temperature=temperature,
                                seed=j, stop_ids=frozenset({EOS}), constraint=constraint)
        ids += [s.id for s in engine.submit(prompt, params, lambda s, t, r, e: events.put((s.id, t, r, e)), n=n)]
    for _ in range(10_000):
        if not (engine.num_running or engine.num_waiting):
            break
        engine.step()
    out = {i: ([], None) for i in ids}
    while not events.empty():
        i, token, reason, error = events.get()
        assert error is None, error
        if token is not None:
            out[i][0].append(token)
        else:
            out[i] = (out[i][0], reason)
    return [out[i] for i in ids], engine


def _valid(tokenizer, tokens) -> bool:
    try:
        jsonschema.validate(json.loads(tokenizer.decode(tokens)), SCHEMA)
    except (ValueError, jsonschema.ValidationError):
        return False
    return True


def test_constrained_and_free_rows_share_steps_and_only_the_constrained_parse(model, tokenizer, constraint):
    jobs = [(_prompt(9, 1), constraint, 0.0, 1), (_prompt(14, 2), None, 0.0, 1), (_prompt(5, 3), constraint, 1.0, 2),
            (_prompt(7, 4), None, 1.0, 1)]
    got, engine = _run(model, jobs, speculative=False)
    constrained = [got[0], got[2], got[3]]
    for tokens, reason in constrained:
        assert reason == "stop" and _valid(tokenizer, tokens), tokenizer.decode(tokens)
    assert constrained[1][0] != constrained[2][0]  # n = 2: each choice its own matcher and draws
    for tokens, _ in (got[1], got[4]):
        assert not _valid(tokenizer, tokens)  # the same model, free: garbage
    # one decode step ran every row: never more steps than the longest reply and the prefills need
    assert engine.stats.decode_steps <= max(len(t) for t, _ in got) + 2


def test_preemption_recomputes_a_constrained_choice_without_feeding_its_matcher_twice(model, tokenizer, constraint):
    """A pool of one context for four constrained choices: they are preempted and recomputed mid-reply. A token fed
    to a matcher twice would break it (an error) or change what it allows: the replies are those of a roomy pool."""
    jobs = [(_prompt(34 + i, 10 + i), constraint, 1.0, 1) for i in range(4)]
    roomy, _ = _run(model, jobs, speculative=False)
    tight, engine = _run(model, jobs, speculative=False, cache_tokens=128, max_batch=4)
    assert engine.scheduler.preemptions > 0
    assert tight == roomy
    assert all(reason == "stop" and _valid(tokenizer, tokens) for tokens, reason in tight)


def test_a_drafting_engine_does_not_draft_constrained_rows_and_gives_their_plain_reply(model, tokenizer, constraint):
    jobs = [(_prompt(9, 1), constraint, 0.0, 1), (_prompt(12, 5), None, 0.0, 1), (_prompt(6, 6), constraint, 1.0, 2)]
    plain, _ = _run(model, jobs, speculative=False)
    drafted, engine = _run(model, jobs, speculative=True)
    assert drafted == plain  # greedy and seeded rows: the same tokens with or without the drafter
    assert 0 < engine.drafter.drafted <= FREE_TOKENS  # only the free row drafted, once per step at most
    assert all(_valid(tokenizer, t) for t, _ in (drafted[0], drafted[2], drafted[3]))


def _events(model, jobs):
    """Like _run, but every event (choice id, token, reason, error) in order, errors included."""
    engine = Engine(model, EngineConfig(max_batch=8, max_model_len=128, block_size=4, speculative=False))
    events: queue.Queue = queue.Queue()
    ids = []
    for j, (prompt, constraint, n) in enumerate(jobs):
        params = SamplingParams(max_tokens=MAX_TOKENS if constraint else FREE_TOKENS, temperature=1.0, seed=j,
                                stop_ids=frozenset({EOS}), constraint=constraint)
        ids.append([s.id for s in engine.submit(prompt, params, lambda s, t, r, e: events.put((s.id, t, r, e)), n=n)])
    for _ in range(10_000):
        if not (engine.num_running or engine.num_waiting):
            break
        engine.step()
    got = []
    while not events.empty():
        got.append(events.get())
    return ids, got


def test_a_matcher_failing_mid_reply_ends_its_choice_alone_with_a_short_error(model, tokenizer):
    """A grammar that passes compile's first steps and meets llguidance's row limit later (2,001 alternatives after
    a prefix of eight "q" or "r"): each of its choices ends with a short error, the token its matcher refused is not
    sent, and the free row beside it runs to its end."""
    guide = Guide(tokenizer, 512, [EOS], None)
    lark = "start: " + "qr " * 8 + "big\nqr: \"q\" | \"r\"\nbig: " + " | ".join(f'"c{i}"' for i in range(2001))
    constraint = guide.compile(llguidance.LLMatcher.grammar_from_lark(lark), "guided_grammar")
    (choices, (free,)), events = _events(model, [(_prompt(9, 1), constraint, 2), (_prompt(7, 2), None, 1)])
    for i in choices:
        tokens = [t for s, t, _, _ in events if s == i and t is not None]
        (reason, error), = [(r, e) for s, t, r, e in events if s == i and t is None]
        assert reason == "error" and "Current row has" in error and len(error) < 300 and "<state>" not in error, error
        assert set(tokenizer.decode(tokens)) <= {"q", "r"} and len(tokenizer.decode(tokens)) < 8  # refused: unsent
    assert len([t for s, t, _, _ in events if s == free and t is not None]) == FREE_TOKENS
    assert [(r, e) for s, t, r, e in events if s == free and t is None] == [("length", None)]
