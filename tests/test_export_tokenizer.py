"""`export_checkpoint(ck, out, tokenizer=out)`: re-exporting into the folder that holds the tokenizer keeps it
(the export clears the folder before it writes, so the tokenizer files are read first)."""

import axk1
from axk1 import ModelConfig
from axk1.checkpoint.export import export_checkpoint
from tests.train_helpers import one_step_checkpoint


def _checkpoint(root):
    return one_step_checkpoint(root, ModelConfig.from_preset("axk1-tiny"), with_mtp=False)


def _tokenizer(folder, vocab=None):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    folder.mkdir(parents=True, exist_ok=True)
    Tokenizer(WordLevel(vocab or {"a": 0, "<unk>": 1}, unk_token="<unk>")).save(str(folder / "tokenizer.json"))
    (folder / "chat_template.jinja").write_text("{{ messages[0].content }}")


def test_export_into_the_tokenizer_folder_keeps_the_tokenizer(tmp_path):
    ck, out = _checkpoint(tmp_path / "ckpt"), tmp_path / "out"
    export_checkpoint(ck, out)
    _tokenizer(out)  # the model folder now holds the tokenizer too, as `axk1 data run` + a first export leave it
    want = {name: (out / name).read_bytes() for name in ("tokenizer.json", "chat_template.jinja")}
    for source in (out, out / "tokenizer.json"):
        path = export_checkpoint(ck, out, tokenizer=source)
        assert {name: (path / name).read_bytes() for name in want} == want
        assert sorted(p.name for p in path.iterdir()) == ["chat_template.jinja", "config.json", "model.safetensors",
                                                          "tokenizer.json", "tokenizer_config.json"]
    assert axk1.load_model(out) is not None


def test_export_gives_config_json_the_tokenizers_special_token_ids(tmp_path, caplog):
    # A run's config may name other ids than its tokenizer's (axk1-tiny: bos 1, pad 0; a planner's config: none; a
    # preset with A.X K1's eos 163691, an ordinary merge in an axk1 tokenizer): generate, serve and transformers stop
    # at config.json's eos, so such an export never stopped at <|im_end|>.
    import json

    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    from axk1.text.tokenizer_file import SPECIAL_TOKENS

    ck = _checkpoint(tmp_path / "ckpt")
    folder = tmp_path / "tok"
    folder.mkdir()
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + ["a", "<unk>"])}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    tokenizer.save(str(folder / "tokenizer.json"))
    path = export_checkpoint(ck, tmp_path / "out", tokenizer=folder)
    config = json.loads((path / "config.json").read_text())
    assert (config["bos_token_id"], config["eos_token_id"], config["pad_token_id"]) == (0, 2, 3)
    assert "bos_token_id = 0" in caplog.text and "pad_token_id = 3" in caplog.text
    assert axk1.load_model(path).config.eos_token_id == 2
    # a tokenizer without axk1's special tokens (A.X K1's own, or this word list) leaves config.json's ids alone
    _tokenizer(tmp_path / "plain")
    config = json.loads((export_checkpoint(ck, tmp_path / "out2", tokenizer=tmp_path / "plain") / "config.json")
                        .read_text())
    assert (config["bos_token_id"], config["eos_token_id"], config["pad_token_id"]) == (1, 2, 0)


def test_a_failed_weight_write_is_a_clear_error(tmp_path, monkeypatch, capsys):
    # safetensors reports a full disk as its own SafetensorError: `axk1 export` ended in that traceback
    from safetensors import SafetensorError

    from axk1.cli import main

    ck = _checkpoint(tmp_path / "ckpt")

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(No space left on device (os error 28))")

    monkeypatch.setattr("axk1.checkpoint.folder.save_file", full)
    assert main(["export", str(ck), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "No space left on device (os error 28)): exporting to " in err and "out failed (nothing was left" in err
    assert "Traceback" not in err


def test_export_refuses_a_tokenizer_other_than_the_one_that_made_the_training_data(tmp_path):
    """Only a vocabulary larger than the model's was refused: any other tokenizer was written into the folder,
    and generation then decoded the ids into other text. The trainer's checkpoints now carry the manifest's
    tokenizer digest, and the export checks the tokenizer it is given against it."""
    import json

    import pytest

    from axk1.text.tokenizer_file import tokenizer_hash
    from axk1.train.recipe import load_recipe
    from axk1.train.trainer import Trainer
    from tests.train_helpers import write_recipe

    recipe = write_recipe(tmp_path)
    made, other = tmp_path / "tok-made", tmp_path / "tok-other"
    _tokenizer(made)
    _tokenizer(other, {"b": 0, "a": 1, "<unk>": 2})
    manifest = tmp_path / "tokens" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "tokenizer_hash": tokenizer_hash(made)}))
    Trainer(load_recipe(recipe, max_steps=1)).fit()
    checkpoints = tmp_path / "run" / "checkpoints"
    assert (export_checkpoint(checkpoints, tmp_path / "good", tokenizer=made) / "tokenizer.json").exists()
    with pytest.raises(ValueError, match=f"not the one the model's training data was tokenized with \\(digest "
                                         f"{tokenizer_hash(made)}"):
        export_checkpoint(checkpoints, tmp_path / "bad", tokenizer=other)
    assert not (tmp_path / "bad").exists()  # refused before anything is written


