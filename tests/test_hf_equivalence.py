"""axk1 against transformers 5.23's AXK1ForCausalLM (the reference), in both directions, in fp32."""

import pytest
import torch
from transformers import AXK1ForCausalLM as HFModel

import axk1
from axk1.infer.generate import generate
from tests.hf_reference import hf_config, random_hf_model

CASES = {
    "grouped-bias": dict(yarn=False, n_group=4, topk_group=2, bias=True),
    "yarn-bias": dict(yarn=True, n_group=4, topk_group=2, bias=True),
    "one-group-no-bias": dict(yarn=False, n_group=1, topk_group=1, bias=False),
    "yarn-two-dense-layers": dict(yarn=True, n_group=2, topk_group=1, bias=True, first_k_dense_replace=2),
    # transformers saves a zero-width shared expert (down_proj [D, 0]) that axk1 has no weight for
    "no-shared-expert": dict(yarn=False, n_group=4, topk_group=2, bias=True, n_shared_experts=0),
}


def _ids(batch=3, length=40, vocab=384, seed=1):
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("case", CASES)
def test_hf_saved_model_loads_with_same_logits(case, tmp_path):
    spec = dict(CASES[case])
    bias = spec.pop("bias")
    reference = random_hf_model(hf_config(**spec), bias=bias)
    reference.save_pretrained(tmp_path)
    ours = axk1.load_model(tmp_path, dtype=torch.float32)
    ids = _ids()
    with torch.no_grad():
        expected = reference(ids).logits
        got = ours(ids)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 1e-4
    if bias:  # the bias really was non-zero and really was loaded
        router = ours.model.layers[-1].mlp.gate
        assert router.e_score_correction_bias.abs().sum() > 0


@pytest.mark.parametrize("case", ["grouped-bias", "yarn-bias"])
def test_axk1_saved_model_loads_in_transformers_with_same_logits(case, tmp_path):
    spec = dict(CASES[case])
    bias = spec.pop("bias")
    ours = axk1.load_model(_hf_folder(tmp_path / "src", spec, bias), dtype=torch.float32)
    axk1.save_pretrained(ours, tmp_path / "ours", max_shard_size="200KB")
    assert (tmp_path / "ours" / "model.safetensors.index.json").exists()
    reference, info = HFModel.from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set() and info["mismatched_keys"] == set()
    ids = _ids(seed=2)
    with torch.no_grad():
        assert (reference.eval()(ids).logits - ours(ids)).abs().max().item() <= 1e-4


def test_model_with_mtp_saves_a_folder_transformers_loads_cleanly(tmp_path, tiny_config):
    model = axk1.AXK1ForCausalLM(tiny_config, with_mtp=True)
    axk1.save_pretrained(model, tmp_path)
    assert (tmp_path / "mtp.safetensors").exists()
    _, info = HFModel.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set()
    again = axk1.load_model(tmp_path)
    assert again.mtp is not None
    ids = _ids(2, 12, tiny_config.vocab_size)
    h, rope_and_mask = again.hidden_states(ids)
    h0, rm0 = model.hidden_states(ids)
    with torch.no_grad():
        assert torch.equal(again.lm_head(again.mtp_hidden_states(h, ids, rope_and_mask)[0]),
                           model.lm_head(model.mtp_hidden_states(h0, ids, rm0)[0]))


def test_greedy_generation_matches_transformers_generate(tmp_path):
    reference = random_hf_model(hf_config(yarn=True, eos_token_id=None, bos_token_id=None), bias=True, seed=3)
    reference.save_pretrained(tmp_path)
    ours = axk1.load_model(tmp_path, dtype=torch.float32)
    prompt = _ids(1, 12, seed=4)
    expected = reference.generate(prompt, max_new_tokens=32, do_sample=False, eos_token_id=None, pad_token_id=0)
    got = generate(ours, prompt.tolist(), max_new_tokens=32)
    assert got.tokens[0] == expected[0, prompt.shape[1]:].tolist()
    assert len(got.tokens[0]) == 32


def test_a_large_rms_norm_eps_is_the_same_model_as_transformers(tmp_path):
    """transformers (as DeepSeek-V3's reference) builds q_a_layernorm and kv_a_layernorm with eps 1e-6 whatever
    rms_norm_eps says; axk1 used rms_norm_eps there, 2.0 apart in logits at 1e-2. Both of axk1's paths: the
    modules' forward and the decoder's step (generation)."""
    reference = random_hf_model(hf_config(rms_norm_eps=1e-2, eos_token_id=None, bos_token_id=None), seed=5)
    reference.save_pretrained(tmp_path)
    ours = axk1.load_model(tmp_path, dtype=torch.float32)
    ids = _ids(seed=6)
    with torch.no_grad():
        assert (reference(ids).logits - ours(ids)).abs().max().item() <= 1e-4
    prompt = _ids(1, 12, seed=7)
    expected = reference.generate(prompt, max_new_tokens=16, do_sample=False, eos_token_id=None, pad_token_id=0)
    assert generate(ours, prompt.tolist(), max_new_tokens=16).tokens[0] == expected[0, prompt.shape[1]:].tolist()


def _hf_folder(path, spec, bias):
    random_hf_model(hf_config(**spec), bias=bias).save_pretrained(path)
    return path
