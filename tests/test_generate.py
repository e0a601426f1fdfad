import pytest
import torch

from axk1 import AXK1ForCausalLM
from axk1.infer.generate import generate
from axk1.infer.sampling import sample_next
from axk1.model import LatentKVCache


@pytest.fixture
def model(tiny_config):
    return _model(tiny_config)


def _model(tiny_config):
    torch.manual_seed(0)
    m = AXK1ForCausalLM(tiny_config).eval()
    with torch.no_grad():  # larger weights than the init so greedy paths differ between prompts
        for p in m.parameters():
            if p.dim() > 1:
                p.mul_(4)
    return m


def _greedy_without_cache(model, prompt, n):
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    return ids[len(prompt):]


def test_batched_cached_greedy_equals_full_recompute(model):
    prompts = [[1, 7, 9, 22, 5, 8, 100, 3], [1, 300], [1, 42, 42, 17]]
    result = generate(model, prompts, max_new_tokens=12, stop_ids=[])
    for prompt, tokens in zip(prompts, result.tokens):
        assert tokens == _greedy_without_cache(model, prompt, 12)
    assert result.finish_reasons == ["length"] * 3 and result.stop_tokens == [None] * 3


def test_cache_holds_only_latents(tiny_config):
    per_token = LatentKVCache.bytes_per_token(tiny_config, torch.bfloat16)
    assert per_token == tiny_config.num_hidden_layers * (tiny_config.kv_lora_rank + tiny_config.qk_rope_head_dim) * 2
    from axk1 import ModelConfig
    assert LatentKVCache.bytes_per_token(ModelConfig.from_preset("axk1-519b")) == 70_272


def test_sampling_is_seeded_and_top_k_1_is_greedy(model):
    prompt = [[1, 2, 3]]
    a = generate(model, prompt, max_new_tokens=10, temperature=1.0, seed=7, stop_ids=[])
    b = generate(model, prompt, max_new_tokens=10, temperature=1.0, seed=7, stop_ids=[])
    assert a.tokens == b.tokens
    greedy = generate(model, prompt, max_new_tokens=10, stop_ids=[])
    assert generate(model, prompt, max_new_tokens=10, temperature=1.0, top_k=1, seed=3, stop_ids=[]).tokens == greedy.tokens


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    g = torch.Generator().manual_seed(0)
    draws = {int(sample_next(logits, 1.0, top_p=0.7, generator=g)) for _ in range(300)}
    assert draws == {0, 1}
    draws = {int(sample_next(logits, 1.0, top_p=0.85, generator=g)) for _ in range(300)}
    assert draws == {0, 1, 2}


def test_categorical_sampling_follows_the_probabilities_and_never_picks_a_zero():
    from axk1.infer.sampling import sample_categorical

    probs = torch.tensor([[0.0, 0.5, 0.3, 0.0, 0.2, 0.0]]).repeat(20_000, 1)
    draws = sample_categorical(probs, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=6).double() / len(draws)
    assert freq[[0, 3, 5]].sum() == 0
    torch.testing.assert_close(freq, probs[0].double(), atol=0.015, rtol=0)  # 4 standard errors at n = 20,000


def test_stop_ids_end_a_row(model):
    free = generate(model, [[1, 5, 6]], max_new_tokens=8, stop_ids=[])
    stop_at = free.tokens[0][3]
    stopped = generate(model, [[1, 5, 6]], max_new_tokens=8, stop_ids=[stop_at])
    assert stopped.tokens[0] == free.tokens[0][: free.tokens[0].index(stop_at)]
    assert stopped.finish_reasons == ["stop"] and stopped.stop_tokens == [stop_at]  # RL trains the sampled stop
    assert free.stop_tokens == [None]


def test_bad_requests_get_clear_errors(model, tiny_config):
    with pytest.raises(ValueError, match="out of range"):
        generate(model, [[1, tiny_config.vocab_size + 3]], max_new_tokens=2)
    for extra in (1, 0):  # exactly the context: it said "ask for at most 0 new tokens", which cannot be done
        with pytest.raises(ValueError, match="fills the model's context .* no room for a new token: shorten"):
            generate(model, [[1] * (tiny_config.max_position_embeddings + extra)], max_new_tokens=1)
    with pytest.raises(ValueError, match="at most 4 new tokens"):
        generate(model, [[1] * (tiny_config.max_position_embeddings - 4)], max_new_tokens=10)
    with pytest.raises(ValueError, match="empty"):
        generate(model, [[]], max_new_tokens=1)
    with pytest.raises(ValueError, match="top_p"):
        generate(model, [[1]], top_p=0.0)