def test_the_exported_tokenizer_config_says_the_models_context(tmp_path):
    """`axk1 data` trains its tokenizer with model_max_length 32,768 whatever model it ends up with, and export
    copied it: transformers then kept 6,001 tokens of a prompt for a 1,024-token model. The export writes the
    model's max_position_embeddings there; the rest of the file is as it was."""
    import json

    ck = _checkpoint(tmp_path / "ckpt")
    _tokenizer(tmp_path / "tok")
    given = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|im_end|>", "model_max_length": 32768}
    (tmp_path / "tok" / "tokenizer_config.json").write_text(json.dumps(given))
    path = export_checkpoint(ck, tmp_path / "out", tokenizer=tmp_path / "tok")
    written = json.loads((path / "tokenizer_config.json").read_text())
    context = ModelConfig.from_preset("axk1-tiny").max_position_embeddings
    assert written == {**given, "model_max_length": context, "padding_side": "left"} and context != 32768


def test_the_exported_tokenizer_pads_a_batch_on_the_left_in_transformers(tmp_path):
    """transformers' batched generate right-padded the exported tokenizer's batches (and warned): pads between a
    prompt and its continuation. A tokenizer `axk1 data` writes says left, and an export gives one that names no
    side the left; a file that names one keeps it."""
    import json

    from transformers import AutoTokenizer

    from axk1.text.tokenizer_file import PAD, SPECIAL_TOKENS, write_tokenizer_files

    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    ck = _checkpoint(tmp_path / "ckpt")
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, "a", "b", "<unk>"])}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = Whitespace()
    (tmp_path / "tok").mkdir()
    write_tokenizer_files(tmp_path / "tok", tokenizer.to_str())
    path = export_checkpoint(ck, tmp_path / "out", tokenizer=tmp_path / "tok")
    hf = AutoTokenizer.from_pretrained(path)
    batch = hf(["a", "a b a"], padding=True)["input_ids"]
    assert hf.padding_side == "left" and batch[0][:2] == [vocab[PAD]] * 2 and batch[0][2] == vocab["a"]
    config = tmp_path / "tok" / "tokenizer_config.json"
    config.write_text(json.dumps({k: v for k, v in json.loads(config.read_text()).items() if k != "padding_side"}))
    assert AutoTokenizer.from_pretrained(export_checkpoint(ck, tmp_path / "out", tokenizer=tmp_path / "tok")
                                         ).padding_side == "left"  # a tokenizer trained before the line was written
    config.write_text(json.dumps({**json.loads(config.read_text()), "padding_side": "right"}))
    assert AutoTokenizer.from_pretrained(export_checkpoint(ck, tmp_path / "out", tokenizer=tmp_path / "tok")
                                         ).padding_side == "right"


def test_a_tokenizer_json_alone_gets_a_tokenizer_config_naming_the_special_tokens(tmp_path):
    """`axk1 export --tokenizer DIR` with only tokenizer.json there wrote no tokenizer_config.json: transformers'
    AutoTokenizer then loaded it with bos, eos and pad None (no stop token, no padding). The export writes one
    naming the tokens config.json's ids stand for."""
    import json

    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import AutoTokenizer

    from axk1.text.tokenizer_file import BOS, EOS, PAD, SPECIAL_TOKENS

    ck = _checkpoint(tmp_path / "ckpt")
    (tmp_path / "tok").mkdir()
    tokenizer = Tokenizer(WordLevel({t: i for i, t in enumerate(SPECIAL_TOKENS + ["a", "<unk>"])}, unk_token="<unk>"))
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    tokenizer.save(str(tmp_path / "tok" / "tokenizer.json"))
    path = export_checkpoint(ck, tmp_path / "out", tokenizer=tmp_path / "tok")
    written = json.loads((path / "tokenizer_config.json").read_text())
    assert (written["bos_token"], written["eos_token"], written["pad_token"]) == (BOS, EOS, PAD)
    assert "chat_template" not in written and not (path / "chat_template.jinja").exists()  # none was given
    hf = AutoTokenizer.from_pretrained(path)
    assert (hf.bos_token, hf.eos_token, hf.pad_token) == (BOS, EOS, PAD) and hf.eos_token_id == 2
    assert hf.convert_tokens_to_ids("<|im_start|>") in hf.all_special_ids  # the other special tokens named too
    assert hf.model_max_length == ModelConfig.from_preset("axk1-tiny").max_position_embeddings
