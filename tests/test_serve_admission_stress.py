"""Admission, chunked prefill and preemption when the prompts together overflow the pool (a probe's shape: three
12,000-token prompts on a 32,768-token pool of 16-token blocks, 3 x 12,064 tokens > the pool, stalled once with one
chunk prefilled). Here the same shape at a tiny scale, stepped by hand with a step bound, so a livelock (steps that
compute nothing, or a sequence no step continues) fails the test instead of hanging it; every reply must equal
generation alone."""

import queue

import pytest
import torch

import axk1
from axk1.infer.engine import Engine, SamplingParams
from axk1.infer.engine_config import EngineConfig
from axk1.infer.generate import generate
from axk1.infer.metrics import ServerMetrics

BLOCK, CHUNK, CONTEXT, MAX_TOKENS = 8, 16, 128, 10
LENGTHS = (90, 100, 84)  # ~12-14 blocks each at their end, 3 of them; the pool holds 16


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return axk1.AXK1ForCausalLM(axk1.ModelConfig.from_preset("axk1-tiny")).eval()


@pytest.fixture(scope="module")
def prompts():
    g = torch.Generator().manual_seed(12)
    return [torch.randint(3, 500, (n,), generator=g).tolist() for n in LENGTHS]


@pytest.fixture(scope="module")
def alone(model, prompts):
    return [generate(model, [p], max_new_tokens=MAX_TOKENS, stop_ids=[]).tokens[0] for p in prompts]


def _serve(model, prompts, arrivals, max_batch, max_steps):
    """Submit prompt i before step arrivals[i]; step until all have ended. Returns (tokens by prompt, end by prompt,
    steps taken, engine); fails if max_steps pass first, or if a step with work computes nothing."""
    engine = Engine(model, EngineConfig(max_batch=max_batch, max_model_len=CONTEXT, cache_tokens=CONTEXT,
                                        block_size=BLOCK, prefill_chunk=CHUNK))
    events = queue.Queue()
    params = SamplingParams(max_tokens=MAX_TOKENS, temperature=0.0, stop_ids=frozenset())
    which = {}
    for step in range(max_steps):
        for i, at in enumerate(arrivals):
            if at == step:
                (s,) = engine.submit(prompts[i], params, lambda s, t, r, e: events.put((s.id, t, r, e)))
                which[s.id] = i
        if step > max(arrivals) and not (engine.num_running or engine.num_waiting):
            break
        before = (engine.stats.prefill_tokens, engine.stats.decode_rows)
        engine.step()
        # a step with sequences to run must compute something: an empty step repeats forever (nothing changes)
        assert (engine.stats.prefill_tokens, engine.stats.decode_rows) != before, (step, engine.num_running,
                                                                                    engine.num_waiting)
    else:
        pytest.fail(f"not finished in {max_steps} steps: {engine.num_running} running, {engine.num_waiting} waiting")
    tokens, ends = {}, {}
    while not events.empty():
        sid, token, reason, error = events.get()
        if token is None:
            ends[which[sid]] = (reason, error)
        else:
            tokens.setdefault(which[sid], []).append(token)
    return tokens, ends, step, engine


# arrivals: together; the others during the first's prefill (its 2nd and 4th chunk); the last while the first
# decodes; one by one, each mid-prefill of the one before
@pytest.mark.parametrize("arrivals", [(0, 0, 0), (0, 1, 1), (0, 3, 4), (0, 2, 8), (0, 4, 8)])
@pytest.mark.parametrize("max_batch", [1, 2, 3, 8])
def test_prompts_that_overflow_the_pool_all_finish_as_alone(model, prompts, alone, arrivals, max_batch):
    assert sum(n + MAX_TOKENS for n in LENGTHS) > CONTEXT  # the pool (one context) cannot hold them all at once
    # one at a time, a prompt takes ceil(n / CHUNK) steps and then MAX_TOKENS - 1 decode steps; preemption may
    # recompute each prompt about once more, so three times the serial count is room enough, and far from forever
    serial = sum(-(-n // CHUNK) + MAX_TOKENS - 1 for n in LENGTHS)
    tokens, ends, steps, engine = _serve(model, prompts, arrivals, max_batch, max_steps=3 * serial + max(arrivals))
    for i in range(len(prompts)):
        assert ends[i] == ("length", None) and tokens[i] == alone[i], i
    assert engine.pool.num_held == 0  # every block back
    assert engine.stats.prefill_tokens >= sum(LENGTHS)  # each chunk counted as computed, recompute again


def test_prefill_tokens_are_counted_per_chunk_as_computed(model, prompts):
    """/metrics' axk1_prefill_tokens_total grows with every chunk, not when a prompt's prefill ends: a long prompt
    in progress shows how far it has come."""
    engine = Engine(model, EngineConfig(max_batch=4, max_model_len=CONTEXT, block_size=BLOCK, prefill_chunk=CHUNK))
    engine.submit(prompts[0], SamplingParams(max_tokens=2, temperature=0.0), lambda *a: None)
    for step in range(1, 4):
        engine.step()
        assert engine.stats.prefill_tokens == step * CHUNK


def _metric(text, name):
    (line,) = [ln for ln in text.splitlines() if ln.startswith(name + " ")]
    return float(line.split()[1])


def test_metrics_count_steps_and_show_a_step_in_progress(model, prompts):
    """The probe's stall left /metrics unable to say whether the engine was inside one long step or stepping
    without progress. axk1_engine_steps_total counts steps (an empty one too) and axk1_engine_step_running_seconds
    is nonzero only while a step runs: here read from the sink, which the engine calls inside its step."""
    engine = Engine(model, EngineConfig(max_batch=4, max_model_len=CONTEXT, block_size=BLOCK, prefill_chunk=CHUNK))
    server = ServerMetrics()
    inside = []
    engine.submit(prompts[2][:20], SamplingParams(max_tokens=3, temperature=0.0, stop_ids=frozenset()),
                  lambda s, t, r, e: inside.append((engine.stats.step_started is not None,
                                                    _metric(server.render(engine), "axk1_engine_steps_total"))))
    for _ in range(4):  # the prompt's two chunks and two decode steps, each sampling a token or ending the choice
        engine.step()
    engine.step()  # nothing left to run: a step all the same, counted
    text = server.render(engine)
    assert _metric(text, "axk1_engine_steps_total") == 5
    assert _metric(text, "axk1_engine_step_running_seconds") == 0  # between steps
    # every token and the end came from inside a step, which the count did not include yet
    assert inside == [(True, 1), (True, 2), (True, 3), (True, 3)], inside