def test_compiled_decode_step_gives_the_same_tokens(tiny_config):
    # two layers, a dense one and a MoE one (axk1-tiny has one dense and two MoE layers): the compile (dynamic shapes)
    # traces every layer, and a third identical to the second costs a third more CPU and checks nothing new
    model = _model(tiny_config.replace(num_hidden_layers=2))
    prompts = [[1, 7, 9, 22], [1, 300]]
    eager = generate(model, prompts, max_new_tokens=6, stop_ids=[])
    compiled = generate(model, prompts, max_new_tokens=6, stop_ids=[], compile=True)
    assert compiled.tokens == eager.tokens


def test_the_compiled_decode_step_is_kept_beside_the_model_not_on_it(tiny_config):
    """The compiled step was stashed on the model as `model._compiled_decode_step` (the model is plain PyTorch:
    nothing outside it sets its attributes). It is kept in generate.py now, per model and weakly: built once for a
    model's device and dtype, rebuilt when the model is cast, and gone with the model. Nothing is compiled here:
    torch.compile compiles on the first call."""
    import gc
    import weakref

    from axk1.infer.generate import compiled_decode_step

    model = _model(tiny_config.replace(num_hidden_layers=2))
    attributes = set(vars(model))
    step = compiled_decode_step(model)
    assert compiled_decode_step(model) is step and set(vars(model)) == attributes
    assert compiled_decode_step(model.to(torch.bfloat16)) is not step
    alive = weakref.ref(model)
    del model, step
    gc.collect()
    assert alive() is None


