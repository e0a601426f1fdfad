import json
import math
import re
import shutil
import weakref
from pathlib import Path

import pytest
import safetensors.torch
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import axk1
from axk1 import AXK1ForCausalLM
from axk1.checkpoint.merge import merge_folders

SIDE_FILES = {  # what a released folder carries besides the weights; merely copied, so any content will do
    "tokenizer.json": '{"version": "1.0", "model": {"type": "BPE"}}\n',
    "tokenizer_config.json": '{"eos_token": "<|im_end|>"}\n',
    "special_tokens_map.json": '{"eos_token": "<|im_end|>"}\n',
    "generation_config.json": '{"temperature": 0.6}\n',
    "chat_template.jinja": "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>{% endfor %}\n",
}


def _model(config, seed, with_mtp=True):
    torch.manual_seed(seed)
    model = AXK1ForCausalLM(config, with_mtp=with_mtp)
    with torch.no_grad():  # a non-zero routing bias, so that the float32 buffer is really averaged too
        for name, buffer in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                buffer.normal_()
    return model


def _tensors(folder):
    out = {}
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), "pt") as f:
            out.update({k: f.get_tensor(k) for k in f.keys()})
    return out


def _rewrite(file, edit):
    tensors = dict(safetensors.torch.load_file(str(file)))
    edit(tensors)
    save_file(tensors, str(file), metadata={"format": "pt"})


@pytest.fixture
def pair(tmp_path, tiny_config):
    """A: sharded (64KB shards) with the tokenizer files; B: one file. Both float32, both with MTP."""
    model_a, model_b = _model(tiny_config, 1), _model(tiny_config, 2)
    axk1.save_pretrained(model_a, tmp_path / "a", max_shard_size="64KB")
    axk1.save_pretrained(model_b, tmp_path / "b")
    for name, text in SIDE_FILES.items():
        (tmp_path / "a" / name).write_text(text)
    return model_a, model_b, tmp_path / "a", tmp_path / "b"


def _close_to_average(out, a, b, alpha, rel):
    """|out − (α·a + (1−α)·b)| within `rel` of the terms' size, the reference in float64."""
    ref = alpha * a.double() + (1 - alpha) * b.double()
    bound = rel * (a.double().abs() + b.double().abs()) + 1e-30
    return bool(((out.double() - ref).abs() <= bound).all())


def test_every_tensor_is_the_weighted_average_in_a_layout(pair, tmp_path, capsys):
    _, _, a, b = pair
    summary = merge_folders(a, b, tmp_path / "out", alpha=0.8)
    assert "merge: 100%" in capsys.readouterr().err  # the progress bar, over tensors
    out = tmp_path / "out"
    tensors_a, tensors_b, merged = _tensors(a), _tensors(b), _tensors(out)
    assert merged.keys() == tensors_a.keys() and len(merged) > 50
    for name, t in merged.items():
        assert t.dtype == tensors_a[name].dtype and t.shape == tensors_a[name].shape, name
        # float32: at most a few roundings of the terms (2^-23 each)
        assert _close_to_average(t, tensors_a[name], tensors_b[name], 0.8, rel=4e-7), name
    assert not torch.equal(merged["lm_head.weight"], tensors_a["lm_head.weight"])

    index_a = json.loads((a / "model.safetensors.index.json").read_text())
    index_out = json.loads((out / "model.safetensors.index.json").read_text())
    assert index_out["weight_map"] == index_a["weight_map"] and len(set(index_a["weight_map"].values())) > 3
    assert sorted(p.name for p in out.glob("*.safetensors")) == sorted(p.name for p in a.glob("*.safetensors"))
    main = {k: v for k, v in merged.items() if k in index_a["weight_map"]}
    assert index_out["metadata"]["total_size"] == sum(t.numel() * t.element_size() for t in main.values())
    assert summary["tensors_merged"] == len(merged) and summary["tensors_copied"] == 0
    assert summary["bytes_written"] == sum(p.stat().st_size for p in out.glob("*.safetensors"))
    record = json.loads((out / "merge.json").read_text())
    assert record["alpha"] == 0.8 and record["tensors"] == len(merged)
    assert record["a"] == str(a.resolve()) and record["b"] == str(b.resolve())


