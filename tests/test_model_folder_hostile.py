"""Hostile model folders, as `axk1 generate`, `axk1 serve` and `load_model` read them: config.json values, the
safetensors index, the tensors the weight files hold (dtype, duplicates, non-finite or quantized values), tokenizer
files and JSON nested past the stack. Each is refused with one clear error naming the file, a config that claims
more than the weights hold before anything is allocated, and real folders still load (3, tied embeddings:
test_tied_embeddings.py). Training checkpoints and the folders export and merge write are in
test_checkpoint_export_hostile.py, which shares this file's helpers (tests/model_folder_helpers.py)."""

import json
import os
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import axk1
from axk1 import AXK1ForCausalLM, ModelConfig
from axk1.checkpoint.merge import merge_folders
from axk1.cli import main
from axk1.infer.chat import ChatCodec
from tests import model_folder_helpers
from tests.model_folder_helpers import cli_error, tiny_model_config

folder = model_folder_helpers.folder  # the fixture (a saved tiny model with its MTP layers), shared with export's tests


def _edit_config(folder, **changes):
    raw = json.loads((folder / "config.json").read_text())
    raw.update(changes)
    (folder / "config.json").write_text(json.dumps(raw))


# ---- 2: the index names only plain, regular files -----------------------------------------------------------------

@pytest.fixture
def sharded(tmp_path):
    model = AXK1ForCausalLM(tiny_model_config(), with_mtp=False)
    return axk1.save_pretrained(model, tmp_path / "s", max_shard_size="64KB")


@pytest.mark.parametrize("value", ["../secret/x.safetensors", "/dev/zero", "", ".", 7, None, {"a": 1}])
def test_index_entries_must_be_plain_file_names(value, sharded, tmp_path):
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    first = next(iter(index["weight_map"]))
    index["weight_map"][first] = value
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match=r"model\.safetensors\.index\.json names .* only plain file names"):
        axk1.load_model(sharded)
    with pytest.raises(ValueError, match="only plain file names"):
        merge_folders(sharded, sharded, tmp_path / "merged", 0.5, progress=False)


@pytest.mark.parametrize("index", [[], None, {"weight_map": ["a"]}, {"weight_map": {}}])
def test_malformed_index_is_refused(index, sharded):
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="is not a valid safetensors index"):
        axk1.load_model(sharded)


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_weight_file_must_be_a_regular_file(kind, folder):
    (folder / "model.safetensors").unlink()
    (os.mkfifo if kind == "fifo" else os.mkdir)(folder / "model.safetensors")
    with pytest.raises(ValueError, match="model.safetensors is not a regular file"):
        axk1.load_model(folder)  # a FIFO would block this read forever


def test_merge_writes_an_index_of_its_own_files(sharded, tmp_path):
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    index["metadata"]["note"] = "from A"
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    merge_folders(sharded, sharded.parent / "s", tmp_path / "merged", 0.5, progress=False)
    written = json.loads((tmp_path / "merged" / "model.safetensors.index.json").read_text())
    assert written["weight_map"] == index["weight_map"] and "note" not in written["metadata"]
    assert set(written["weight_map"].values()) == {p.name for p in (tmp_path / "merged").glob("model-*.safetensors")}


# ---- 4, 6, 8: what the files hold, checked on their headers --------------------------------------------------------

