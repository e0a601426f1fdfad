"""The MTP module in DeepSeek-V3's released layout: eh_proj reads [embedding ‖ hidden state] (as vLLM's and SGLang's
loaders of DeepSeek-V3's MTP weights do), the drafter computes what the module does, and a folder's MTP layer holds
every name vLLM's DeepSeek MTP loader reads from layer num_hidden_layers, its copies of the embedding and head
included, which load_model checks against the main tensors."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import axk1
import axk1.checkpoint.export
from axk1 import AXK1ForCausalLM
from axk1.checkpoint.dcp import step_dir
from axk1.checkpoint.mtp_order import EMBEDDING_FIRST, MTP_ORDER, hidden_first, swap_halves
from axk1.infer.speculative import MTPDrafter
from axk1.model import LatentDecoder, LatentKVCache
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.train_helpers import write_recipe


def _random(config, seed=0):
    torch.manual_seed(seed)
    model = AXK1ForCausalLM(config, with_mtp=True).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.uniform_(0.5, 1.5) if name.endswith("norm.weight") else p.normal_(0.0, 0.05)
    return model


def _rms(x, weight, eps):
    return weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def test_the_mtp_module_projects_the_embedding_then_the_hidden_state(tiny_config):
    model = _random(tiny_config)
    ids = torch.randint(0, tiny_config.vocab_size, (2, 10))
    module, eps, T = model.mtp[0], tiny_config.rms_norm_eps, 9
    with torch.no_grad():
        h, (cos, sin, mask) = model.hidden_states(ids)
        e = model.model.embed_tokens(ids[:, 1:])
        x = torch.cat([_rms(e, module.enorm.weight, eps), _rms(h[:, :T], module.hnorm.weight, eps)], -1)
        want = module.shared_head_norm(module.layer(x @ module.eh_proj.weight.T, cos[:, :T], sin[:, :T], None))
        (got,) = model.mtp_hidden_states(h, ids, (cos, sin, mask))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_the_drafter_computes_what_the_module_does(tiny_config):
    """The drafter (speculative decoding) runs the module's math on plain tensors: its own concatenation, kept in
    the module's order."""
    model = _random(tiny_config, seed=1)
    T = 11
    ids = torch.randint(0, tiny_config.vocab_size, (1, T + 1))
    with torch.inference_mode():
        h, rope_and_mask = model.hidden_states(ids)
        want = model.lm_head(model.mtp_hidden_states(h, ids, rope_and_mask)[0])[0]
        cache = LatentKVCache(tiny_config, 1, T, torch.float32, num_layers=1)
        causal = torch.ones(T, T, dtype=torch.bool).tril()[None, None]
        got = MTPDrafter(model, LatentDecoder(model))(h[0, :T], ids[0, 1:], torch.arange(T)[None], cache, 0,
                                                      causal, at=torch.arange(T))
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("tied", [False, True])
def test_mtp_safetensors_holds_what_vllms_deepseek_mtp_loader_reads(tmp_path, tiny_config, tied):
    config = tiny_config.replace(tie_word_embeddings=tied)
    model = _random(config, seed=2)
    axk1.save_pretrained(model, tmp_path)
    mtp, main = load_file(tmp_path / "mtp.safetensors"), load_file(tmp_path / "model.safetensors")
    L = config.num_hidden_layers
    # vLLM (deepseek_mtp.py) loads only names under model.layers.{L}: enorm, hnorm, eh_proj, shared_head.norm and
    # .head, embed_tokens, and the decoder layer's own (a MoE layer's names, as layer 1's)
    layer = {n.removeprefix("model.layers.1.") for n in main if n.startswith("model.layers.1.")}
    expected = {f"model.layers.{L}.{n}" for n in layer | {"enorm.weight", "hnorm.weight", "eh_proj.weight",
                                                          "shared_head.norm.weight", "shared_head.head.weight",
                                                          "embed_tokens.weight"}}
    assert set(mtp) == expected
    head = main["model.embed_tokens.weight"] if tied else main["lm_head.weight"]
    assert torch.equal(mtp[f"model.layers.{L}.embed_tokens.weight"], main["model.embed_tokens.weight"])
    assert torch.equal(mtp[f"model.layers.{L}.shared_head.head.weight"], head)
    # the file read as vLLM computes DeepSeek-V3's MTP input (enorm(embedding) first) is what the module computes
    ids, eps = torch.randint(0, config.vocab_size, (2, 9)), config.rms_norm_eps
    module = model.mtp[0]
    with torch.no_grad():
        h, (cos, sin, _) = model.hidden_states(ids)
        e = model.model.embed_tokens(ids)
        vllm_x = torch.cat([_rms(e, mtp[f"model.layers.{L}.enorm.weight"], eps),
                            _rms(h, mtp[f"model.layers.{L}.hnorm.weight"], eps)], -1) @ mtp[f"model.layers.{L}.eh_proj.weight"].T
        torch.testing.assert_close(module(h, e, cos, sin), module.layer(vllm_x, cos, sin), rtol=1e-5, atol=1e-6)
    again = axk1.load_model(tmp_path, dtype=torch.float32)  # the copies are accepted, and checked
    with torch.no_grad():
        h0, rm0 = model.hidden_states(ids)
        h1, rm1 = again.hidden_states(ids)
        assert torch.equal(again.mtp_hidden_states(h1, ids, rm1)[0], model.mtp_hidden_states(h0, ids, rm0)[0])


