"""Tied input and output embeddings (tie_word_embeddings): one tensor after a save and load, after materializing
on the meta device and after [model] init_from, and a tied folder transformers wrote loads with its logits."""

import pytest
import torch

import axk1
from axk1 import AXK1ForCausalLM


@pytest.fixture
def tied(tiny_config):
    return tiny_config.replace(tie_word_embeddings=True)


def _logits(model, ids=((1, 5, 9, 2),)):
    with torch.no_grad():
        return model(torch.tensor(ids)).float()


def test_tied_model_round_trips(tied, tmp_path):
    model = AXK1ForCausalLM(tied).eval()
    loaded = axk1.load_model(axk1.save_pretrained(model, tmp_path / "t"))
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    torch.testing.assert_close(_logits(loaded), _logits(model), rtol=0, atol=0)


def test_tied_folder_written_by_transformers_loads_with_its_logits(tiny_config, tmp_path):
    import transformers  # (a test dependency)
    folder = axk1.save_pretrained(AXK1ForCausalLM(tiny_config), tmp_path / "m")
    config = transformers.AutoConfig.from_pretrained(folder, tie_word_embeddings=True)
    torch.manual_seed(3)
    theirs = transformers.AutoModelForCausalLM.from_config(config).eval()
    theirs.save_pretrained(tmp_path / "hf")
    ours = axk1.load_model(tmp_path / "hf", dtype=torch.float32)
    assert ours.config.tie_word_embeddings and not torch.isnan(_logits(ours)).any()
    with torch.no_grad():
        expected = theirs(torch.tensor([[1, 5, 9, 2]])).logits.float()
    torch.testing.assert_close(_logits(ours), expected, rtol=1e-4, atol=1e-4)


def test_materialize_keeps_a_tied_head_tied(tied):
    from axk1.parallel.init import materialize_

    with torch.device("meta"):
        lm = AXK1ForCausalLM(tied)
    materialize_(lm, "cpu", seed=0)
    assert lm.lm_head.weight is lm.model.embed_tokens.weight and torch.isfinite(lm.lm_head.weight).all()


def test_init_from_a_tied_folder_keeps_the_head_tied(tied, tmp_path):
    from axk1.checkpoint.hf_sharded import load_hf_sharded_
    from axk1.parallel.init import materialize_

    source = AXK1ForCausalLM(tied, with_mtp=True).eval()
    folder = axk1.save_pretrained(source, tmp_path / "t")
    with torch.device("meta"):
        lm = AXK1ForCausalLM(tied, with_mtp=True)
    materialize_(lm, "cpu", seed=1)
    load_hf_sharded_(lm, folder)
    assert lm.lm_head.weight is lm.model.embed_tokens.weight
    torch.testing.assert_close(_logits(lm.eval()), _logits(source), rtol=0, atol=0)