def _tensors(file):
    with safe_open(str(file), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def test_mtp_file_may_hold_only_mtp_layers(folder):
    main, mtp = _tensors(folder / "model.safetensors"), _tensors(folder / "mtp.safetensors")
    mtp["model.norm.weight"] = main.pop("model.norm.weight")  # moved: loading would otherwise succeed
    save_file(main, str(folder / "model.safetensors"))
    save_file(mtp, str(folder / "mtp.safetensors"))
    with pytest.raises(ValueError, match=r"mtp\.safetensors holds 'model\.norm\.weight', which is not an MTP layer"):
        axk1.load_model(folder)


def test_a_tensor_stored_twice_is_refused(sharded):
    shards = sorted(sharded.glob("model-*.safetensors"))
    first, last = _tensors(shards[0]), _tensors(shards[-1])
    name = next(iter(first))
    save_file({**last, name: first[name]}, str(shards[-1]))
    with pytest.raises(ValueError, match=rf"{name}.* is in both .*{shards[0].name} and .*{shards[-1].name}"):
        axk1.load_model(sharded)


def test_integer_tensor_for_a_float_weight_is_refused(folder):
    main = _tensors(folder / "model.safetensors")
    main["model.norm.weight"] = main["model.norm.weight"].to(torch.int32)
    save_file(main, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match=r"'model\.norm\.weight' in .* is stored as I32"):
        axk1.load_model(folder)


@pytest.mark.parametrize("field,value", [("num_hidden_layers", 10**9), ("vocab_size", 10**12)])
def test_config_is_checked_against_the_headers_before_allocating(field, value, folder, monkeypatch):
    _edit_config(folder, **{field: value}, mlp_layer_types=None)
    built = []
    monkeypatch.setattr(torch.nn.Module, "to_empty", lambda self, **kw: built.append(self))
    with pytest.raises(ValueError, match=f"num_hidden_layers = {value}|shape mismatch .*implies \\({value}, 64\\)"):
        axk1.load_model(folder)
    assert built == []  # refused before anything was allocated


# ---- 5: config.json values ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes", [
    {"rms_norm_eps": "1e-6"}, {"eos_token_id": "2"}, {"rope_scaling": "yarn"}, {"rope_parameters": [1, 2]},
    {"rms_norm_eps": float("nan")}, {"routed_scaling_factor": float("nan")}, {"rope_parameters": None, "rope_theta": float("inf")},
    {"rope_parameters": {"rope_type": "default", "rope_theta": float("inf")}},
    {"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4, "factor": float("nan"),
                         "original_max_position_embeddings": 64}},
    {"first_k_dense_replace": True, "mlp_layer_types": None}, {"mlp_layer_types": ["dense"] + ["sparse"] * 9},
    {"eos_token_id": 512}, {"bos_token_id": 10**6}, {"tie_word_embeddings": "false"},
])
def test_bad_config_values_are_one_line_errors(changes, folder, capsys):
    _edit_config(folder, **changes)
    err = cli_error(["generate", str(folder), "--prompt", "1 2", "--max-new-tokens", "1"], capsys)
    assert "config.json" in err


@pytest.mark.parametrize("factor", [1e308, 1e20, 0.5])
def test_a_yarn_factor_past_the_export_bound_is_refused_naming_the_file(factor, folder, capsys):
    """1e308 x the original length overflowed context_length to infinity (a traceback) and 1e20 claimed a 1e23-token
    context: a config.json read takes the factors `axk1 export --yarn` may write, no more."""
    _edit_config(folder, rope_parameters=None, rope_scaling={"type": "yarn", "factor": factor,
                                                             "original_max_position_embeddings": 64})
    err = cli_error(["generate", str(folder), "--prompt", "1 2", "--max-new-tokens", "1"], capsys)
    assert f"{folder / 'config.json'}: ModelConfig.rope_scaling.factor must be finite and from 1 to 1024" in err


@pytest.mark.parametrize("content", ["[1, 2, 3]", "null"])
def test_config_that_is_not_an_object(content, folder):
    (folder / "config.json").write_text(content)
    with pytest.raises(ValueError, match="config.json: a model config must be a JSON object"):
        axk1.load_model(folder)


@pytest.mark.parametrize("dtype", ["int8", "float8_e4m3fn", 3])
def test_only_float_dtypes_are_loaded(dtype, folder):
    _edit_config(folder, dtype=dtype)
    with pytest.raises(ValueError, match=r"config.json dtype .* is not a dtype axk1 takes: use float32, bfloat16, "
                                         "float16; pass --dtype"):
        axk1.load_model(folder)


def test_corrupt_tokenizer_files_name_the_file(folder, capsys):
    (folder / "tokenizer.json").write_text('{"version": "1.0", "trunc')
    err = cli_error(["generate", str(folder), "--prompt", "hello", "--max-new-tokens", "1"], capsys)
    assert f"{folder / 'tokenizer.json'} is not a readable tokenizer" in err
    with pytest.raises(ValueError, match="tokenizer.json is not a readable tokenizer"):
        ChatCodec.from_folder(folder)


