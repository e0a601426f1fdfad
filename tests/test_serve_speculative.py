"""The serving engine drafting with the MTP module (`axk1 serve --speculative`): greedy rows give exactly what plain
generation gives, whether drafts are rejected (a random MTP module), all kept (an oracle drafter) or mixed, across
block boundaries, prefix-cache hits and preemption; sampled rows run under the acceptance rule."""

import queue
import subprocess
import sys

import pytest
import torch

import axk1
from axk1.infer.drafting import ServerDrafter
from axk1.infer.engine import Engine, SamplingParams
from axk1.infer.generate import generate
from axk1.infer.engine_config import EngineConfig


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return axk1.AXK1ForCausalLM(axk1.ModelConfig.from_preset("axk1-tiny"), with_mtp=True).eval()


def _prompt(n, seed):
    g = torch.Generator().manual_seed(seed)
    return [1] + torch.randint(3, 500, (n - 1,), generator=g).tolist()


def _serve(model, prompts, max_tokens, oracle=None, keep_all=True, temperature=0.0, then=(), logprobs=None,
           sequences=None, speculative=True, n=1, **kw):
    """Submit every prompt at once, step the engine by hand to the end, then the same for the prompts in `then`;
    (tokens per prompt, engine). oracle {prompt: greedy tokens}: drafts from the known answer, every one right
    (keep_all) or every third wrong on purpose. `sequences`: a list that gets each prompt's Sequence. `n` > 1:
    (tokens per choice, prompt by prompt, engine)."""
    engine = Engine(model, EngineConfig(**{"max_batch": 8, "max_model_len": 128, "block_size": 4,
                                           "speculative": speculative, **kw}))
    if oracle is not None:
        def draft(s):
            want = oracle[tuple(s.prompt)]
            k = len(s.tokens)
            right = want[k] if k < len(want) else 0
            return (right if (k % 3 or keep_all) else (right + 1) % 500), None
        engine.drafter._draft = draft
    events = queue.Queue()
    for wave in (list(enumerate(prompts)), [(len(prompts) + j, p) for j, p in enumerate(then)]):
        for i, prompt in wave:
            params = SamplingParams(max_tokens=max_tokens, temperature=temperature, seed=i, stop_ids=frozenset(),
                                    logprobs=logprobs)
            submitted = engine.submit(prompt, params, lambda s, t, r, e, i=i: events.put((i * n + s.index, t, e)),
                                      n=n)
            if sequences is not None:
                sequences += submitted
        for _ in range(10_000):
            if not (engine.num_running or engine.num_waiting):
                break
            engine.step()
    out = {}
    while not events.empty():
        i, token, error = events.get()
        assert error is None, error
        if token is not None:
            out.setdefault(i, []).append(token)
    return [out.get(i, []) for i in range((len(prompts) + len(then)) * n)], engine


@pytest.mark.parametrize("drafts", ["mtp", "oracle", "mixed"])
def test_greedy_rows_give_plain_generation_whatever_the_drafts(model, drafts):
    prompts = [_prompt(n, seed) for seed, n in enumerate((3, 9, 17, 30))]
    want = [generate(model, [p], max_new_tokens=13, stop_ids=[]).tokens[0] for p in prompts]
    oracle = None if drafts == "mtp" else {tuple(p): w for p, w in zip(prompts, want)}
    got, engine = _serve(model, prompts, 13, oracle, keep_all=drafts == "oracle")
    assert got == want
    d = engine.drafter
    assert d.drafted > 0
    if drafts == "oracle":  # every draft kept: two tokens a step, so about half the steps
        assert d.accepted == d.drafted and engine.stats.decode_steps <= 4 * 7
    if drafts == "mixed":
        assert 0 < d.accepted < d.drafted


def test_prefix_hits_and_preemption_keep_the_output(model):
    """A prompt sent again comes from the prefix cache whole (25 tokens = 6 cached blocks + 1: its row decodes at
    once, with no draft yet) and a small pool forces preemption and recomputation mid-generation."""
    p = _prompt(25, 5)
    prompts = [p, p, _prompt(11, 6), p[:20]]
    want = [generate(model, [q], max_new_tokens=20, stop_ids=[]).tokens[0] for q in prompts]
    got, engine = _serve(model, prompts, 20, cache_tokens=256, then=[p])
    assert got == want + [want[0]] and engine.prefix.hit_tokens >= 24
    got, engine = _serve(model, prompts, 20, cache_tokens=48, max_model_len=48, max_batch=4)
    assert got == want and engine.scheduler.preemptions > 0


