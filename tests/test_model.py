import pytest
import torch
import torch.nn.functional as F

from axk1 import AXK1ForCausalLM
from axk1.model.attention_mask import document_causal_mask
from axk1.model.mla import causal_attention_blocks, document_positions
from axk1.model.moe import GroupedExperts, Router


def _model(config, seed=0):
    torch.manual_seed(seed)
    return AXK1ForCausalLM(config)


def test_grouped_experts_match_the_per_expert_loop_forward_and_backward(tiny_config):
    experts = GroupedExperts(tiny_config)
    for w in experts.parameters():
        torch.nn.init.normal_(w, std=0.1)
    x = torch.randn(50, tiny_config.hidden_size, requires_grad=True)
    idx = torch.randint(0, tiny_config.n_routed_experts, (50, 2))
    idx[:, 1] = (idx[:, 0] + 1) % tiny_config.n_routed_experts  # distinct experts per token
    idx[idx == 3] = 4  # expert 3 receives no token: empty groups must work
    idx[:, 1] = torch.where(idx[:, 1] == idx[:, 0], (idx[:, 0] + 2) % 8, idx[:, 1])
    weights = torch.rand(50, 2, requires_grad=True)  # the router's weights get gradients through the experts
    upstream = torch.randn(50, tiny_config.hidden_size)

    def run(fn):
        x.grad = weights.grad = None
        for p in experts.parameters():
            p.grad = None
        y = fn(x, idx, weights)
        (y * upstream).sum().backward()
        return y.detach(), x.grad.clone(), [weights.grad.clone()] + [p.grad.clone() for p in experts.parameters()]

    y_g, gx_g, gw_g = run(experts)
    y_l, gx_l, gw_l = run(experts.forward_loop)
    torch.testing.assert_close(y_g, y_l, atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # a single token (most experts empty) agrees too
        few = experts(x[:1], idx[:1], weights[:1])
        torch.testing.assert_close(few, experts.forward_loop(x[:1], idx[:1], weights[:1]), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gx_g, gx_l, atol=1e-5, rtol=1e-5)
    for a, b in zip(gw_g, gw_l):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_whole_model_same_logits_with_grouped_mm_and_loop(tiny_config):
    model = _model(tiny_config)
    ids = torch.randint(0, tiny_config.vocab_size, (2, 16))
    with torch.no_grad():
        grouped = model(ids)
        for layer in model.model.layers:
            if layer.is_moe:
                layer.mlp.use_grouped_mm = False
        loop = model(ids)
    torch.testing.assert_close(grouped, loop, atol=1e-5, rtol=1e-5)


def test_router_group_limit_bias_for_selection_only(tiny_config):
    router = Router(tiny_config)  # 8 experts, 4 groups of 2, keep 2 groups, top-2
    torch.nn.init.normal_(router.weight, std=1.0)
    x = torch.randn(200, tiny_config.hidden_size)
    weights, idx, scores = router(x)
    assert weights.dtype == torch.float32
    torch.testing.assert_close(weights.sum(-1), torch.full((200,), tiny_config.routed_scaling_factor))
    groups = idx // tiny_config.experts_per_group
    # chosen experts come from at most topk_group groups
    assert all(len(set(g.tolist())) <= tiny_config.topk_group for g in groups)
    # weights are the un-biased scores, normalised
    raw = scores.gather(1, idx)
    torch.testing.assert_close(weights, raw / raw.sum(-1, keepdim=True) * tiny_config.routed_scaling_factor)
    # a huge bias on expert 5 forces its selection, but its weight still comes from its un-biased score
    router.e_score_correction_bias[5] = 100.0
    weights_b, idx_b, scores_b = router(x)
    assert (idx_b == 5).any(-1).all()
    raw_b = scores_b.gather(1, idx_b)
    torch.testing.assert_close(weights_b, raw_b / raw_b.sum(-1, keepdim=True) * tiny_config.routed_scaling_factor)


def test_packed_documents_equal_separate_forwards(tiny_config):
    model = _model(tiny_config)
    docs = [torch.randint(0, tiny_config.vocab_size, (n,)) for n in (7, 12, 5)]
    packed = torch.cat(docs)[None]
    document_ids = torch.cat([torch.full((len(d),), i) for i, d in enumerate(docs)])[None]
    assert document_positions(document_ids)[0].tolist() == list(range(7)) + list(range(12)) + list(range(5))
    with torch.no_grad():
        together = model(packed, document_ids_BT=document_ids)
        apart = torch.cat([model(d[None]) for d in docs], dim=1)
        crossing = model(packed)  # without boundaries the later documents see the earlier ones
    torch.testing.assert_close(together, apart, atol=1e-5, rtol=1e-5)
    assert (crossing[:, 7:] - apart[:, 7:]).abs().max() > 1e-3


def test_latent_absorbed_attention_equals_expanded_attention(tiny_config):
    from axk1.model import LatentKVCache

    model = _model(tiny_config)
    ids = torch.randint(0, tiny_config.vocab_size, (2, 20))
    positions = torch.arange(20).expand(2, 20)
    cache = LatentKVCache(tiny_config, 2, 24, torch.float32)
    mask = torch.ones(20, 20, dtype=torch.bool).tril().expand(2, 1, 20, 20)
    with torch.no_grad():
        expanded = model(ids)
        latent = model.forward_latent(ids, positions, cache, 0, mask, last_only=False)
    torch.testing.assert_close(latent, expanded, atol=1e-5, rtol=1e-5)
    # the cache holds only the latent and the rope key per token
    assert cache.latent[0].shape == (2, 24, tiny_config.kv_lora_rank + tiny_config.qk_rope_head_dim)
    assert cache.latent[0][:, 20:].abs().sum() == 0 and cache.latent[0][:, :20].abs().sum() > 0


def test_mtp_gives_logits_and_gradients(tiny_config):
    model = AXK1ForCausalLM(tiny_config, with_mtp=True)
    ids = torch.randint(0, tiny_config.vocab_size, (2, 10))
    h, rope_and_mask = model.hidden_states(ids)
    (mtp,) = [model.lm_head(x) for x in model.mtp_hidden_states(h, ids, rope_and_mask)]
    assert mtp.shape == (2, 9, tiny_config.vocab_size)
    mtp.sum().backward()
    assert model.mtp[0].eh_proj.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="without MTP"):
        AXK1ForCausalLM(tiny_config).mtp_hidden_states(h, ids, rope_and_mask)