def test_a_copy_that_is_not_the_main_embedding_is_refused(tmp_path, tiny_config):
    axk1.save_pretrained(_random(tiny_config, seed=3), tmp_path)
    file, name = tmp_path / "mtp.safetensors", f"model.layers.{tiny_config.num_hidden_layers}.embed_tokens.weight"
    with safe_open(str(file), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors[name] = tensors[name] + 1
    save_file(tensors, str(file), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="is not a copy of 'model.embed_tokens.weight'.*without MTP"):
        axk1.load_model(tmp_path)
    assert axk1.load_model(tmp_path, with_mtp=False).mtp is None  # the main model still loads


def _old_order(step):
    """The step folder's train state as the trainer wrote it before it recorded the MTP order."""
    file = step / "train_state.json"
    saved = json.loads(file.read_text())
    assert saved.pop(MTP_ORDER) == EMBEDDING_FIRST  # the trainer records the order it trained in
    file.write_text(json.dumps(saved))


def test_a_checkpoint_trained_hidden_first_is_converted_on_export_and_resume(tmp_path):
    """A checkpoint from before the order changed (no MTP order in its train state) trained eh_proj on
    [hidden ‖ embedding]: the export writes the same function embedding first, and a resume swaps the weight's
    halves and AdamW's moments with it."""
    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 2"))
    trainer = Trainer(recipe)
    trainer.fit()
    step = step_dir(recipe.checkpointing.dir, 2)
    _old_order(step)
    lm, key = trainer.model, "lm.mtp.0.eh_proj.weight"
    trained = lm.mtp[0].eh_proj.weight.detach().clone()
    moments = {k: v.clone() for k, v in trainer.optimizer.state[lm.mtp[0].eh_proj.weight].items() if v.dim() == 2}

    axk1.checkpoint.export.export_checkpoint(step, tmp_path / "hf", keep_mtp=True)
    ours = axk1.load_model(tmp_path / "hf", dtype=torch.float32)
    ids = torch.randint(3, lm.config.vocab_size, (2, 12))
    module, eps = lm.mtp[0], lm.config.rms_norm_eps
    with torch.no_grad():  # the old module's function, written out: hidden state first
        h, (cos, sin, _) = lm.hidden_states(ids)
        e = lm.model.embed_tokens(ids)
        old_x = torch.cat([_rms(h, module.hnorm.weight, eps), _rms(e, module.enorm.weight, eps)], -1) @ trained.T
        want = ours.mtp[0].layer(old_x, cos, sin)  # its layer: the export writes the balancing bias as zeros
        # the halves are summed in the other order: fp32 rounding differs in the last bits (1.3e-6 seen on one
        # CPU); the wrong order is off by O(1)
        torch.testing.assert_close(ours.mtp[0](h, e, cos, sin), want, rtol=1e-5, atol=1e-5)

    resumed = Trainer(recipe, resume=True)
    weight = dict(resumed.objective.named_parameters())[key]
    assert torch.equal(weight, swap_halves(trained))
    assert moments and all(torch.equal(resumed.optimizer.state[weight][k], swap_halves(v)) for k, v in moments.items())
    assert torch.equal(weight, ours.mtp[0].eh_proj.weight)  # export and resume agree


def test_the_recorded_order_is_read_not_guessed():
    assert hidden_first({"mtp_depth": 1}) and not hidden_first({"mtp_depth": 1, MTP_ORDER: EMBEDDING_FIRST})
    assert not hidden_first({"mtp_depth": 0}) and not hidden_first({})  # no MTP trained: nothing to convert
    with pytest.raises(ValueError, match="mtp_eh_proj_order = 'hidden_first'.*damaged"):
        hidden_first({"mtp_depth": 1, MTP_ORDER: "hidden_first"})


def test_an_mtp_file_exported_before_the_order_changed_is_refused(tmp_path, tiny_config):
    """An MTP layer without the copies is an axk1 export from before (hidden state first): read in the new order it
    would draft from swapped inputs, so it is refused, saying to export again (which converts) or load without it."""
    axk1.save_pretrained(_random(tiny_config, seed=4), tmp_path)
    file, L = tmp_path / "mtp.safetensors", tiny_config.num_hidden_layers
    tensors = load_file(file)
    for name in ("embed_tokens.weight", "shared_head.head.weight"):
        del tensors[f"model.layers.{L}.{name}"]
    save_file(tensors, str(file), metadata={"format": "pt"})
    with pytest.raises(ValueError, match=rf"MTP layer model.layers.{L} lacks .*embed_tokens.*Export the training "
                                         "checkpoint again.*without MTP"):
        axk1.load_model(tmp_path)
    from axk1.checkpoint.hf_sharded import load_hf_sharded_

    with pytest.raises(ValueError, match="lacks"):  # [model] init_from too
        load_hf_sharded_(AXK1ForCausalLM(tiny_config, with_mtp=True), tmp_path)
    assert axk1.load_model(tmp_path, with_mtp=False).mtp is None