def test_logprobs_are_the_main_models_whatever_the_drafts_and_preemption(model):
    """Each token's logprobs are log_softmax of the main model's logits at its place (the plain forward over the
    prompt and the tokens before it), whether the token was a kept draft, the token after one, a rejected draft's
    replacement, or came after its sequence was preempted and recomputed."""
    prompts = [_prompt(n, seed) for seed, n in enumerate((9, 17, 20))]
    want = [generate(model, [p], max_new_tokens=8, stop_ids=[]).tokens[0] for p in prompts]
    runs = {"mixed drafts": dict(oracle={tuple(p): w for p, w in zip(prompts, want)}, keep_all=False),
            "preempted": dict(cache_tokens=32, max_model_len=32, max_batch=3)}
    for name, kw in runs.items():
        sequences = []
        got, engine = _serve(model, prompts, 8, logprobs=4, sequences=sequences, **kw)
        assert got == want, name
        for s in sequences:
            with torch.no_grad():
                rows = model(torch.tensor([s.prompt + s.tokens])).float().log_softmax(-1)[0, len(s.prompt) - 1: -1]
            assert [e.token for e in s.logprobs] == s.tokens
            assert [e.logprob for e in s.logprobs] == pytest.approx(
                rows.gather(1, torch.tensor(s.tokens)[:, None])[:, 0].tolist(), abs=1e-4)
            for e, row in zip(s.logprobs, rows):
                best = row.topk(4)
                assert [t for t, _ in e.top] == best.indices.tolist() and e.top[0][0] == e.token  # greedy
                assert [v for _, v in e.top] == pytest.approx(best.values.tolist(), abs=1e-4)
        assert engine.drafter.accepted > 0 if name == "mixed drafts" else engine.scheduler.preemptions > 0


def test_sampled_rows_run_under_the_acceptance_rule(model):
    prompts = [_prompt(8, 1), _prompt(12, 2)]
    got, engine = _serve(model, prompts, 16, temperature=1.0)
    assert [len(t) for t in got] == [16, 16] and all(0 <= t < 512 for row in got for t in row)
    again, _ = _serve(model, prompts, 16, temperature=1.0)
    assert again == got  # seeded per choice: the same draws
    assert engine.drafter.drafted > 0


def test_a_seeded_sampled_reply_is_the_plain_engines_whatever_the_path(model):
    """A seeded sampled row takes one draw a token from its own stream, as the plain engine does, and keeps a draft
    only when it is that token: the reply is the plain engine's whether drafts are kept or thrown away, the prompt
    came from the prefix cache or the row was preempted, and choice i of n is the reply seed + i gives alone (the
    standard acceptance rule took a draw per draft and per rejection: the same seed gave other replies under load)."""
    p = _prompt(25, 5)
    prompts = [p, p, _prompt(11, 6), p[:20]]
    want, _ = _serve(model, prompts, 20, temperature=0.8, speculative=False, then=[p])
    oracle = {tuple(q): w for q, w in zip(prompts, want)}  # every third draft wrong, the others kept
    mixed, engine = _serve(model, prompts, 20, oracle, keep_all=False, temperature=0.8, then=[p])
    assert mixed == want and 0 < engine.drafter.accepted < engine.drafter.drafted
    hits, engine = _serve(model, prompts, 20, temperature=0.8, cache_tokens=256, then=[p])
    assert hits == want and engine.prefix.hit_tokens >= 24
    pre, engine = _serve(model, prompts, 20, temperature=0.8, cache_tokens=48, max_model_len=48, max_batch=4)
    assert pre == want[:4] and engine.scheduler.preemptions > 0
    # n = 2 from seed 0: choice 1 samples with seed 1, the second prompt's seed above
    two, _ = _serve(model, [p], 20, oracle, keep_all=False, temperature=0.8, n=2)
    assert two == want[:2]
    # a temperature under GREEDY_BELOW is greedy, as in the plain engine (logits / 1e-40 are inf: the seeded draw
    # from NaN probabilities gave the last vocabulary id every time)
    tiny, _ = _serve(model, prompts[2:3], 12, temperature=1e-40, speculative=False)
    assert _serve(model, prompts[2:3], 12, temperature=1e-40)[0] == tiny