def test_bad_token_ids_and_lengths_are_named(tiny_config):
    model = _model(tiny_config)
    with pytest.raises(ValueError, match="token id 512 is out of range for vocab_size=512"):
        model(torch.tensor([[1, 512]]))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(torch.zeros(1, tiny_config.max_position_embeddings + 1, dtype=torch.long))


def test_bf16_forward_backward_runs(tiny_config):
    model = _model(tiny_config).to(torch.bfloat16)
    ids = torch.randint(0, tiny_config.vocab_size, (2, 16))
    loss = torch.nn.functional.cross_entropy(model(ids).float().flatten(0, 1), ids.flatten())
    loss.backward()
    assert torch.isfinite(loss)
    assert model.model.layers[-1].mlp.gate.e_score_correction_bias.dtype == torch.float32


def test_rmsnorm_hand_written_backward_and_no_grad_path_match_autograd():
    from axk1.model.norm import RMSNorm

    norm = RMSNorm(24, eps=1e-5)
    torch.nn.init.normal_(norm.weight)
    x = torch.randn(3, 5, 24, requires_grad=True)
    upstream = torch.randn(3, 5, 24)
    y = norm(x)
    y.backward(upstream)
    x_ref = x.detach().clone().requires_grad_()
    w_ref = norm.weight.detach().clone().requires_grad_()
    y_ref = w_ref * (x_ref * torch.rsqrt(x_ref.pow(2).mean(-1, keepdim=True) + 1e-5))
    y_ref.backward(upstream)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(norm.weight.grad, w_ref.grad)
    with torch.inference_mode():
        torch.testing.assert_close(norm(x[:, 0]), y_ref[:, 0].detach())  # the decode path (strided rows too)


