"""RL's fused head log-probabilities equal the plain computation (full logits → log_softmax → gather) in value,
entropy and gradient, on padded rows of a real model, so the chunked shortcut cannot change what RL optimises."""

import torch

from axk1.config import ModelConfig
from axk1.model.transformer import AXK1ForCausalLM
from axk1.posttrain.logprobs import completion_logprobs, linear_logprob
from tests.device_reads import DeviceReads


def test_linear_logprob_matches_log_softmax_in_value_entropy_and_gradient():
    torch.manual_seed(0)
    h = torch.randn(37, 16, dtype=torch.float64, requires_grad=True)
    w = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 50, (37,))
    g = torch.randn(37, dtype=torch.float64)
    logp, ent = linear_logprob(h, w, target, chunk=8, with_entropy=True)  # 5 chunks, the last one short
    (logp * g).sum().backward()
    gh, gw = h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None
    ref_all = torch.log_softmax(h @ w.T, -1)
    ref = ref_all.gather(1, target[:, None])[:, 0]
    (ref * g).sum().backward()
    assert torch.allclose(logp.double(), ref, atol=1e-5)
    assert torch.allclose(ent.double(), -(ref_all.exp() * ref_all).sum(-1), atol=1e-5)
    assert not ent.requires_grad
    assert torch.allclose(gh, h.grad, atol=1e-5) and torch.allclose(gw, w.grad, atol=1e-5)


def test_completion_logprobs_on_padded_rows_match_full_logits():
    torch.manual_seed(0)
    cfg = ModelConfig.from_preset("axk1-tiny")
    lm = AXK1ForCausalLM(cfg).float()
    prompt_B, length_B = torch.tensor([3, 5, 2]), torch.tensor([9, 7, 2 + 6])
    ids_BT = torch.randint(0, cfg.vocab_size, (3, 9))
    logp_BC, ent_BC, mask_BC = completion_logprobs(lm, ids_BT, prompt_B, length_B)
    assert mask_BC.tolist() == [[True] * 6, [True, True, False, False, False, False], [True] * 6]
    loss = (logp_BC * torch.linspace(-1, 1, 6)).sum()
    loss.backward()
    got = [p.grad.clone() for p in lm.parameters() if p.grad is not None]
    lm.zero_grad()
    logits_BTV = lm(ids_BT).float()
    logp_all = torch.log_softmax(logits_BTV, -1)
    ref_BC = torch.zeros(3, 6)
    for b in range(3):
        for c in range(int(length_B[b] - prompt_B[b])):
            t = int(prompt_B[b]) - 1 + c
            ref_BC[b, c] = logp_all[b, t, ids_BT[b, t + 1]]
    assert torch.allclose(logp_BC.detach(), ref_BC, atol=1e-5)
    assert (logp_BC.detach()[~mask_BC] == 0).all() and (ent_BC[~mask_BC] == 0).all()
    (ref_BC * torch.linspace(-1, 1, 6)).sum().backward()
    want = [p.grad for p in lm.parameters() if p.grad is not None]
    assert len(got) == len(want)
    assert all(torch.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(got, want))


def test_with_host_lengths_the_log_probs_are_the_same_and_read_nothing_back():
    """RL's update knows its rows' lengths on the host and checks the ids there once: given them, the forward reads no
    device value (on a GPU: four syncs a micro-batch fewer: the ids' range, the longest completion, the nonzero)."""
    torch.manual_seed(0)
    cfg = ModelConfig.from_preset("axk1-tiny")
    lm = AXK1ForCausalLM(cfg).float()
    prompt_B, length_B = torch.tensor([3, 5, 2]), torch.tensor([9, 7, 8])
    ids_BT = torch.randint(0, cfg.vocab_size, (3, 9))
    want = completion_logprobs(lm, ids_BT, prompt_B, length_B)
    with DeviceReads() as reads:
        got = completion_logprobs(lm, ids_BT, prompt_B, length_B, host_lengths=([3, 5, 2], [9, 7, 8]))
    assert reads.n == 0
    for a, b in zip(want, got):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
