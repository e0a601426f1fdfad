import pytest
import torch
import torch.nn.functional as F

from axk1 import AXK1ForCausalLM
from axk1.train import loss as loss_module
from axk1.train.loss import IGNORE_INDEX, linear_cross_entropy, next_token_labels
from tests.lm_loss import causal_lm_loss


@pytest.fixture(params=[False, True], ids=["one-pass", "sync-free"])
def loop(request, monkeypatch):
    """Both chunk loops on CPU: the one-pass softmax (CPU's) and the sync-free logsumexp one (accelerators')."""
    monkeypatch.setattr(loss_module, "sync_free_loss", lambda device: request.param)
    return request.param


@pytest.mark.parametrize("chunk", [3, 16, 1000])
def test_fused_chunked_loss_and_gradients_equal_plain_cross_entropy(chunk, loop):
    h = torch.randn(37, 24, requires_grad=True)
    w = torch.randn(50, 24, requires_grad=True)
    labels = torch.randint(0, 50, (37,))
    labels[[0, 5, 36]] = IGNORE_INDEX
    loss = linear_cross_entropy(h, w, labels, chunk_size=chunk)
    (loss * 3).backward()
    gh, gw = h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None
    ref = F.cross_entropy(h @ w.T, labels, ignore_index=IGNORE_INDEX)
    (ref * 3).backward()
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(gh, h.grad)
    torch.testing.assert_close(gw, w.grad)


def test_unscaled_gradient_is_handed_over_once():
    h = torch.randn(9, 8, requires_grad=True)
    w = torch.randn(12, 8, requires_grad=True)
    labels = torch.randint(0, 12, (9,))
    loss = linear_cross_entropy(h, w, labels, chunk_size=4)
    loss.backward(retain_graph=True)
    ref_h, ref_w = torch.autograd.grad(F.cross_entropy(h @ w.T, labels), (h, w))
    torch.testing.assert_close(h.grad, ref_h)
    torch.testing.assert_close(w.grad, ref_w)
    with pytest.raises(RuntimeError, match="backward runs once"):
        loss.backward()


def test_no_gradient_work_under_no_grad_and_all_ignored_is_an_error():
    h, w = torch.randn(4, 8), torch.randn(10, 8)
    with torch.no_grad():
        assert linear_cross_entropy(h, w, torch.tensor([1, 2, 3, 4])).item() > 0
    with pytest.raises(ValueError, match="every label is ignored"):
        linear_cross_entropy(h, w, torch.full((4,), IGNORE_INDEX))
    # said by the caller (a rank whose rows hold no label this time): a loss and gradients of 0, not an error
    h.requires_grad_(True)
    loss = linear_cross_entropy(h, w.requires_grad_(True), torch.full((4,), IGNORE_INDEX), n_valid=0)
    loss.backward()
    assert loss.item() == 0 and not h.grad.any() and not w.grad.any()


def test_labels_never_cross_documents():
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    docs = torch.tensor([[0, 0, 1, 1, 1]])
    assert next_token_labels(ids, docs).tolist() == [[6, IGNORE_INDEX, 8, 9, IGNORE_INDEX]]


def test_causal_lm_loss_matches_logits_path(tiny_config):
    model = AXK1ForCausalLM(tiny_config)
    ids = torch.randint(0, tiny_config.vocab_size, (2, 12))
    fused = causal_lm_loss(model, ids, chunk_size=5)
    logits = model(ids)
    plain = F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())
    torch.testing.assert_close(fused, plain)


def test_label_probability_underflowing_in_the_softmax_still_gives_the_exact_loss(loop):
    # A label logit 120 below the row's maximum: its softmax probability is 0 in fp32, the loss must not be inf.
    h = torch.zeros(3, 2)
    h[:, 0] = 1.0
    w = torch.zeros(5, 2)
    w[0, 0], w[1, 0] = 120.0, -5.0
    labels = torch.tensor([4, 0, 1])
    loss = linear_cross_entropy(h, w, labels, chunk_size=2)
    torch.testing.assert_close(loss, F.cross_entropy(h @ w.T, labels))


def test_the_sync_free_loop_reads_the_device_once_per_call_not_per_chunk(loop):
    """On a GPU each host read (a nonzero, an item) stalls the kernel queue; the H200 run found two per 512-token
    chunk (docs/gpu.md). The accelerator loop reads one value per call (the label count), whatever the chunk count."""
    from tests.device_reads import DeviceReads

    h, w = torch.randn(40, 8, requires_grad=True), torch.randn(30, 8, requires_grad=True)
    labels = torch.randint(0, 30, (40,))
    labels[[3, 17]] = IGNORE_INDEX
    with DeviceReads() as reads:
        linear_cross_entropy(h, w, labels, chunk_size=4)  # 10 chunks
    assert reads.n == 1 if loop else reads.n >= 10