def test_rmsnorm_fp32_backward_is_elementwise_and_sums_and_matches_autograd():
    """The fp32 norm (the autocast path's residual stream) differentiates with products and sums only, the ops
    inductor fuses (its mean over a row was a matrix-vector product, which inductor decomposes into the same ops and
    eager runs as a BLAS call). Its gradients are autograd's through the plain formula, at a width where the sums'
    order matters (2,048)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from axk1.model.norm import RMSNorm

    class Ops(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.names = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.add(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    torch.manual_seed(0)
    norm = RMSNorm(2048, eps=1e-6)
    torch.nn.init.normal_(norm.weight)
    x = torch.randn(6, 7, 2048, requires_grad=True)
    upstream = torch.randn(6, 7, 2048)
    y = norm(x)
    ops = Ops()
    with ops:
        y.backward(upstream)
    assert not ops.names & {"mv", "addmv", "mm", "addmm", "bmm", "matmul", "dot", "vecdot"}, ops.names
    x_ref = x.detach().clone().requires_grad_()
    w_ref = norm.weight.detach().clone().requires_grad_()
    (w_ref * (x_ref * torch.rsqrt(x_ref.pow(2).mean(-1, keepdim=True) + 1e-6))).backward(upstream)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(norm.weight.grad, w_ref.grad, rtol=1e-5, atol=1e-5)


def test_rmsnorm_bf16_backward_keeps_only_its_input_and_matches_autograd():
    # FSDP2's bf16 path: x and w in bf16. The hand-written backward keeps x (bf16) and r (one fp32 per row), not
    # autograd's fp32 copy of x plus the cast normalised x, and gives autograd's gradients.
    from axk1.model.norm import RMSNorm

    torch.manual_seed(0)
    norm = RMSNorm(64, eps=1e-6).to(torch.bfloat16)
    torch.nn.init.normal_(norm.weight)
    x = torch.randn(4, 8, 64, dtype=torch.bfloat16, requires_grad=True)
    upstream = torch.randn(4, 8, 64, dtype=torch.bfloat16)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        y = norm(x)
    assert sorted((str(t.dtype), tuple(t.shape)) for t in saved if t.shape != (64,)) == [
        ("torch.bfloat16", (4, 8, 64)), ("torch.float32", (4, 8, 1))]
    y.backward(upstream)
    x_ref = x.detach().clone().requires_grad_()
    w_ref = norm.weight.detach().clone().requires_grad_()
    x32 = x_ref.float()
    y_ref = w_ref * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-6)).to(torch.bfloat16)
    y_ref.backward(upstream)
    assert torch.equal(y, y_ref)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(norm.weight.grad, w_ref.grad, rtol=2e-2, atol=5e-2)


@pytest.mark.parametrize("interleave", [True, False])
def test_rope_rotation_matrix_equals_apply_rope(interleave):
    from axk1.model.rope import apply_rope, rope_rotation

    cos, sin = torch.randn(2, 3, 1, 4), torch.randn(2, 3, 1, 4)
    x = torch.randn(2, 3, 5, 8)
    torch.testing.assert_close(x @ rope_rotation(cos, sin, interleave), apply_rope(x, cos, sin, interleave))


@pytest.mark.parametrize("T", [512, 601, 1024])
@pytest.mark.parametrize("packed", [False, True])
def test_causal_attention_blocks_equal_one_attention(T, packed):
    # On CPU, 512-1,023 causal tokens or any masked length from 512 run as two query halves (the first half
    # skips the second half's keys); the result and its gradients equal one attention over everything.
    g = torch.Generator().manual_seed(T)
    q, k, v = (torch.randn(2, 2, T, 16, generator=g, requires_grad=True) for _ in range(3))
    mask = None
    if packed:
        docs = torch.randint(0, 3, (2, T), generator=g).sort(dim=1).values
        mask = document_causal_mask(docs)
    blocks = causal_attention_blocks(q, k, v, mask, 0.25)
    assert len(blocks) == (1 if T == 1024 and not packed else 2)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None, scale=0.25)
    upstream = torch.randn(ref.shape, generator=g)
    grads = torch.autograd.grad(torch.cat(blocks, dim=2), (q, k, v), upstream)
    ref_grads = torch.autograd.grad(ref, (q, k, v), upstream)
    torch.testing.assert_close(torch.cat(blocks, dim=2), ref, atol=1e-5, rtol=1e-5)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_flex_attention_over_the_document_block_mask_equals_the_dense_mask(tiny_config, monkeypatch, request, device):
    """On CUDA packed rows attend through FlexAttention over a block mask built from the document ids (no dense
    [B, 1, T, T], no value padding). It gives the dense-mask path's hidden and MTP states: on CPU its eager forward;
    on a GPU the compiled kernel, gradients included."""
    import warnings

    from axk1.model import attention_mask

    # Exact fp32 on both paths: a GPU trainer run earlier in the process turns TF32 on (the H200 run saw 6e-3
    # differences then, everywhere, not at document edges), and the Triton kernel follows that setting
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32

    def restore():
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved

    request.addfinalizer(restore)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    model = AXK1ForCausalLM(tiny_config, with_mtp=True).to(device)
    ids = torch.randint(3, tiny_config.vocab_size, (2, 160), device=device)
    docs = torch.tensor([[0] * 40 + [1] * 100 + [2] * 20, [0] * 150 + [1] * 10], device=device)  # inside blocks

    def run(flex: bool):
        monkeypatch.setattr(attention_mask, "FLEX_DEVICES", {device} if flex else set())
        model.zero_grad()
        with torch.set_grad_enabled(device == "cuda"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # eager flex_attention warns that it is unfused
            h, rope = model.hidden_states(ids, docs)
            mtp = model.mtp_hidden_states(h, ids, rope)
            if device == "cuda":
                (h.square().mean() + sum(m.square().mean() for m in mtp)).backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        return h.detach(), [m.detach() for m in mtp], rope[2], grads

    h_dense, mtp_dense, _, g_dense = run(False)
    h_flex, mtp_flex, mask, g_flex = run(True)
    assert mask.use_flex and mask._dense is None  # the dense mask was never built
    torch.testing.assert_close(h_flex, h_dense, rtol=1e-4, atol=1e-5)
    for a, b in zip(mtp_flex, mtp_dense):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert len(g_flex) == len(g_dense)
    for a, b in zip(g_flex, g_dense):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


def test_the_block_mask_is_built_before_the_layers_once_per_batch_and_mtp(tiny_config, monkeypatch):
    """On CUDA the layers are compiled, and a block mask built inside one broke its graph (create_block_mask's
    deprecation warning, which dynamo cannot trace) in the first layer and the MTP layer of every micro-batch. So
    the model builds it before the layers: every attention call, the MTP layer's included, gets a mask whose block
    mask exists already, built once for the batch and once for the MTP rows (here the CPU takes the flex path)."""
    import warnings

    from axk1.model import attention_mask, mla

    monkeypatch.setattr(attention_mask, "FLEX_DEVICES", {"cpu"})
    builds = []
    real_build = attention_mask.build_block_mask
    monkeypatch.setattr(attention_mask, "build_block_mask", lambda *a, **k: builds.append(a[2]) or real_build(*a, **k))
    seen = []
    real_forward = mla.MLA.forward

    def forward(self, x_BTD, cos, sin, mask=None):
        seen.append((x_BTD.shape[1], mask._block is not None))
        return real_forward(self, x_BTD, cos, sin, mask)

    monkeypatch.setattr(mla.MLA, "forward", forward)
    torch.manual_seed(0)
    model = AXK1ForCausalLM(tiny_config, with_mtp=True)
    ids = torch.randint(3, tiny_config.vocab_size, (2, 160))
    docs = torch.tensor([[0] * 40 + [1] * 120, [0] * 150 + [1] * 10])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eager flex_attention warns that it is unfused
        h, rope = model.hidden_states(ids, docs)
        model.mtp_hidden_states(h, ids, rope)
    layers = tiny_config.num_hidden_layers
    assert seen == [(160, True)] * layers + [(159, True)], seen
    assert builds == [160, 159]  # one per batch, one for the MTP rows: none inside a layer


def test_expert_counts_sync_free_path_equals_bincount():
    """The accelerator path of expert_counts (scatter_add: no host read) counts what bincount counts, unused experts
    included."""
    from axk1.model.moe import expert_counts

    idx_NK = torch.tensor([[0, 3], [3, 5], [7, 0], [3, 1]])
    want = torch.bincount(idx_NK.reshape(-1), minlength=9)
    for sync_free in (None, False, True):
        got = expert_counts(idx_NK, 9, sync_free)
        assert torch.equal(got, want) and got.dtype == torch.long


def test_rope_frequencies_stay_fp32_in_a_bf16_model(tiny_config, tmp_path):
    """A bf16 folder (the released checkpoint's dtype) loaded under a bf16 default built the frequency buffer in
    bf16, and model.to(bfloat16) rounded it too: 8 significant bits put the angles radians off past a few thousand
    positions, so long prompts decoded wrongly where transformers (fp32 frequencies) did not."""
    from axk1.checkpoint.hf import load_model, save_pretrained
    from axk1.model.rope import rope_frequencies

    exact, _ = rope_frequencies(tiny_config)
    model = _model(tiny_config).to(torch.bfloat16)
    assert model.model.rotary_emb.inv_freq.dtype == torch.float32
    assert torch.equal(model.model.rotary_emb.inv_freq, exact)
    save_pretrained(model, tmp_path / "bf16", dtype=torch.bfloat16)
    loaded = load_model(tmp_path / "bf16")
    assert next(loaded.parameters()).dtype == torch.bfloat16
    assert torch.equal(loaded.model.rotary_emb.inv_freq, exact)
    positions = torch.tensor([[4000]])
    cos, _ = loaded.model.rotary_emb(positions)
    assert tiny_config.rope_scaling is None  # so cos is the angle's plain cosine
    torch.testing.assert_close(cos.flatten(), (4000 * exact.double()).cos().float(), atol=1e-3, rtol=0)