def test_merged_folder_loads_with_the_logits_of_an_in_memory_merge(pair, tmp_path, tiny_config):
    model_a, model_b, a, b = pair
    merge_folders(a, b, tmp_path / "out", alpha=0.8, progress=False)
    loaded = axk1.load_model(tmp_path / "out")
    assert loaded.mtp is not None  # mtp.safetensors was merged and written too

    sd_a, sd_b = model_a.state_dict(), model_b.state_dict()
    reference = AXK1ForCausalLM(tiny_config, with_mtp=True)
    reference.load_state_dict({k: 0.8 * v.float() + 0.2 * sd_b[k].float() if v.is_floating_point() else v
                               for k, v in sd_a.items()})
    reference.eval()
    ids = torch.randint(0, tiny_config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():  # one pass each: the logits (forward's, from the hidden states) and the MTP head's
        (h_loaded, rope), (h_ref, _) = loaded.hidden_states(ids), reference.hidden_states(ids)
        torch.testing.assert_close(loaded.lm_head(loaded.model.norm(h_loaded)),
                                   reference.lm_head(reference.model.norm(h_ref)))
        torch.testing.assert_close(loaded.lm_head(loaded.mtp_hidden_states(h_loaded, ids, rope)[0]),
                                   reference.lm_head(reference.mtp_hidden_states(h_ref, ids, rope)[0]))
    assert (loaded.lm_head.weight - model_a.lm_head.weight).abs().max() > 1e-3  # the merge is not A


def test_alpha_one_reproduces_a_and_zero_reproduces_b_exactly(pair, tmp_path):
    _, _, a, b = pair
    tensors_a, tensors_b = _tensors(a), _tensors(b)
    for alpha, expected in ((1.0, tensors_a), (0, tensors_b)):
        merge_folders(a, b, tmp_path / f"out{alpha}", alpha=alpha, progress=False)
        merged = _tensors(tmp_path / f"out{alpha}")
        assert merged.keys() == expected.keys()
        assert all(torch.equal(merged[k], expected[k]) for k in merged)


def test_non_weight_files_are_copied_and_stray_weights_are_not(pair, tmp_path):
    _, _, a, b = pair
    (a / "pytorch_model.bin").write_bytes(b"unmerged weights")  # must not ride along into the merge
    (a / "original").mkdir()
    # OUT takes A's files (B's tokenizer.json names the same tokens, or the merge is refused: below)
    (b / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE"}, "note": "B\'s"}\n')
    (a / "notes.txt").write_text("not for upload")  # no file of a model folder: named, never copied
    (a / "id_ed25519").write_text("a key")
    summary = merge_folders(a, b, tmp_path / "out", alpha=0.8, progress=False)
    out = tmp_path / "out"
    for name in SIDE_FILES:
        assert (out / name).read_bytes() == (a / name).read_bytes(), name
    assert json.loads((out / "config.json").read_text()) == json.loads((a / "config.json").read_text())
    assert not (out / "pytorch_model.bin").exists() and not (out / "original").exists()
    assert not (out / "notes.txt").exists() and not (out / "id_ed25519").exists()
    assert sorted(summary["skipped"]) == ["id_ed25519", "notes.txt", "original", "pytorch_model.bin"]
    assert json.loads((out / "merge.json").read_text())["skipped"] == summary["skipped"]


def test_a_side_file_linking_outside_a_is_refused_and_a_hub_caches_links_are_copied(pair, tmp_path):
    """A README.md linking to a private key was copied into the merge, as a regular file, for upload. A Hugging
    Face cache's snapshot links every file into the repo's blobs/: those are copied as the files they are."""
    _, _, a, b = pair
    (tmp_path / "secret").write_text("PRIVATE KEY")
    (a / "README.md").symlink_to(tmp_path / "secret")
    with pytest.raises(ValueError, match=r"README\.md is a symlink to .*secret, outside .*a: the merge would copy"):
        merge_folders(a, b, tmp_path / "out", alpha=0.8, progress=False)
    assert not (tmp_path / "out").exists()
    (a / "README.md").unlink()

    snapshot = tmp_path / "models--org--a" / "snapshots" / "0123abc"
    (tmp_path / "models--org--a" / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for path in a.iterdir():  # every file a link into ../../blobs/, as huggingface_hub lays a snapshot out
        blob = tmp_path / "models--org--a" / "blobs" / f"sha-{path.name}"
        shutil.move(path, blob)
        (snapshot / path.name).symlink_to(Path("..") / ".." / "blobs" / blob.name)
    merge_folders(snapshot, b, tmp_path / "out", alpha=0.8, progress=False)
    for name, text in SIDE_FILES.items():
        assert not (tmp_path / "out" / name).is_symlink() and (tmp_path / "out" / name).read_text() == text


def test_bfloat16_inputs_stay_bfloat16(tmp_path, tiny_config):
    for name, seed in (("a", 1), ("b", 2)):
        axk1.save_pretrained(_model(tiny_config, seed, with_mtp=False), tmp_path / name, dtype=torch.bfloat16)
    merge_folders(tmp_path / "a", tmp_path / "b", tmp_path / "out", alpha=0.8, progress=False)
    tensors_a, tensors_b, merged = _tensors(tmp_path / "a"), _tensors(tmp_path / "b"), _tensors(tmp_path / "out")
    assert merged["lm_head.weight"].dtype == torch.bfloat16
    for name, t in merged.items():
        assert t.dtype == tensors_a[name].dtype, name  # the router bias stays float32, as saved
        # one rounding to bfloat16 (2^-9 relative) of a float32 sum
        rel = 2.0**-8 if t.dtype == torch.bfloat16 else 4e-7
        assert _close_to_average(t, tensors_a[name], tensors_b[name], 0.8, rel=rel), name
    assert axk1.load_model(tmp_path / "out").lm_head.weight.dtype == torch.bfloat16


def _config_edit(folder, **changes):
    raw = json.loads((folder / "config.json").read_text())
    raw.update(changes)
    (folder / "config.json").write_text(json.dumps(raw))


def _put(file, name, tensor):
    _rewrite(file, lambda t: t.__setitem__(name, tensor))


def _drop(file, name):
    _rewrite(file, lambda t: t.pop(name))


def _counters(a, b, value_a, value_b):
    """An integer buffer in A's first shard and in B."""
    _put(next(a.glob("model-00001-of-*.safetensors")), "model.counter", torch.tensor([value_a, 1]))
    _put(b / "model.safetensors", "model.counter", torch.tensor([value_b, 1]))


REFUSALS = {
    "config value": (lambda a, b: _config_edit(b, routed_scaling_factor=9.5),
                     r"config\.json files differ in routed_scaling_factor: A=2\.5, B=9\.5"),
    "missing tensor": (lambda a, b: _drop(b / "model.safetensors", "model.layers.2.mlp.experts.5.up_proj.weight"),
                       r"tensor sets differ; only in A: model\.layers\.2\.mlp\.experts\.5\.up_proj\.weight"),
    "extra tensor": (lambda a, b: _put(b / "model.safetensors", "model.layers.1.mlp.mystery.weight", torch.zeros(2)),
                     r"only in B: model\.layers\.1\.mlp\.mystery\.weight"),
    "no mtp in B": (lambda a, b: (b / "mtp.safetensors").unlink(), r"only one folder has mtp\.safetensors.*only in A"),
    "shape": (lambda a, b: _put(b / "model.safetensors", "model.layers.1.self_attn.kv_b_proj.weight",
                                torch.zeros(3, 3)),
              r"tensor 'model\.layers\.1\.self_attn\.kv_b_proj\.weight' has shape \(\d+, \d+\) in A "
              r"but \(3, 3\) in B"),
    "dtype": (lambda a, b: _put(b / "model.safetensors", "model.norm.weight", torch.ones(64, dtype=torch.bfloat16)),
              r"tensor 'model\.norm\.weight' is F32 in A but BF16 in B"),
    "integer buffer": (lambda a, b: _counters(a, b, 1, 2), r"integer tensor 'model\.counter' differs"),
    "no weights": (lambda a, b: (b / "model.safetensors").rename(b / "pytorch_model.bin"),
                   r"input B: no model\.safetensors.*safetensors only"),
    "no config": (lambda a, b: (a / "config.json").unlink(), r"input A: .* has no config\.json"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_name_the_difference_and_write_nothing(case, pair, tmp_path):
    _, _, a, b = pair
    edit, message = REFUSALS[case]
    edit(a, b)
    with pytest.raises(ValueError, match=message):
        merge_folders(a, b, tmp_path / "out", alpha=0.8, progress=False)
    assert not (tmp_path / "out").exists()


def test_refusals_of_arguments(pair, tmp_path):
    _, _, a, b = pair
    for alpha in (1.5, -0.1, math.nan, True):
        with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\]"):
            merge_folders(a, b, tmp_path / "out", alpha=alpha, progress=False)
    with pytest.raises(ValueError, match=r"is input A: write the merge to a new folder"):
        merge_folders(a, b, a, alpha=0.8, progress=False)
    with pytest.raises(ValueError, match=r"is input B"):
        merge_folders(a, b, tmp_path / "x" / ".." / "b", alpha=0.8, progress=False)
    with pytest.raises(ValueError, match=r"input B: .*nowhere does not exist: give a model folder"):
        merge_folders(a, tmp_path / "nowhere", tmp_path / "out", alpha=0.8, progress=False)
    assert not (tmp_path / "out").exists()


def test_bookkeeping_config_keys_are_ignored_and_equal_integer_buffers_copied(pair, tmp_path):
    _, _, a, b = pair
    _config_edit(b, _name_or_path="/somewhere/else", transformers_version="0.0.1")
    _counters(a, b, 7, 7)
    summary = merge_folders(a, b, tmp_path / "out", alpha=0.8, progress=False)
    assert summary["tensors_copied"] == 1
    assert torch.equal(_tensors(tmp_path / "out")["model.counter"], torch.tensor([7, 1]))


def test_streams_one_tensor_per_input(pair, tmp_path, monkeypatch):
    """A load-everything merge (load_file, or get_tensor over a whole file before combining) fails here."""
    _, _, a, b = pair

    def refuse(*args, **kwargs):
        raise AssertionError("merge loaded a whole safetensors file")

    monkeypatch.setattr(safetensors.torch, "load_file", refuse)
    monkeypatch.setattr(safetensors.torch, "load", refuse)
    alive: list[weakref.ref] = []
    most = [0]

    class Tracked:  # safe_open whose tensors are counted while they live
        def __init__(self, *args, **kwargs):
            self._inner = safe_open(*args, **kwargs)

        def __enter__(self):
            self._f = self._inner.__enter__()
            return self

        def __exit__(self, *exc):
            return self._inner.__exit__(*exc)

        def __getattr__(self, name):
            return getattr(self._f, name)

        def get_tensor(self, name):
            tensor = self._f.get_tensor(name)
            alive.append(weakref.ref(tensor))
            most[0] = max(most[0], sum(r() is not None for r in alive))
            return tensor

    monkeypatch.setattr("axk1.checkpoint.folder.safe_open", Tracked)  # merge opens files through folder.py
    summary = merge_folders(a, b, tmp_path / "out", alpha=0.8, progress=False)
    assert len(alive) == 2 * summary["tensors_merged"] > 100  # every tensor read once from each input
    assert most[0] <= 2  # one from A, one from B


def _without_bias(src, dst):
    """`src` (sharded, with an index) as the release stores it: no routing bias."""
    shutil.copytree(src, dst)
    for file in dst.glob("model-*.safetensors"):
        _rewrite(file, lambda t: [t.pop(k) for k in list(t) if k.endswith("e_score_correction_bias")])
    index = json.loads((dst / "model.safetensors.index.json").read_text())
    index["weight_map"] = {k: v for k, v in index["weight_map"].items() if not k.endswith("e_score_correction_bias")}
    (dst / "model.safetensors.index.json").write_text(json.dumps(index))
    return dst


def test_one_model_saved_by_transformers_and_by_axk1_merges(tmp_path):
    """A transformers-saved folder and the same weights re-saved by axk1 (as sft/export write them) were refused:
    their config.json files spell one config differently (head_dim, use_cache, attention_dropout, ... on one side;
    scoring_func, topk_method, ... on the other), and a routing bias absent from one (the release's layout) counted
    as a differing tensor set, though every loader reads it as zeros."""
    from tests.hf_reference import hf_config, random_hf_model

    hf = random_hf_model(hf_config(), seed=4)
    hf.save_pretrained(tmp_path / "t", max_shard_size="100KB")
    axk1.save_pretrained(axk1.load_model(tmp_path / "t", dtype=torch.float32), tmp_path / "x")
    assert json.loads((tmp_path / "t" / "config.json").read_text()) != json.loads((tmp_path / "x" / "config.json")
                                                                                   .read_text())
    merge_folders(tmp_path / "t", tmp_path / "x", tmp_path / "same", alpha=0.8, progress=False)
    ids = torch.randint(3, 384, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(axk1.load_model(tmp_path / "same", dtype=torch.float32)(ids), hf(ids).logits)
    # the release's layout (no bias) against a folder with one, either way round: averaged with zeros
    released = _without_bias(tmp_path / "t", tmp_path / "r")
    biases = {k: t for k, t in _tensors(tmp_path / "x").items() if k.endswith("e_score_correction_bias")}
    assert biases and all(t.abs().max() > 0 for t in biases.values())
    for a, b, weight in ((released, tmp_path / "x", 0.2), (tmp_path / "x", released, 0.8)):
        out = tmp_path / f"out-{a.name}"
        merge_folders(a, b, out, alpha=0.8, progress=False)
        merged = _tensors(out)
        for name, t in biases.items():
            torch.testing.assert_close(merged[name], weight * t)
        loaded = axk1.load_model(out, dtype=torch.float32).state_dict()  # the index names the biases A lacked
        for name, t in biases.items():
            torch.testing.assert_close(loaded[name], weight * t)


def test_tokenizers_whose_ids_name_other_tokens_are_refused_and_other_differences_said(pair, tmp_path, capsys,
                                                                                     tiny_config):
    """`axk1 merge A D` merged two models whose tokenizer.json mapped ids to other tokens, silently, taking A's
    tokenizer: an averaged embedding row then mixes two tokens. Only configs and tensors were compared."""
    from axk1.cli import main
    from axk1.text.tokenizer_file import write_tokenizer_files
    from tests.serve_helpers import train_tokenizer

    _, _, a, b = pair
    text = train_tokenizer(tiny_config.vocab_size).to_str()
    write_tokenizer_files(a, text)
    write_tokenizer_files(b, text)
    swapped = json.loads(text)
    vocab = swapped["model"]["vocab"]
    first, second = sorted((t for t in vocab if vocab[t] > 3), key=vocab.get)[:2]  # two ordinary tokens' ids
    vocab[first], vocab[second] = vocab[second], vocab[first]
    (b / "tokenizer.json").write_text(json.dumps(swapped))
    with pytest.raises(ValueError, match=re.escape(f"tokenizers differ (2 token ids; the first, id {vocab[second]}, "
                                                   f"is {first!r} in A but {second!r} in B)")):
        merge_folders(a, b, tmp_path / "out", alpha=0.8, progress=False)
    assert not (tmp_path / "out").exists()
    # the same tokens with another chat template: merged, and said last on stderr
    write_tokenizer_files(b, text, chat_template="{{ messages[0].content }}")
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "warning: the chat templates of A and B differ" in err, err
    assert json.loads((tmp_path / "out" / "merge.json").read_text())["warnings"] == [err.split("warning: ")[1].strip()]
    # A without a tokenizer, B with one: the output has none, and says so
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (a / name).unlink()
    summary = merge_folders(a, b, tmp_path / "out2", alpha=0.8, progress=False)
    assert len(summary["warnings"]) == 1 and "has no tokenizer.json and B has one" in summary["warnings"][0]
    assert not (tmp_path / "out2" / "tokenizer.json").exists()


@pytest.mark.parametrize("broken, wrong", [({"model": "bpe"}, "model"), ({"model": {"vocab": 3}}, "model.vocab"),
                                           ({"model": {"vocab": {"a": [1]}}}, "model.vocab"),
                                           ({"model": {"vocab": {}}, "added_tokens": {}}, "added_tokens")])
def test_a_malformed_tokenizer_json_is_refused_by_name(pair, tmp_path, capsys, broken, wrong):
    """`{"model": "bpe"}` in B's tokenizer.json ended `axk1 merge` in an AttributeError's traceback."""
    from axk1.cli import main

    _, _, a, b = pair
    (a / "tokenizer.json").write_text('{"model": {"vocab": {"a": 0}}}')
    (b / "tokenizer.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=re.escape(f"merge input B: {b / 'tokenizer.json'} is not a tokenizer.json: "
                                                   f"its {wrong} is not")):
        merge_folders(a, b, tmp_path / "out", alpha=0.5, progress=False)
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "is not a tokenizer.json" in err, err
    assert not (tmp_path / "out").exists()


def test_named_chat_templates_are_compared_by_their_default(pair, tmp_path):
    """tokenizer_config.json's list of named templates (transformers' older form) read as no template, so two
    folders whose default templates differ merged without the warning a plain string gets."""
    _, _, a, b = pair
    (a / "chat_template.jinja").unlink()
    for folder, text in ((a, "{{ 'A' }}"), (b, "{{ 'B' }}")):
        named = [{"name": "tool_use", "template": "{{ 'tools' }}"}, {"name": "default", "template": text}]
        (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": named}))
    summary = merge_folders(a, b, tmp_path / "out", alpha=0.5, progress=False)
    assert any("chat templates of A and B differ" in w for w in summary["warnings"]), summary["warnings"]
    (b / "tokenizer_config.json").write_text("[1, 2]")  # not an object: named, where it was read as no template
    with pytest.raises(ValueError, match=re.escape(f"merge input B: {b / 'tokenizer_config.json'} must be a JSON "
                                                   "object")):
        merge_folders(a, b, tmp_path / "out2", alpha=0.5, progress=False)
