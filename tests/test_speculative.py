"""Speculative decoding with the MTP drafter: greedy output equal to plain decoding whether drafts are kept or
thrown away, the acceptance rule keeps the main model's distribution, the latent decoder's multi-token step equals
the module path, and a folder without MTP weights is refused with what to do."""

import pytest
import torch

from axk1.config import ModelConfig
from axk1.infer.generate import generate
from axk1.infer.speculative import MTPDrafter, accept_draft, generate_speculative
from axk1.model import AXK1ForCausalLM, LatentDecoder, LatentKVCache


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"), with_mtp=True).eval()


def test_multi_token_latent_step_equals_the_module_path(model):
    config, n, T = model.config, 12, 3
    ids = torch.randint(3, config.vocab_size, (2, n + T))
    positions = torch.arange(n + T).expand(2, -1)
    causal = torch.ones(n + T, n + T, dtype=torch.bool).tril()[None, None].expand(2, 1, -1, -1)
    want_cache, got_cache = (LatentKVCache(config, 2, n + T, torch.float32) for _ in range(2))
    with torch.inference_mode():
        for cache in (want_cache, got_cache):
            model.forward_latent(ids[:, :n], positions[:, :n], cache, 0, causal[:, :, :n, :n])
        want = model.forward_latent(ids[:, n:], positions[:, n:], want_cache, n, causal[:, :, n:], last_only=False)
        got = LatentDecoder(model)(ids[:, n:], positions[:, n:], got_cache, n, causal[:, :, n:])
    assert got.shape == want.shape == (2, T, config.vocab_size)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got_cache.latent[-1], want_cache.latent[-1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("hit_every", [1, 2, 0])  # every draft right, every other one, none
def test_greedy_output_is_plain_greedy_whether_drafts_are_kept_or_not(model, monkeypatch, hit_every):
    prompt = torch.randint(3, model.config.vocab_size, (17,), generator=torch.Generator().manual_seed(3)).tolist()
    plain = generate(model, [prompt], max_new_tokens=24, stop_ids=[]).tokens[0]
    # An oracle drafter over the real one (whose cache writes still happen): it proposes the plain continuation's
    # token, or a wrong one, so both the kept and the thrown-away paths run.
    real_call, calls = MTPDrafter.__call__, []

    def oracle(self, h_TD, next_ids_T, positions_1T, cache, slot, mask):
        logits = real_call(self, h_TD, next_ids_T, positions_1T, cache, slot, mask)
        k = int(positions_1T[0, -1]) + 2 - len(prompt)  # index in `plain` of the token drafted
        calls.append(k)
        right = hit_every and len(calls) % hit_every == 0 and k < len(plain)
        token = plain[k] if right else (plain[k] + 1 if k < len(plain) else 5) % model.config.vocab_size
        return torch.full_like(logits, -1e4).index_fill_(0, torch.tensor([token]), 1e4)

    monkeypatch.setattr(MTPDrafter, "__call__", oracle)
    got = generate_speculative(model, prompt, max_new_tokens=24, stop_ids=[])
    assert got.tokens[0] == plain
    if hit_every == 1:
        assert got.accepted == got.drafted and got.drafted <= 12  # two tokens a step
    elif hit_every == 0:
        assert got.accepted == 0 and got.drafted == 23
    else:
        assert 0 < got.accepted < got.drafted


def test_stop_tokens_and_lengths_match_plain_decoding(model):
    prompt = list(range(5, 25))
    plain = generate(model, [prompt], max_new_tokens=20, stop_ids=[])
    stop = plain.tokens[0][6]
    want = generate(model, [prompt], max_new_tokens=20, stop_ids=[stop])
    got = generate_speculative(model, prompt, max_new_tokens=20, stop_ids=[stop])
    assert got.tokens == want.tokens and got.finish_reasons == want.finish_reasons == ["stop"]
    assert generate_speculative(model, prompt, max_new_tokens=1, stop_ids=[]).tokens == [plain.tokens[0][:1]]


def test_the_acceptance_rule_samples_from_the_main_distribution():
    g = torch.Generator().manual_seed(0)
    V, B = 6, 200_000
    p_V = torch.tensor([0.05, 0.4, 0.0, 0.25, 0.2, 0.1])
    q_V = torch.tensor([0.3, 0.1, 0.3, 0.05, 0.15, 0.1])  # the draft overweights tokens 0 and 2 (p(2) = 0)
    draft_B = torch.multinomial(q_V, B, replacement=True, generator=g)
    accepted_B, token_B = accept_draft(p_V.expand(B, V).clone(), q_V.expand(B, V).clone(), draft_B, g)
    freq_V = torch.bincount(token_B, minlength=V).double() / B
    se_V = (p_V.double() * (1 - p_V.double()) / B).sqrt()
    assert ((freq_V - p_V).abs() <= 4 * se_V + 1e-9).all(), (freq_V, p_V)
    assert not (token_B == 2).any()  # a token the main model never emits is never emitted
    # the acceptance rate of the rule is sum_v min(p, q)
    assert abs(accepted_B.double().mean() - torch.minimum(p_V, q_V).sum()) < 0.01


def test_a_model_without_mtp_weights_is_refused_with_what_to_do():
    torch.manual_seed(0)
    plain = AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny")).eval()
    with pytest.raises(ValueError, match="--keep-mtp"):
        generate_speculative(plain, [5, 6, 7], max_new_tokens=4)
    with pytest.raises(ValueError, match="one prompt at a time"):
        generate_speculative(plain, [[5, 6], [7, 8]], max_new_tokens=4)


def test_export_keep_mtp_writes_the_drafter_and_generate_speculative_uses_it(tmp_path, capsys):
    """`axk1 export --keep-mtp` → mtp.safetensors beside the main weights (the released layout's place for it);
    the folder loads with its MTP module and `axk1 generate --speculative` prints what plain generate prints."""
    from axk1 import load_model
    from axk1.cli import main
    from axk1.train.recipe import load_recipe
    from axk1.train.trainer import Trainer
    from tests.train_helpers import write_recipe

    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 2"))
    trainer = Trainer(recipe)
    trainer.fit()
    out = tmp_path / "hf"
    # the command line's own entry point, in this process: three `python -m axk1.cli` children spent their time
    # importing torch; the parsing, the folder and the printing are the same code
    assert main(["export", str(recipe.checkpointing.dir), str(out), "--keep-mtp"]) == 0
    assert (out / "mtp.safetensors").exists()
    model = load_model(out)
    assert model.mtp is not None
    want = trainer.model.state_dict()
    for key, value in model.mtp.state_dict(prefix="mtp.").items():  # the balancing bias is dropped, as for the rest
        assert torch.equal(value, torch.zeros_like(value) if key.endswith("e_score_correction_bias") else want[key])
    runs = []
    for flag in ([], ["--speculative"]):
        capsys.readouterr()
        assert main(["generate", str(out), "--prompt", "5 9 17 33", "--max-new-tokens", "12", *flag]) == 0
        runs.append(capsys.readouterr())
    assert runs[0].out == runs[1].out and len(runs[0].out.split()) == 12
    assert "MTP drafts kept" in runs[1].err


def test_a_seed_gives_generates_reply_whether_drafts_are_kept_or_not(model, monkeypatch):
    """Seeded sampling takes one draw a token, as generate does, and keeps a draft only when it is that token: the
    same seed gives generate's reply (the standard rule drew the draft and its verdict from the same stream, so
    the reply depended on the drafts)."""
    prompt = torch.randint(3, model.config.vocab_size, (17,), generator=torch.Generator().manual_seed(4)).tolist()
    plain = generate(model, [prompt], max_new_tokens=24, stop_ids=[], temperature=0.9, seed=11).tokens[0]
    real_call, calls = MTPDrafter.__call__, []

    def every_other_right(self, h_TD, next_ids_T, positions_1T, cache, slot, mask):
        logits = real_call(self, h_TD, next_ids_T, positions_1T, cache, slot, mask)
        k = int(positions_1T[0, -1]) + 2 - len(prompt)
        calls.append(k)
        token = plain[k] if len(calls) % 2 == 0 and k < len(plain) else (plain[min(k, 23)] + 1) % 512
        return torch.full_like(logits, -1e4).index_fill_(0, torch.tensor([token]), 1e4)

    monkeypatch.setattr(MTPDrafter, "__call__", every_other_right)
    got = generate_speculative(model, prompt, max_new_tokens=24, stop_ids=[], temperature=0.9, seed=11)
    assert got.tokens[0] == plain
    assert 0 < got.accepted < got.drafted