def _tokenizer(folder):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    Tokenizer(WordLevel({"a": 0, "<unk>": 1}, unk_token="<unk>")).save(str(folder / "tokenizer.json"))


def test_corrupt_tokenizer_config_and_template_fail_at_load(folder):
    _tokenizer(folder)
    (folder / "tokenizer_config.json").write_text("{oops")
    with pytest.raises(ValueError, match=r"tokenizer_config\.json is not valid JSON"):
        ChatCodec.from_folder(folder)
    (folder / "tokenizer_config.json").write_text("{}")
    (folder / "chat_template.jinja").write_text("{% for m in messages %}{{ m.content }")
    with pytest.raises(ValueError, match=r"chat_template\.jinja: the chat template does not compile"):
        ChatCodec.from_folder(folder)


@pytest.mark.parametrize("name", ["config.json", "generation_config.json", "tokenizer_config.json",
                                  "model.safetensors.index.json"])
def test_json_nested_past_the_stack_is_a_one_line_error(name, sharded, tmp_path, capsys):
    """Each file of a model folder nested 100,000 deep: `axk1 serve` and `axk1 generate` ended in a RecursionError
    traceback; now the one-line error that names the file, as for any broken JSON."""
    from axk1.text.tokenizer_file import write_tokenizer_files
    from tests.serve_helpers import train_tokenizer

    write_tokenizer_files(sharded, train_tokenizer(tiny_model_config().vocab_size).to_str(), model_max_length=64)
    (sharded / "generation_config.json").write_text("{}")
    (sharded / name).write_text("[" * 100_000 + "]" * 100_000)
    assert main(["serve", str(sharded), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{sharded / name}" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("args", [["--cache-tokens", "99999999999999"], ["--block-size", "1000000000"],
                                  ["--threads", "-5"], ["config", "1000000000000"]])
def test_a_cache_no_machine_holds_is_an_argument_error(args, folder, capsys):
    """A cache pool of 44 million GiB (or a config.json whose context needs one) ended `axk1 serve` in the
    allocator's RuntimeError traceback; a negative --threads in torch's."""
    if args[0] == "config":
        raw = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**raw, "max_position_embeddings": int(args[1])}))
        args = []
    try:
        code = main(["serve", str(folder), "--port", "0", *args])
    except SystemExit as e:  # argparse's own refusal
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("cannot be allocated" in err or "--threads" in err or not args), err
    if not args:  # the config's context is refused when config.json is read, before any cache is sized
        assert "ModelConfig.max_position_embeddings is 1,000,000,000,000 tokens, past the most axk1 takes" in err
    if "cannot be allocated" in err:
        assert "--cache-tokens" in err and "--max-model-len" in err


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_weights_that_are_not_finite_are_refused_by_name(value, folder):
    """An lm_head of NaN loaded and generated empty text, from `generate` and the server alike, with no word."""
    from safetensors.torch import load_file

    tensors = load_file(folder / "model.safetensors")
    tensors["lm_head.weight"][3, 5] = value
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"tensor 'lm_head.weight' .* holds 1 NaN or infinite values"):
        axk1.load_model(folder)


def test_a_single_file_beside_an_index_of_other_shards_is_refused(tmp_path):
    """A folder holding model.safetensors and an index of other shards loaded the index's weights in axk1 (as vLLM
    does) and the single file's in transformers: two loaders ran two models from one folder without a word."""
    from transformers import AXK1ForCausalLM as HFModel

    from tests.hf_reference import hf_config, random_hf_model

    both = tmp_path / "both"
    random_hf_model(hf_config(), seed=2).save_pretrained(both, max_shard_size="100KB")
    single = random_hf_model(hf_config(), seed=1)
    single.save_pretrained(tmp_path / "single")
    shutil.copy(tmp_path / "single" / "model.safetensors", both)
    ids = torch.randint(3, 384, (1, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # transformers takes the single file (its rule, not ours): why the folder is ambiguous
        torch.testing.assert_close(HFModel.from_pretrained(both, dtype=torch.float32).eval()(ids).logits,
                                   single(ids).logits)
    with pytest.raises(ValueError, match=r"holds both model.safetensors and model.safetensors.index.json naming "
                                         r"other files: transformers loads model.safetensors, axk1 and vLLM the "
                                         r"index's shards.*delete whichever is not the model"):
        axk1.load_model(both)
    # an index that names model.safetensors alone is the same model to every loader
    os.remove(both / "model.safetensors.index.json")
    for shard in both.glob("model-*.safetensors"):
        shard.unlink()
    (both / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        k: "model.safetensors" for k in safe_open(str(both / "model.safetensors"), "pt").keys()}}))
    with torch.no_grad():
        torch.testing.assert_close(axk1.load_model(both, dtype=torch.float32)(ids), single(ids).logits)