def test_a_model_without_mtp_is_refused_with_what_to_do(model):
    plain = axk1.AXK1ForCausalLM(axk1.ModelConfig.from_preset("axk1-tiny")).eval()
    with pytest.raises(ValueError, match="keep-mtp"):
        Engine(plain, EngineConfig(speculative=True, max_model_len=64))
    assert isinstance(Engine(model, EngineConfig(speculative=True, max_model_len=64)).drafter, ServerDrafter)


@pytest.mark.e2e
def test_axk1_serve_speculative_answers_as_plain_generation_and_counts_drafts(tmp_path):
    """`axk1 serve --speculative` as a real process: greedy completions equal in-process generation on the same
    folder, /metrics counts the drafts; a folder without mtp.safetensors is refused at start with what to do."""
    import urllib.request

    import openai

    from tests.serve_helpers import ServerProcess

    folder = tmp_path / "with-mtp"
    torch.manual_seed(0)
    axk1.save_pretrained(axk1.AXK1ForCausalLM(axk1.ModelConfig.from_preset("axk1-tiny"), with_mtp=True), folder)
    assert (folder / "mtp.safetensors").exists()
    local = axk1.load_model(folder)
    prompts = [[1, 5, 9], [1, 40, 41, 42, 43, 44, 45]]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the server runs one thread: same reduction order, same argmax
    want = [generate(local, [p], max_new_tokens=10, stop_ids=[]).tokens[0] for p in prompts]
    torch.set_num_threads(threads)
    with ServerProcess(folder, "--speculative") as s:
        client = openai.OpenAI(base_url=s.base + "/v1", api_key="unused", timeout=30, max_retries=0)
        for p, w in zip(prompts, want):
            r = client.completions.create(model=folder.name, prompt=p, max_tokens=10, temperature=0,
                                          extra_body={"ignore_eos": True})
            assert [int(t) for t in r.choices[0].text.split()] == w
        metrics = urllib.request.urlopen(s.base + "/metrics", timeout=10).read().decode()
    drafted = next(float(line.split()[-1]) for line in metrics.splitlines()
                   if line.startswith("axk1_spec_decode_draft_tokens_total"))
    assert drafted > 0
    plain = tmp_path / "no-mtp"
    axk1.save_pretrained(axk1.AXK1ForCausalLM(axk1.ModelConfig.from_preset("axk1-tiny")), plain)
    proc = subprocess.run([sys.executable, "-m", "axk1.cli", "serve", str(plain), "--speculative"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "keep-mtp" in proc.stderr and "Traceback" not in proc.stderr


def test_replaced_weights_keep_the_draft_counters_going(model):
    """`--enable-weight-updates` on a speculative server: the drafter is rebuilt for the new MTP module, and its
    Prometheus counters (drafted, accepted) went back to 0 with it, which a dashboard's rate() reads as a restart."""
    import copy

    _, engine = _serve(model, [_prompt(12, 0)], 6)
    drafted, accepted = engine.drafter.drafted, engine.drafter.accepted
    assert drafted > 0
    engine.replace_weights(copy.deepcopy(model), "next")
    assert (engine.drafter.drafted, engine.drafter.accepted) == (drafted, accepted)
    assert engine.drafter.mtp is not None and engine.weights_version.startswith("1:") and "next" not in engine.weights_version


def test_the_default_cache_holds_the_mtp_pool_within_its_gib(model):
    """The default pool is at most 1 GiB (docs/serving.md); with --speculative it was sized on the main layers alone
    and allocated with the MTP layer's pool beside them: 1.33 GiB for axk1-tiny."""
    from axk1.infer.engine_config import DEFAULT_CACHE_BYTES

    big = model.config.replace(max_position_embeddings=4096)
    torch.manual_seed(0)
    wide = axk1.AXK1ForCausalLM(big, with_mtp=True).eval()
    for speculative in (False, True):
        engine = Engine(wide, EngineConfig(speculative=speculative, max_batch=1000))
        try:
            assert 0.99 <= engine.cache.nbytes() / DEFAULT_CACHE_BYTES <= 1.001, speculative  # (+ the null block)
        finally:
            engine.stop()
