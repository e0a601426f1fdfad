"""Hostile model folders and training checkpoints: each is refused with one clear error, nothing runs, nothing
half-written is left, and real folders still load (3, tied embeddings: test_tied_embeddings.py)."""

import json
import os
import pickle
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import axk1
from axk1 import AXK1ForCausalLM, ModelConfig
from axk1.checkpoint.dcp import load_checkpoint
from axk1.checkpoint.export import export_checkpoint
from axk1.checkpoint.merge import merge_folders
from axk1.cli import main
from axk1.infer.chat import ChatCodec
from tests.train_helpers import one_step_checkpoint


def _tiny(**changes):
    return ModelConfig.from_preset("axk1-tiny").replace(**changes)


@pytest.fixture
def folder(tmp_path):
    model = AXK1ForCausalLM(_tiny(), with_mtp=True)
    return axk1.save_pretrained(model, tmp_path / "m")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A trained-for-one-step DCP checkpoint, as the trainer writes it (the loss module holds the LM as `lm`)."""
    return one_step_checkpoint(tmp_path_factory.mktemp("ckpt"), _tiny(), with_mtp=True)


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _without_checksums(ckpt):
    """`ckpt` as written before checksums were saved (or by a forger who rewrote train_state.json too): the export
    reads it with no CRC-32 check first, so the guards behind that check are what meets its damage."""
    state = json.loads((ckpt / "train_state.json").read_text())
    (ckpt / "train_state.json").write_text(json.dumps({k: v for k, v in state.items() if k != "crc32"}))
    return ckpt


def _edit_config(folder, **changes):
    raw = json.loads((folder / "config.json").read_text())
    raw.update(changes)
    (folder / "config.json").write_text(json.dumps(raw))


def _cli_error(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


# ---- 1: DCP metadata is never unpickled with plain pickle -------------------------------------------------------

class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_hostile_dcp_metadata_is_refused_without_running(checkpoint, tmp_path, capsys):
    evil = _copy(checkpoint, tmp_path / "evil" / "step-000001")
    marker = tmp_path / "pwned"
    (evil / ".metadata").write_bytes(pickle.dumps(_Payload(marker)))
    assert "CRC-32" in _cli_error(["export", str(evil), str(tmp_path / "out")], capsys)  # its checksum, first
    err = _cli_error(["export", str(_without_checksums(evil)), str(tmp_path / "out")], capsys)
    assert ".metadata refers to posix.system" in err and "refusing to unpickle" in err
    assert not marker.exists() and not (tmp_path / "out").exists()
    holder = torch.nn.Module()
    holder.lm = AXK1ForCausalLM(_tiny(), with_mtp=True)
    with pytest.raises(ValueError, match="refusing to unpickle"):  # --resume's path (with an optimizer)
        load_checkpoint(evil, holder, torch.optim.AdamW(holder.parameters()))
    assert not marker.exists()


def test_real_checkpoint_exports_and_resumes(checkpoint, tmp_path):
    out = export_checkpoint(checkpoint, tmp_path / "out", keep_mtp=True)
    loaded = axk1.load_model(out)
    holder = torch.nn.Module()
    holder.lm = AXK1ForCausalLM(_tiny(), with_mtp=True)
    state = load_checkpoint(checkpoint, holder, torch.optim.AdamW(holder.parameters()))
    assert state["mtp_depth"] == 1
    torch.testing.assert_close(loaded.model.embed_tokens.weight, holder.lm.model.embed_tokens.weight)


@pytest.mark.parametrize("damage", ["truncate distcp", "delete distcp", "truncate metadata", "no model_config",
                                    "storage path escapes"])
def test_corrupt_checkpoint_is_a_one_line_error(damage, checkpoint, tmp_path, capsys):
    ckpt = _without_checksums(_copy(checkpoint, tmp_path / "c" / "step-000001"))  # the checks behind the CRC-32s
    distcp, metadata = ckpt / "__0_0.distcp", ckpt / ".metadata"
    if damage == "truncate distcp":
        distcp.write_bytes(distcp.read_bytes()[:1000])
    elif damage == "delete distcp":
        distcp.unlink()
    elif damage == "truncate metadata":
        metadata.write_bytes(metadata.read_bytes()[:500])
    elif damage == "no model_config":
        (ckpt / "train_state.json").write_text(json.dumps({"step": 1}))
    else:  # an entry pointing outside the folder: read relative to it, torch would follow it
        md = pickle.loads(metadata.read_bytes())
        next(iter(md.storage_data.values())).relative_path = "../../secret.distcp"
        metadata.write_bytes(pickle.dumps(md))
    err = _cli_error(["export", str(ckpt), str(tmp_path / "out")], capsys)
    assert "corrupt or incomplete checkpoint" in err
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_checkpoint_whose_bytes_changed_in_place(checkpoint, tmp_path, capsys):
    """Four bytes of the embedding overwritten in place (same size, so every other check passes): `--resume` refused
    it by the CRC-32s the save recorded, while `axk1 export` wrote a model holding a NaN, exit 0. It checks them
    too, before it reads a tensor, and names the file."""
    from axk1.checkpoint.dcp_safe import read_metadata

    ckpt = _copy(checkpoint, tmp_path / "c" / "step-000001")
    item = next(v for k, v in read_metadata(ckpt).storage_data.items() if "embed_tokens" in k.fqn)
    with open(ckpt / item.relative_path, "r+b") as f:
        f.seek(item.offset + item.length // 2)
        f.write(b"\xff\xff\xff\x7f")  # a NaN in float32
    err = _cli_error(["export", str(ckpt), str(tmp_path / "out")], capsys)
    assert (f"{ckpt / item.relative_path}: corrupt or incomplete checkpoint (CRC-32 " in err
            and "its bytes changed after the save" in err)
    assert not (tmp_path / "out").exists()


# ---- 2: the index names only plain, regular files -----------------------------------------------------------------

@pytest.fixture
def sharded(tmp_path):
    model = AXK1ForCausalLM(_tiny(), with_mtp=False)
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
    err = _cli_error(["generate", str(folder), "--prompt", "1 2", "--max-new-tokens", "1"], capsys)
    assert "config.json" in err


@pytest.mark.parametrize("factor", [1e308, 1e20, 0.5])
def test_a_yarn_factor_past_the_export_bound_is_refused_naming_the_file(factor, folder, capsys):
    """1e308 x the original length overflowed context_length to infinity (a traceback) and 1e20 claimed a 1e23-token
    context: a config.json read takes the factors `axk1 export --yarn` may write, no more."""
    _edit_config(folder, rope_parameters=None, rope_scaling={"type": "yarn", "factor": factor,
                                                             "original_max_position_embeddings": 64})
    err = _cli_error(["generate", str(folder), "--prompt", "1 2", "--max-new-tokens", "1"], capsys)
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
    err = _cli_error(["generate", str(folder), "--prompt", "hello", "--max-new-tokens", "1"], capsys)
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


# ---- 7, 9: output folders -----------------------------------------------------------------------------------------

def test_export_replaces_an_earlier_model_entirely(checkpoint, folder):
    for stale in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "pytorch_model.bin"):
        (folder / stale).write_text("from another model")
    export_checkpoint(checkpoint, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]


def test_a_re_export_keeps_the_model_card_and_sampling_defaults_it_does_not_write(checkpoint, folder, capsys):
    """A hand-written README.md and generation_config.json were deleted with the earlier weights, silently: an export
    writes neither (without a tokenizer folder holding one), so they are carried over, and a note says so."""
    (folder / "README.md").write_text("# my model card\n")
    (folder / "generation_config.json").write_text('{"temperature": 0.6}\n')
    assert main(["export", str(checkpoint), str(folder), "--max-shard-size", "40KB"]) == 0
    assert (folder / "README.md").read_text() == "# my model card\n"
    assert json.loads((folder / "generation_config.json").read_text()) == {"temperature": 0.6}
    err = capsys.readouterr().err
    assert f"note: kept README.md and generation_config.json of the model that was in {folder}" in err
    assert main(["generate", str(folder), "--prompt", "1 2", "--max-new-tokens", "1"]) == 0  # and it loads


def test_a_re_export_refuses_a_folder_holding_a_gguf_of_the_old_weights(checkpoint, folder, capsys):
    """A GGUF conversion of the earlier weights was deleted unasked; kept, it would describe another model."""
    (folder / "model-Q4_K_M.gguf").write_bytes(b"GGUF")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    err = _cli_error(["export", str(checkpoint), str(folder)], capsys)
    assert f"the output folder {folder} holds model-Q4_K_M.gguf, a conversion of the model there" in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_export_refuses_a_folder_that_is_not_a_model_folder(checkpoint, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds notes.txt, which is not part of a model folder"):
        export_checkpoint(checkpoint, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_run_folder_given_as_a_model_names_where_the_model_is(checkpoint, folder, tmp_path, capsys):
    """`axk1 generate out/train` (a pretraining run) or `axk1 serve out/posttrain/rl` (an sft/rl run, whose model is
    in model/): the error says what to give instead, and following it works."""
    run = tmp_path / "train"
    _copy(checkpoint, run / "checkpoints" / checkpoint.name)
    err = _cli_error(["generate", str(run), "--prompt", "1 2"], capsys)
    assert f"holds training checkpoints, not a model: export them first (`axk1 export {run / 'checkpoints'} DIR" in err
    err = _cli_error(["export", str(run), str(tmp_path / "model")], capsys)  # the run, not its checkpoints
    assert f"its checkpoints are in {run / 'checkpoints'}: give that" in err
    assert "does not exist" in _cli_error(["export", str(run / "checkpoint"), str(tmp_path / "model")], capsys)
    assert main(["export", str(run / "checkpoints"), str(tmp_path / "model")]) == 0
    assert main(["generate", str(tmp_path / "model"), "--prompt", "1 2", "--max-new-tokens", "2"]) == 0
    capsys.readouterr()
    rl = tmp_path / "rl"
    _copy(folder, rl / "model")
    err = _cli_error(["serve", str(rl)], capsys)
    assert f"is a run folder: its model is {rl / 'model'}" in err


def test_merge_replaces_an_earlier_model_entirely(folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "tokenizer.json").write_text("from another model")
    merge_folders(folder, folder.parent / "m", out, 0.5, progress=False)
    assert not (out / "tokenizer.json").exists()


def test_bad_tokenizer_is_refused_before_export_writes(checkpoint, tmp_path):
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_text("not json")
    with pytest.raises(ValueError, match="is not a readable tokenizer"):
        export_checkpoint(checkpoint, tmp_path / "out", tokenizer=tmp_path / "tok")
    assert not (tmp_path / "out").exists()


def test_weight_files_get_the_umask_permissions(folder, tmp_path):
    previous = os.umask(0o022)
    try:
        out = axk1.save_pretrained(AXK1ForCausalLM(_tiny(), with_mtp=True), tmp_path / "p", max_shard_size="64KB")
        merged = tmp_path / "merged"
        merge_folders(out, out, merged, 0.5, progress=False)
    finally:
        os.umask(previous)
    for file in [*out.glob("*.safetensors"), *merged.glob("*.safetensors")]:
        assert file.stat().st_mode & 0o777 == 0o644, file


@pytest.mark.parametrize("name", ["config.json", "generation_config.json", "tokenizer_config.json",
                                  "model.safetensors.index.json"])
def test_json_nested_past_the_stack_is_a_one_line_error(name, sharded, tmp_path, capsys):
    """Each file of a model folder nested 100,000 deep: `axk1 serve` and `axk1 generate` ended in a RecursionError
    traceback; now the one-line error that names the file, as for any broken JSON."""
    from axk1.text.tokenizer_file import write_tokenizer_files
    from tests.serve_helpers import train_tokenizer

    write_tokenizer_files(sharded, train_tokenizer(_tiny().vocab_size).to_str(), model_max_length=64)
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
    assert "Traceback" not in err and ("cannot be allocated" in err or "--threads" in err), err
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
    err = _cli_error(["generate", str(folder), "--prompt-ids", "5 6 7", "--max-new-tokens", "2"], capsys)
    assert f"tensor '{name}' is stored as F8_E4M3, a quantized format" in err
    assert "model.safetensors" in err and "dequantize the model to bfloat16 first" in err


def test_a_quantization_config_is_refused_whatever_the_dtypes(folder, capsys):
    """config.json's quantization_config says the values need scales (block FP8, GPTQ, ...) that axk1 never applies:
    the weights would load as another model."""
    _edit_config(folder, quantization_config={"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]})
    err = _cli_error(["generate", str(folder), "--prompt-ids", "5 6 7", "--max-new-tokens", "2"], capsys)
    assert "config.json: its quantization_config ('fp8') says the weights are quantized" in err
    assert "dequantize the model to bfloat16 first" in err
