"""The serving engine's paged latent cache: chunked prefill, prefix caching, pool exhaustion and eviction, each
checked against generation with the plain contiguous cache (axk1.infer.generate: the whole prompt in one forward)."""

import queue

import pytest
import torch

import axk1
from axk1.infer.block_pool import BlockPool, PoolExhausted
from axk1.infer.engine import Engine, SamplingParams
from axk1.infer.generate import generate
from axk1.infer.engine_config import EngineConfig


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return axk1.AXK1ForCausalLM(axk1.ModelConfig.from_preset("axk1-tiny")).eval()


def _prompt(n, seed):
    g = torch.Generator().manual_seed(seed)
    return [1] + torch.randint(3, 500, (n - 1,), generator=g).tolist()


class _Run:
    """An engine stepped by hand (no thread): submit, then step until every sequence has finished."""

    def __init__(self, model, **kw):
        self.engine = Engine(model, EngineConfig(**kw))
        self.events = queue.Queue()

    def submit(self, prompt, max_tokens, n=1, **params):
        params = SamplingParams(max_tokens=max_tokens, stop_ids=frozenset(), **{"temperature": 0.0, **params})
        return self.engine.submit(prompt, params, lambda s, t, r, e: self.events.put((s.id, t, r, e)), n)

    def finish(self, max_steps=10_000):
        for _ in range(max_steps):
            if not (self.engine.num_running or self.engine.num_waiting):
                break
            self.engine.step()
        tokens, ends = {}, {}
        while not self.events.empty():
            sid, token, reason, error = self.events.get()
            if token is None:
                ends[sid] = (reason, error)
            else:
                tokens.setdefault(sid, []).append(token)
        return tokens, ends


def _alone(model, prompt, max_tokens):
    return generate(model, [prompt], max_new_tokens=max_tokens, stop_ids=[]).tokens[0]


def test_chunked_prefill_equals_the_whole_prompt_at_once_and_interleaves_with_decoding(model):
    run = _Run(model, max_batch=4, max_model_len=256, block_size=8, prefill_chunk=24)
    long_prompt, short_prompt = _prompt(150, 1), _prompt(5, 2)
    (long,) = run.submit(long_prompt, 6)
    run.engine.step()  # the long prompt's first chunk
    (short,) = run.submit(short_prompt, 6)
    run.engine.step()
    assert short.tokens and not long.tokens  # the short one answered while the long one is still prefilling
    assert long.length < len(long_prompt)
    tokens, ends = run.finish()
    assert tokens[long.id] == _alone(model, long_prompt, 6)
    assert tokens[short.id] == _alone(model, short_prompt, 6)
    assert ends[long.id] == ends[short.id] == ("length", None)
    assert run.engine.stats.prefills >= 150 // 24  # the long prompt went in chunks


