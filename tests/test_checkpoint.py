import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import axk1
from axk1 import AXK1ForCausalLM
from axk1.checkpoint.hf import parse_size
from axk1.checkpoint.state_dict_adapter import is_mtp, to_hf


@pytest.fixture
def saved(tmp_path, tiny_config):
    model = AXK1ForCausalLM(tiny_config)
    axk1.save_pretrained(model, tmp_path / "m")
    return model, tmp_path / "m"


def _rewrite(folder, edit):
    file = folder / "model.safetensors"
    with safe_open(str(file), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    edit(tensors)
    save_file(tensors, str(file), metadata={"format": "pt"})


def test_released_layout_names(saved, tiny_config):
    _, folder = saved
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        names = set(f.keys())
    E = tiny_config.n_routed_experts
    for j in range(E):
        for proj in ("gate_proj", "up_proj", "down_proj"):
            assert f"model.layers.1.mlp.experts.{j}.{proj}.weight" in names
    assert "model.layers.0.post_mlp_layernorm.weight" in names  # stored on the dense layer too, as released
    assert "model.layers.0.mlp.gate_proj.weight" in names and "model.layers.2.mlp.shared_experts.up_proj.weight" in names
    assert "model.layers.1.mlp.gate.weight" in names and "lm_head.weight" in names
    assert not any("rotary" in n or "tokens_per_expert" in n for n in names)


def test_sharded_round_trip_and_bf16(tmp_path, saved, tiny_config):
    model, _ = saved
    axk1.save_pretrained(model, tmp_path / "sharded", max_shard_size="64KB", dtype=torch.bfloat16)
    index = json.loads((tmp_path / "sharded" / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 3
    loaded = axk1.load_model(tmp_path / "sharded")
    assert loaded.lm_head.weight.dtype == torch.bfloat16  # the dtype recorded in config.json
    assert loaded.model.layers[1].mlp.gate.e_score_correction_bias.dtype == torch.float32
    torch.testing.assert_close(loaded.model.layers[1].mlp.experts.down_proj.float(),
                               model.model.layers[1].mlp.experts.down_proj.detach().bfloat16().float())


def test_missing_tensor_is_named(saved):
    _, folder = saved
    _rewrite(folder, lambda t: t.pop("model.layers.2.mlp.experts.5.up_proj.weight"))
    with pytest.raises(ValueError, match=r"missing tensor.*model\.layers\.2\.mlp\.experts\.5\.up_proj\.weight"):
        axk1.load_model(folder)


def test_absent_bias_loads_as_zero(saved):
    _, folder = saved
    _rewrite(folder, lambda t: [t.pop(k) for k in list(t) if "e_score_correction_bias" in k])
    model = axk1.load_model(folder)
    assert model.model.layers[1].mlp.gate.e_score_correction_bias.abs().sum() == 0


def test_shape_mismatch_is_named(saved):
    _, folder = saved
    _rewrite(folder, lambda t: t.__setitem__("model.layers.1.self_attn.kv_b_proj.weight", torch.zeros(3, 3)))
    with pytest.raises(ValueError, match=r"shape mismatch for tensor 'model\.layers\.1\.self_attn\.kv_b_proj\.weight'"):
        axk1.load_model(folder)


def test_unknown_tensor_is_named(saved):
    _, folder = saved
    _rewrite(folder, lambda t: t.__setitem__("model.layers.1.mlp.mystery.weight", torch.zeros(2)))
    with pytest.raises(ValueError, match=r"unexpected tensor 'model\.layers\.1\.mlp\.mystery\.weight'"):
        axk1.load_model(folder)


def test_truncated_file_is_reported(saved):
    _, folder = saved
    file = folder / "model.safetensors"
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"model\.safetensors.*(truncated|corrupt)"):
        axk1.load_model(folder)


def test_folder_without_config_or_weights(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        axk1.load_model(tmp_path)
    _, folder = saved
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="safetensors only"):
        axk1.load_model(folder)


def test_parse_size():
    assert parse_size("5GB") == 5 * 10**9 and parse_size("64KiB") == 65536 and parse_size(10) == 10
    with pytest.raises(ValueError, match="shard size"):
        parse_size("lots")


def test_meta_device_needs_only_config_json(tmp_path, tiny_config):
    tiny_config.save_pretrained(tmp_path)
    model = axk1.load_model(tmp_path, device="meta")
    assert model.lm_head.weight.is_meta
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("tied", [False, True])
def test_state_dict_adapter_round_trip(tmp_path, tiny_config, tied):
    """to_hf gives the released names (experts split, MTP as extra layers, no tied head); a folder written with
    them loads back to the same state dict (the loader reads by to_hf's names: there is no inverse mapping)."""
    config = tiny_config.replace(tie_word_embeddings=tied)
    model = AXK1ForCausalLM(config, with_mtp=True)
    sd = model.state_dict()
    hf = to_hf(sd, config)
    n = config.num_hidden_layers
    assert ("lm_head.weight" in hf) != tied
    assert f"model.layers.{n}.enorm.weight" in hf and f"model.layers.{n}.shared_head.norm.weight" in hf
    assert f"model.layers.{n}.mlp.experts.0.gate_proj.weight" in hf
    assert is_mtp(f"model.layers.{n}.eh_proj.weight", config) and not is_mtp("model.layers.0.mlp.gate_proj.weight", config)
    back = axk1.load_model(axk1.save_pretrained(model, tmp_path / "m"), with_mtp=True).state_dict()
    assert back.keys() == sd.keys()
    for k, v in sd.items():
        assert torch.equal(back[k], v), k


def test_a_partial_write_that_cannot_be_removed_is_not_said_to_be(tmp_path, monkeypatch):
    """A checkpoints folder turned read-only mid-run: the save failed, the error said "the partial write was
    removed", and the empty .step-000002.tmp/ stayed (a read-only folder keeps what is in it)."""
    import errno
    import re

    from axk1.checkpoint import save_failure

    tmp = tmp_path / ".step-000002.tmp"
    tmp.mkdir()
    monkeypatch.setattr(save_failure.shutil, "rmtree", lambda path, ignore_errors=False: None)  # EROFS, ignored
    with pytest.raises(save_failure.CheckpointWriteError) as failed:
        with save_failure.write_guard(tmp_path, tmp, 2, 1, True, lambda: None, 2):
            raise OSError(errno.EROFS, "Read-only file system")
    said = str(failed.value)
    assert re.search(rf"; the partial write {re.escape(str(tmp))} could not be removed \(it is never read as a "
                     r"checkpoint; a later save in this folder deletes it\), and no checkpoint", said), said
    assert "was removed" not in said and tmp.exists()