@pytest.mark.parametrize("how", ["bf16-hidden", "autocast"])
def test_bf16_runs_take_the_head_matmuls_in_bf16_and_stay_close_to_fp32(how, loop):
    """FSDP2's bf16 path hands the loss bf16 hidden states and head; one process runs under autocast. Either way the
    head's matmuls run in bf16 (twice TF32's rate on a GPU) with fp32 logits, loss and gradient sums; the loss and
    gradients stay within bf16 rounding of the fp32 ones."""
    from torch.utils._python_dispatch import TorchDispatchMode

    g = torch.Generator().manual_seed(0)
    h32, w32 = torch.randn(70, 32, generator=g), torch.randn(90, 32, generator=g) / 4
    labels = torch.randint(0, 90, (70,), generator=g)
    labels[[2, 40]] = IGNORE_INDEX
    ref_h, ref_w = h32.clone().requires_grad_(), w32.clone().requires_grad_()
    ref = F.cross_entropy(ref_h @ ref_w.T, labels, ignore_index=IGNORE_INDEX)
    ref.backward()
    dtype = torch.bfloat16 if how == "bf16-hidden" else torch.float32
    h, w = h32.to(dtype).requires_grad_(), w32.to(dtype).requires_grad_()

    class MatmulDtypes(TorchDispatchMode):
        seen: set = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in (torch.ops.aten.mm.default, torch.ops.aten.mm.out, torch.ops.aten.addmm_.default):
                MatmulDtypes.seen.add(args[0].dtype if func is not torch.ops.aten.addmm_.default else args[1].dtype)
            return func(*args, **(kwargs or {}))

    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=how == "autocast")
    with MatmulDtypes(), autocast:
        loss = linear_cross_entropy(h, w, labels, chunk_size=16)
    assert MatmulDtypes.seen == {torch.bfloat16}
    assert loss.dtype == torch.float32
    loss.backward()
    assert h.grad.dtype == dtype and w.grad.dtype == dtype
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(h.grad.float(), ref_h.grad, rtol=0.05, atol=2e-3)
    torch.testing.assert_close(w.grad.float(), ref_w.grad, rtol=0.05, atol=2e-3)


def test_the_accelerators_fused_chunk_step_compiles_whole_and_matches_eager():
    """On a GPU each chunk's softmax, loss and gradient run as `torch.compile(chunk_cross_entropy, fullgraph=True)`
    (a graph break or an unsupported op would fail here too: inductor compiles the same graph for CPU), and it must
    give the eager expressions' loss and bf16/fp32 gradient, zero on ignored rows."""
    compiled = torch.compile(loss_module.chunk_cross_entropy, fullgraph=True)
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.bfloat16, torch.float32):
        logits = (torch.randn(24, 300, generator=g) * 4).to(dtype)
        labels = torch.randint(0, 300, (24,), generator=g)
        valid = torch.ones(24, dtype=torch.bool)
        valid[[1, 7]] = False
        nll, grad = compiled(logits, labels, valid, True)
        ref_nll, ref_grad = loss_module.chunk_cross_entropy(logits, labels, valid, True)
        assert grad.dtype == dtype and grad[[1, 7]].abs().sum() == 0
        torch.testing.assert_close(nll, ref_nll)
        torch.testing.assert_close(grad, ref_grad)
        plain = F.cross_entropy(logits.float(), labels, reduction="none") * valid
        torch.testing.assert_close(nll, plain)
        no_grad_nll, none = compiled(logits, labels, valid, False)
        assert none is None
        torch.testing.assert_close(no_grad_nll, ref_nll)


def test_an_mtp_depth_without_labels_still_gives_its_layer_a_gradient_and_no_loss():
    """Two-token documents: next-token labels, none two ahead. The MTP depth still runs (a loss of 0), so the MTP
    layer gets a gradient of 0, not none: under torchrun FSDP2 reduces that layer's gradients with the other ranks',
    which may have labels there, and a rank without a gradient would leave them waiting. The MTP loss is the mean
    over the depths that have labels."""
    from axk1 import ModelConfig
    from axk1.train.loss import host_counts, training_loss

    torch.manual_seed(0)
    model = AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"), with_mtp=True)
    ids = torch.randint(3, 512, (1, 8))
    docs = torch.tensor([[0, 0, 1, 1, 2, 2, 3, 3]])
    counts = host_counts(model.config, ids, docs, next_token_labels(ids, docs), 1)
    assert counts.labels == 4 and counts.mtp_labels == (0,)
    for how in (counts, None):  # counted on the host, or by the loss itself
        model.zero_grad(set_to_none=True)
        out = training_loss(model, ids, docs, 0.3, counts=how)
        out.total.backward()
        assert out.mtp.item() == 0
        torch.testing.assert_close(out.total, out.main)
        grads = [p.grad for p in model.mtp.parameters()]
        assert all(g is not None for g in grads) and not any(g.any() for g in grads)