def test_cache_grows_with_tokens_held_and_returns_when_sequences_end(model):
    run = _Run(model, max_batch=8, max_model_len=512, block_size=8, prefix_caching=False)
    prompts = [_prompt(n, 10 + n) for n in (3, 17, 40)]
    seqs = [run.submit(p, 4)[0] for p in prompts]
    run.engine.step()  # all three prefill in one packed call, each samples a first token
    held = sum(-(-(len(p) + 1) // 8) for p in prompts)  # the prompt and the sampled token's slot
    assert run.engine.pool.num_held <= held and all(s.tokens for s in seqs)
    assert run.engine.cache.nbytes() >= 8 * 512 * 40 * 3 * 4  # the pool could hold every row at full length ...
    assert run.engine.cache_bytes_used == run.engine.pool.num_held * run.engine.cache.bytes_per_block
    assert run.engine.cache_bytes_used < run.engine.cache.nbytes() / 50  # ... and three short ones use a sliver
    tokens, _ = run.finish()
    assert run.engine.pool.num_held == 0
    for s, p in zip(seqs, prompts):
        assert tokens[s.id] == _alone(model, p, 4)


def test_prefix_hits_compute_only_the_new_tokens_and_match_a_full_forward(model):
    run = _Run(model, max_batch=4, max_model_len=256, block_size=8)
    system = _prompt(40, 3)  # five full blocks
    first, second = system + [7, 8, 9], system + [11, 12]
    (a,) = run.submit(first, 5)
    first_tokens = run.finish()[0][a.id]
    computed = run.engine.stats.prefill_tokens
    (b,) = run.submit(second, 5)
    (c,) = run.submit(first, 5)  # the same prompt again: all its full blocks come from the cache
    tokens, _ = run.finish()
    assert run.engine.prefix.hit_tokens == 40 + 40
    assert run.engine.stats.prefill_tokens - computed == 2 + 3  # b's 2 new tokens, c's 3
    # the requests' prompts, as their usage bills them (prompt_tokens_total counted the computed ones: 50 for two
    # 41-token prompts, an operator reconciling /metrics with usage found the numbers apart)
    assert run.engine.stats.prompt_tokens == 2 * len(first) + len(second)
    assert tokens[b.id] == _alone(model, second, 5)
    assert tokens[c.id] == first_tokens == _alone(model, first, 5)


def test_choices_of_one_request_share_the_prompt_blocks(model):
    run = _Run(model, max_batch=4, max_model_len=256, block_size=8)
    prompt = _prompt(35, 4)
    greedy = run.submit(prompt, 6, n=3)
    sampled = run.submit(prompt, 6, n=2, temperature=1.0, seed=5)
    tokens, _ = run.finish()
    assert [tokens[s.id] for s in greedy] == [_alone(model, prompt, 6)] * 3
    assert run.engine.prefix.hit_tokens >= 32 * 4  # every choice after the first took 4 full blocks
    again = _Run(model, max_batch=4, max_model_len=256, block_size=8, prefix_caching=False)
    resampled = again.submit(prompt, 6, n=2, temperature=1.0, seed=5)
    tokens_again, _ = again.finish()
    assert [tokens[s.id] for s in sampled] == [tokens_again[s.id] for s in resampled]  # seeds hold either way


def test_pool_exhaustion_preempts_and_every_request_still_matches(model):
    # A pool of one whole context (64 tokens) for four requests that need ~45 tokens each at the end.
    run = _Run(model, max_batch=4, max_model_len=64, cache_tokens=64, block_size=8, prefill_chunk=16)
    prompts = [_prompt(20 + i, 20 + i) for i in range(4)]
    greedy = [run.submit(p, 24)[0] for p in prompts[:3]]
    (sampled,) = run.submit(prompts[3], 24, temperature=0.8, seed=9)
    tokens, ends = run.finish()
    assert run.engine.scheduler.preemptions > 0
    for s, p in zip(greedy, prompts):
        assert tokens[s.id] == _alone(model, p, 24) and ends[s.id] == ("length", None)
    roomy = _Run(model, max_batch=4, max_model_len=64, block_size=8)
    (alone,) = roomy.submit(prompts[3], 24, temperature=0.8, seed=9)
    assert tokens[sampled.id] == roomy.finish()[0][alone.id]  # recompute continues the same random stream
    assert run.engine.pool.num_held == 0


def test_evicted_blocks_are_forgotten_and_a_later_request_recomputes_them(model):
    run = _Run(model, max_batch=1, max_model_len=48, cache_tokens=48, block_size=8)
    shared = _prompt(33, 6)  # four full blocks cached after it ends
    (a,) = run.submit(shared, 4)
    first_tokens = run.finish()[0][a.id]
    assert len(run.engine.prefix) == 4
    (other,) = run.submit(_prompt(41, 7), 4)  # needs 6 of the 6 blocks: evicts every cached block of `shared`
    run.finish()
    assert run.engine.prefix.match(run.engine.prefix.keys(shared[:32], [])) == []
    hits = run.engine.prefix.hit_tokens
    (b,) = run.submit(shared, 4)
    tokens, _ = run.finish()
    assert run.engine.prefix.hit_tokens == hits  # nothing stale was taken: the blocks now hold other tokens
    assert tokens[b.id] == first_tokens == _alone(model, shared, 4)


def test_block_pool_counts_references_and_evicts_least_recently_used():
    pool = BlockPool(5)  # blocks 1-4; 0 is the null block
    cached = set()
    evicted = []
    pool.is_cached, pool.on_evict = cached.__contains__, evicted.append
    (a, b), fresh = pool.allocate(2)
    assert (a, b) == (1, 2) and fresh == [1, 2]
    pool.hold(a)
    pool.release([a])
    assert pool.refs(a) == 1 and pool.num_available == 2
    cached.update({a, b})
    pool.release([b])
    pool.release([a])  # both cached and unheld: b is the least recently used
    assert pool.num_available == 4 and pool.num_held == 0
    blocks, fresh = pool.allocate(3)
    assert blocks == [3, 4, b] and fresh == [3, 4] and evicted == [b]
    pool.hold(a)  # a prefix hit takes a back out of the evictable set
    with pytest.raises(PoolExhausted):
        pool.allocate(1)


def _reference(folder):
    loaded = axk1.load_model(folder, dtype=torch.float32)

    def run(ids, max_new_tokens):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the server runs one thread: same reduction order, same argmax
        try:
            return generate(loaded, [ids], max_new_tokens=max_new_tokens, stop_ids=[]).tokens[0]
        finally:
            torch.set_num_threads(threads)

    return run


@pytest.mark.e2e
def test_server_full_yarn_context_prefix_hits_and_context_limits(tmp_path):
    """A real `axk1 serve` over axk1-tiny extended 4x with YaRN (context 4,096): a prompt filling the whole context
    goes in chunks and matches the full forward; a repeated long system prompt is a prefix hit; a request past the
    context is a 400 that names both lengths, for a prompt alone and for prompt + max_tokens."""
    import openai

    from tests.serve_helpers import ServerProcess, make_model_folder, yarn_extended

    config = yarn_extended(axk1.ModelConfig.from_preset("axk1-tiny"))
    folder = make_model_folder(tmp_path / "tiny-yarn", with_tokenizer=False, config=config)
    reference = _reference(folder)
    context = config.max_position_embeddings
    with ServerProcess(folder, "--max-batch", "4", "--prefill-chunk", "512") as server:
        client = openai.OpenAI(base_url=server.base + "/v1", api_key="x", timeout=120, max_retries=0)
        ask = dict(model=folder.name, temperature=0, extra_body={"ignore_eos": True})
        full = _prompt(context - 3, 8)
        r = client.completions.create(prompt=full, max_tokens=3, **ask)
        assert r.usage.prompt_tokens + r.usage.completion_tokens == context
        assert [int(t) for t in r.choices[0].text.split()] == reference(full, 3)  # a token-id folder: ids as text
        before = server.metrics()
        shared = _prompt(600, 9)
        for tail in ([5, 6], [7, 8, 9]):
            r = client.completions.create(prompt=shared + tail, max_tokens=3, **ask)
            assert [int(t) for t in r.choices[0].text.split()] == reference(shared + tail, 3)
        after = server.metrics()
        assert after["axk1_prefix_cache_hit_tokens_total"] - before["axk1_prefix_cache_hit_tokens_total"] == 592
        assert after["axk1_cache_peak_used_bytes"] < after["axk1_cache_capacity_bytes"]
        with pytest.raises(openai.BadRequestError) as e:
            client.completions.create(prompt=[5] * context, max_tokens=1, **ask)
        assert f"maximum context length is {context} tokens, but the prompt has {context} tokens" in e.value.message
        with pytest.raises(openai.BadRequestError) as e:
            client.completions.create(prompt=[5] * 4000, max_tokens=200, **ask)
        assert f"maximum context length is {context} tokens" in e.value.message
        assert "you requested 4200 tokens (4000 in the prompt, 200 for the completion)" in e.value.message
        assert e.value.body["param"] == "max_tokens"
        assert server.metrics()["axk1_engine_errors_total"] == 0


def test_a_preempted_choice_waits_for_blocks_instead_of_coming_straight_back(model):
    """A serving operator's probe (session 19): a choice preempted for blocks was admitted again at once (a row was
    free), took its cached prefix and was preempted again in the same step, a thousand times for twelve choices.
    Admission now waits for the blocks of a group's first chunk while others run; the outputs stay the same."""
    run = _Run(model, max_batch=8, max_model_len=128, cache_tokens=128, block_size=16)
    prompts = [_prompt(34 + 6 * i, 40 + i) for i in range(6)]
    groups = [run.submit(p, 40, n=2) for p in prompts]
    tokens, ends = run.finish()
    for group, p in zip(groups, prompts):
        want = _alone(model, p, 40)
        assert all(tokens[s.id] == want and ends[s.id] == ("length", None) for s in group)
    # the pool holds one choice's context at a time, so some preemption is the point; 131 here before, 42 now
    assert 0 < run.engine.scheduler.preemptions <= 4 * sum(len(g) for g in groups), run.engine.scheduler.preemptions


def test_a_short_pool_preempts_each_request_a_bounded_number_of_times(model):
    """A serving probe (128 blocks, 4 rows, 40 clients): ~11 preemptions a request and 8x the prompt tokens
    recomputed. A preempted choice was admitted again once its first chunk fit, preempted again as the older rows
    grew, and its prefix was evicted first block first, so each recompute started from nothing. Here the pool holds
    ~2.3 of the 12 sequences at full length (14 blocks of 32): 48 preemptions and 1,539 tokens recomputed before,
    15 and 533 now. The bounds: at most two preemptions a request, and the recompute at most the prompts once more."""
    kw = dict(max_batch=4, max_model_len=128, block_size=8, prefill_chunk=32)
    prompts = [[3 + i] + _prompt(48, 7)[1:] for i in range(12)]  # a shared tail, as the probe's prompts had
    short, roomy = _Run(model, cache_tokens=256, **kw), _Run(model, **kw)
    replies = []
    for run in (short, roomy):
        seqs = [run.submit(p, 64)[0] for p in prompts]
        tokens, ends = run.finish()
        assert all(ends[s.id] == ("length", None) for s in seqs)
        replies.append([tokens[s.id] for s in seqs])
    assert replies[0] == replies[1] and roomy.engine.scheduler.preemptions == 0
    stats = short.engine.stats
    assert 0 < short.engine.scheduler.preemptions <= 2 * len(prompts), short.engine.scheduler.preemptions
    assert stats.prefill_tokens - stats.prompt_tokens <= stats.prompt_tokens, stats.prefill_tokens
    assert short.engine.pool.num_held == 0


def test_a_request_is_not_admitted_into_a_step_that_preempts_it(model):
    """Admission kept one block per running sequence for its next step, but an older sequence still prefilling
    takes a whole chunk's blocks a step: a short request admitted into the last few free blocks got its chunk, then
    the older prompt's next chunk preempted it in the same step (its prefill thrown away). Admission now keeps the
    running sequences' next-step blocks, chunks included, free: the short request waits, and nothing is preempted."""
    kw = dict(max_batch=4, max_model_len=128, block_size=8, prefill_chunk=32)
    long_prompt, short_prompt = _prompt(120, 1), _prompt(12, 2)
    replies = []
    for run in (_Run(model, cache_tokens=128, **kw), _Run(model, **kw)):  # 16 blocks; every sequence whole
        (old,) = run.submit(long_prompt, 8)
        for _ in range(3):  # 96 of its 120 prompt tokens cached: 12 of the 16 blocks held
            run.engine.step()
        (new,) = run.submit(short_prompt, 8)
        tokens, ends = run.finish()
        assert ends[old.id] == ends[new.id] == ("length", None)
        replies.append((tokens[old.id], tokens[new.id]))
        assert run.engine.scheduler.preemptions == 0 and not new.preempted, run.engine.scheduler.preemptions
    assert replies[0] == replies[1] == (_alone(model, long_prompt, 8), _alone(model, short_prompt, 8))