def test_fp8_weights_are_refused_by_name_not_a_traceback(folder, capsys):
    """An FP8 checkpoint's F8_E4M3 tensors passed the dtype check as "floating" and crashed the NaN check with
    NotImplementedError ("isfinite" not implemented for 'Float8_e4m3fn'); past it they would have loaded without
    their scales."""
    from safetensors.torch import load_file

    tensors = load_file(folder / "model.safetensors")
    name = "model.layers.1.self_attn.q_a_proj.weight"
    tensors[name] = tensors[name].to(torch.float8_e4m3fn)
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    err = cli_error(["generate", str(folder), "--prompt-ids", "5 6 7", "--max-new-tokens", "2"], capsys)
    assert f"tensor '{name}' is stored as F8_E4M3, a quantized format" in err
    assert "model.safetensors" in err and "dequantize the model to bfloat16 first" in err


def test_a_quantization_config_is_refused_whatever_the_dtypes(folder, capsys):
    """config.json's quantization_config says the values need scales (block FP8, GPTQ, ...) that axk1 never applies:
    the weights would load as another model."""
    _edit_config(folder, quantization_config={"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]})
    err = cli_error(["generate", str(folder), "--prompt-ids", "5 6 7", "--max-new-tokens", "2"], capsys)
    assert "config.json: its quantization_config ('fp8') says the weights are quantized" in err
    assert "dequantize the model to bfloat16 first" in err


def test_a_layer_past_the_mtp_layers_is_an_unexpected_tensor(folder):
    """Layer 99 of a 3-layer model with one MTP layer was skipped as an MTP weight on a load without MTP."""
    config = ModelConfig.from_pretrained(folder)
    past = f"model.layers.{config.num_hidden_layers + config.num_nextn_predict_layers + 95}.input_layernorm.weight"
    main = _tensors(folder / "model.safetensors")
    main[past] = torch.ones(config.hidden_size)
    save_file(main, str(folder / "model.safetensors"), metadata={"format": "pt"})
    for with_mtp in (False, True):
        with pytest.raises(ValueError, match=rf"unexpected tensor '{past}'"):
            axk1.load_model(folder, with_mtp=with_mtp)


@pytest.mark.parametrize("target", ["/nonexistent/x", "model.safetensors"])  # dangling; a loop of one link
def test_a_broken_symlink_for_the_weights_is_named_with_its_target(target, folder, capsys):
    (folder / "model.safetensors").unlink()
    os.symlink(target, folder / "model.safetensors")
    with pytest.raises(FileNotFoundError, match=rf"model\.safetensors is a broken symlink \(-> {target}\)"):
        axk1.load_model(folder)
    err = cli_error(["generate", str(folder), "--prompt-ids", "1 5", "--max-new-tokens", "1", "--device", "cpu"],
                    capsys)
    assert "broken symlink" in err and "convert .bin/.pt" not in err


def test_a_folder_named_tokenizer_json_is_not_a_regular_file(folder):
    from axk1.text.tokenizer_file import load_tokenizer, tokenizer_hash

    (folder / "tokenizer.json").mkdir()
    for read in (load_tokenizer, tokenizer_hash):
        for path in (folder, folder / "tokenizer.json"):
            with pytest.raises(ValueError, match=r"tokenizer\.json is not a regular file"):
                read(path)
