"""`export_checkpoint(ck, out, tokenizer=out)`: re-exporting into the folder that holds the tokenizer keeps it
(the export clears the folder before it writes, so the tokenizer files are read first)."""

import torch

import axk1
from axk1 import AXK1ForCausalLM, ModelConfig
from axk1.checkpoint.dcp import save_checkpoint
from axk1.checkpoint.export import export_checkpoint


def _checkpoint(root):
    config = ModelConfig.from_preset("axk1-tiny")
    holder = torch.nn.Module()
    holder.lm = AXK1ForCausalLM(config, with_mtp=False)
    optimizer = torch.optim.AdamW(holder.parameters())
    holder.lm(torch.tensor([[1, 2, 3]])).float().sum().backward()
    optimizer.step()
    return save_checkpoint(root, 1, holder, optimizer, {"model_config": config.to_dict(), "mtp_depth": 0})


def _tokenizer(folder):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    folder.mkdir(parents=True, exist_ok=True)
    Tokenizer(WordLevel({"a": 0, "<unk>": 1}, unk_token="<unk>")).save(str(folder / "tokenizer.json"))
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
                                                          "tokenizer.json"]
    assert axk1.load_model(out) is not None