def test_the_compiled_decode_step_is_traced_once(tiny_config):
    """The decode step compiled with dynamic=True made every constant a symbol: its floats (norm eps, attention
    scale) AOTAutograd turned into tensors and restarted the analysis for (the step traced twice), and its head
    count (4 here) was guarded equal to a span of 4, so the next step compiled again. Now only the sizes that
    change are dynamic: one trace serves growing steps and a second generation of other rows and length, with the
    eager decoder's logits (AOTAutograd's passes run here, without inductor's code generation)."""
    import logging

    from axk1.infer.generate import compile_decoder
    from axk1.model import LatentDecoder

    class Records(logging.Handler):
        def __init__(self):
            super().__init__(logging.INFO)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    torch._dynamo.reset()
    model = _model(tiny_config.replace(num_hidden_layers=2))
    step, eager = compile_decoder(LatentDecoder(model), backend="aot_eager"), LatentDecoder(model)
    records = Records()
    loggers = [logging.getLogger(f"torch._dynamo.{name}") for name in ("convert_frame", "symbolic_convert")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(records)
        logger.setLevel(logging.INFO)
    try:
        with torch.no_grad():
            for rows, slots, first in ((2, 8, 3), (3, 11, 6)):
                cache = LatentKVCache(tiny_config, rows, slots, torch.float32)
                for slot in range(first, slots - 1):  # as generate: the last token drawn is never written
                    ids, positions = torch.arange(5, 5 + rows)[:, None], torch.full((rows, 1), slot)
                    mask = torch.ones(rows, 1, 1, slot + 1, dtype=torch.bool)
                    logits = step(ids, positions, cache, slot, mask)
                    torch.testing.assert_close(logits, eager(ids, positions, cache, slot, mask))
            with pytest.raises(ValueError, match="writes where its mask ends"):
                step(ids, positions, cache, slot - 1, mask)
    finally:
        for logger, level in zip(loggers, levels):
            logger.removeHandler(records)
            logger.setLevel(level)
    traces = [m for m in records.messages if "start tracing" in m]
    restarts = [m for m in records.messages if "Restarting analysis" in m]
    assert len(traces) == 1 and not restarts, records.messages


@pytest.mark.parametrize("dtype,path", [(torch.bfloat16, "grouped"), (torch.float32, "gathered")])
def test_the_compiled_decode_step_traces_whole_and_runs_grouped_experts_in_bf16(model, tiny_config, dtype, path):
    """torch.compile of the decode step (generate(compile=True)) traces it as one graph (fullgraph: no host read, no
    data-dependent size) and, with bf16 weights, runs the experts as grouped matmuls (each chosen expert read once);
    fp32, whose `_grouped_mm` has no compile rule, gathers them. Dynamo's graph runs eagerly here (a recording
    backend, no inductor) and gives the eager decoder's logits."""
    from axk1.model import LatentDecoder

    graphs = []

    def record(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    model = model.to(dtype)
    step = torch.compile(LatentDecoder(model).__call__, backend=record, fullgraph=True)  # as compiled_decode_step
    ids, positions = torch.tensor([[5], [9], [40]]), torch.tensor([[2], [0], [1]])
    mask = (torch.arange(4)[None, :] <= positions)[:, None, None, :]
    with torch.no_grad():
        logits = step(ids, positions, LatentKVCache(tiny_config, 3, 4, dtype), positions[:, 0], mask)
        ref = LatentDecoder(model, experts=path)(ids, positions, LatentKVCache(tiny_config, 3, 4, dtype),
                                                 positions[:, 0], mask)
    ops = {str(n.target) for g in graphs for n in g.graph.nodes if n.op == "call_function"}
    assert any("_grouped_mm" in op for op in ops) == (path == "grouped"), ops
    torch.testing.assert_close(logits, ref)


def test_static_decode_step_gives_the_growing_steps_tokens_and_logits(model, tiny_config):
    """generate(cuda_graph=True) decodes with static shapes (every step attends over the whole cache, the slots not
    yet written masked; the slot a device tensor), what a CUDA graph replays; on CPU it runs uncaptured. Prompts of
    different lengths (padding masked too) give the growing step's tokens, and each step its logits."""
    from axk1.infer.static_decode import StaticDecodeStep
    from axk1.model import LatentDecoder

    prompts = [[1, 7, 9, 22, 5], [1, 300], [1, 42, 42]]
    eager = generate(model, prompts, max_new_tokens=8, stop_ids=[])
    assert generate(model, prompts, max_new_tokens=8, stop_ids=[], cuda_graph=True).tokens == eager.tokens
    with pytest.raises(ValueError, match="choose one"):
        generate(model, prompts, max_new_tokens=2, compile=True, cuda_graph=True)
    with pytest.raises(ValueError, match="CUDA device"):
        StaticDecodeStep(model, LatentKVCache(tiny_config, 1, 4, torch.float32), torch.zeros(1, 1, 1, 4), 0,
                         capture=True)

    B, S, first = 2, 9, 3  # row 1 is padded: its slot 0 is masked throughout
    bias = torch.zeros(B, 1, 1, S)
    bias[1, ..., 0] = float("-inf")
    caches = [LatentKVCache(tiny_config, B, S, torch.float32) for _ in range(2)]
    for c in caches:  # the same "prefilled" latents in both
        for layer in c.latent:
            layer[:, :first] = torch.randn(B, first, layer.shape[-1], generator=torch.Generator().manual_seed(1))
    static, growing = StaticDecodeStep(model, caches[0], bias, first), LatentDecoder(model)
    ids = torch.tensor([[5], [40]])
    for slot in range(first, S):
        positions = torch.tensor([[slot], [slot - 1]])
        got = static(ids, positions, slot)
        ref = growing(ids, positions, caches[1], slot, bias[..., : slot + 1])
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
        ids = ref[:, -1].argmax(-1, keepdim=True)
    torch.testing.assert_close(caches[0].latent[-1], caches[1].latent[-1])


@pytest.mark.gpu
def test_cuda_graph_decode_replays_the_static_step(model, tiny_config):
    """On CUDA, generate(cuda_graph=True) captures the static decode step once and replays it: the replays give the
    uncaptured static step's logits, bf16 and fp32 (whose experts take the gathered bmm:
    `_grouped_mm` reads its offsets on the host for any dtype but bf16), and generate runs through it."""
    from axk1.infer.static_decode import StaticDecodeStep

    B, S, first = 3, 12, 4
    bias = torch.zeros(B, 1, 1, S, device="cuda")
    for dtype in (torch.bfloat16, torch.float32):
        gpu = model.to("cuda", dtype)
        caches = [LatentKVCache(tiny_config, B, S, dtype, device="cuda") for _ in range(2)]
        for c in caches:
            for layer in c.latent:
                layer[:, :first] = 0.1
        captured = StaticDecodeStep(gpu, caches[0], bias.to(dtype), first)
        plain = StaticDecodeStep(gpu, caches[1], bias.to(dtype), first, capture=False)
        plain.decoder = captured.decoder  # the same experts path
        assert captured.graph is not None
        ids = torch.tensor([[5], [9], [40]], device="cuda")
        for slot in range(first, S):
            positions = torch.full((B, 1), slot, device="cuda")
            got = captured(ids, positions, slot).clone()
            ref = plain(ids, positions, slot)
            tol = 1e-2 if dtype == torch.bfloat16 else 1e-3  # (cuBLAS may choose other kernels under capture)
            torch.testing.assert_close(got, ref, atol=tol, rtol=tol)
            ids = ref[:, -1].argmax(-1, keepdim=True)
    out = generate(model.to("cuda", torch.bfloat16), [[1, 7, 9], [1, 300]], max_new_tokens=6, stop_ids=[],
                   cuda_graph=True)
    assert [len(t) for t in out.tokens] == [6, 6]


@pytest.mark.gpu
def test_cuda_decode_runs_grouped_experts_and_follows_cpu(model, tiny_config):
    """On CUDA the decode step's default is the grouped experts path (CUDA's `_grouped_mm`): its logits follow the
    CPU loop's, and bf16 weights generate (the GPU check's decode part runs the compiled step at scale)."""
    from axk1.model import LatentDecoder
    from axk1.model.latent_decode import default_experts

    rows = 6
    ids, positions = torch.randint(3, tiny_config.vocab_size, (rows, 1)), torch.arange(rows)[:, None] % 3
    mask = (torch.arange(4)[None, :] <= positions)[:, None, None, :]
    with torch.no_grad():
        ref = LatentDecoder(model, experts="loop")(ids, positions, LatentKVCache(tiny_config, rows, 4, torch.float32),
                                                   positions[:, 0], mask)
        gpu = model.cuda()
        assert default_experts(torch.zeros(1, device="cuda")) == "grouped"
        got = LatentDecoder(gpu)(ids.cuda(), positions.cuda(), LatentKVCache(tiny_config, rows, 4, torch.float32,
                                                                            device="cuda"),
                                 positions[:, 0].cuda(), mask.cuda())
    torch.testing.assert_close(got.cpu(), ref, atol=2e-3, rtol=2e-3)  # (TF32 may be on in this process)
    out = generate(gpu.to(torch.bfloat16), [[1, 7, 9], [1, 300]], max_new_tokens=4, stop_ids=[])
    assert [len(t) for t in out.tokens] == [4, 4]


def test_per_row_slots_decode_rows_at_different_lengths(model, tiny_config):
    """A server's batch: rows written at their own slots in one step equal each row run alone."""
    prompts = [[1, 7, 9, 22, 5], [1, 300]]
    alone = [generate(model, [p], max_new_tokens=1, stop_ids=[]).tokens[0][0] for p in prompts]
    cache = LatentKVCache(tiny_config, 2, 16, torch.float32)
    with torch.no_grad():
        for b, p in enumerate(prompts):  # prefill each row on its own, into its row of the shared cache
            row = LatentKVCache(tiny_config, 1, 16, torch.float32)
            n = len(p)
            model.forward_latent(torch.tensor([p[:-1]]), torch.arange(n - 1)[None], row, 0,
                                 torch.ones(n - 1, n - 1, dtype=torch.bool).tril()[None, None])
            for layer in range(tiny_config.num_hidden_layers):
                cache.latent[layer][b] = row.latent[layer][0]
        lengths = torch.tensor([len(p) for p in prompts])
        last = torch.tensor([[p[-1]] for p in prompts])
        mask = (torch.arange(16)[None, :] < lengths[:, None])[:, None, None, :]
        logits = model.forward_latent(last, (lengths - 1)[:, None], cache, lengths - 1, mask)
    assert logits[:, -1].argmax(-1).tolist() == alone


@pytest.mark.parametrize("experts,rows,padded", [("loop", 2, False), ("loop", 6, False), ("loop", 6, True),
                                                 ("grouped", 2, False), ("grouped", 6, False), ("gathered", 2, False)])
def test_decoder_step_equals_the_full_forward(model, tiny_config, experts, rows, padded, monkeypatch):
    """The one-token decode path (plain tensors, experts looped on the host — per row for a few rows, per expert
    over its rows or all experts as one padded bmm for many —, as grouped matmuls on the device, or gathered for
    compiled fp32) gives the logits of the full forward, with group-limited routing, a non-zero balancing bias and
    per-row slots."""
    from axk1.model import latent_decode
    from axk1.model.latent_decode import GROUP_ROWS_FROM
    from axk1.model import LatentDecoder

    calls = []
    padded_fn = latent_decode.LatentDecoder._experts_padded
    monkeypatch.setattr(latent_decode, "PAD_EXPERTS_FROM", 0.0 if padded else 1.01)  # always / never
    monkeypatch.setattr(latent_decode.LatentDecoder, "_experts_padded",
                        staticmethod(lambda *a: calls.append(1) or padded_fn(*a)))

    with torch.no_grad():
        for layer in model.model.layers[tiny_config.first_k_dense_replace :]:
            layer.mlp.gate.e_score_correction_bias.copy_(torch.linspace(-0.3, 0.3, tiny_config.n_routed_experts))
    prompts = [[1, 7, 9, 22, 5, 8], [1, 300, 4], [1, 2], [5, 6, 7, 8, 9], [1, 11, 12], [40, 41, 42, 43]][:rows]
    assert (rows >= GROUP_ROWS_FROM) == (rows == 6)
    lengths = torch.tensor([len(p) for p in prompts])
    cache = LatentKVCache(tiny_config, rows, 8, torch.float32)
    decoder = LatentDecoder(model, experts=experts)
    with torch.no_grad():
        for b, p in enumerate(prompts):
            row = LatentKVCache(tiny_config, 1, 8, torch.float32)
            n = len(p) - 1
            model.forward_latent(torch.tensor([p[:-1]]), torch.arange(n)[None], row, 0,
                                 torch.ones(n, n, dtype=torch.bool).tril()[None, None])
            for layer in range(tiny_config.num_hidden_layers):
                cache.latent[layer][b] = row.latent[layer][0]
        mask = (torch.arange(8)[None, :] < lengths[:, None])[:, None, None, :]
        step = decoder(torch.tensor([[p[-1]] for p in prompts]), (lengths - 1)[:, None], cache, lengths - 1, mask)
        for b, p in enumerate(prompts):
            torch.testing.assert_close(step[b, 0], model(torch.tensor([p]))[0, -1], atol=1e-5, rtol=1e-5)
    assert bool(calls) == padded


def test_a_tiny_temperature_is_greedy_not_nan():
    logits = torch.tensor([[0.5, 3.0, 1.0], [2.0, -1.0, 0.0]])
    for t in (5e-324, 1e-9):
        assert sample_next(logits, t, generator=torch.Generator().manual_seed(0)).tolist() == [1, 0]


def test_a_tiny_top_p_keeps_the_likeliest_token():
    """A hostile client's top_p=1e-300 (valid: in (0, 1]) rounded to 0 in the float32 comparison, which then
    dropped every token, the likeliest too: the softmax of all -inf is NaN and the draw fell on the vocabulary's
    last id, every time (a served reply of 4 pad-like tokens that decoded to nothing)."""
    logits = torch.tensor([[0.5, 3.0, 1.0, 0.2], [2.0, -1.0, 0.0, 0.1]])
    for p in (1e-300, 5e-324, 1e-46):
        draws = sample_next(logits, 1.0, top_p=p, generator=torch.Generator().manual_seed(0))
        assert draws.tolist() == [1, 0], p


def test_a_named_generation_shows_its_decode_steps_and_a_plain_one_is_silent(model, capsys):
    """RL's rollouts (one generate call for the whole batch) sat behind the run's bar at 0/1 for minutes: a named
    generation shows a transient bar of decode steps; an unnamed one (serving, eval) prints nothing."""
    plain = generate(model, [[1, 5, 9]], max_new_tokens=4, stop_ids=[])
    assert capsys.readouterr().err == ""
    named = generate(model, [[1, 5, 9]], max_new_tokens=4, stop_ids=[], progress="rollout (1 completions)")
    assert "rollout (1 completions)" in capsys.readouterr().err and named.tokens == plain.tokens
