import subprocess
import sys

import torch

from axk1 import AXK1ForCausalLM
from axk1.cli import main
from axk1.demo import run_demo


def _folder(tmp_path, config):
    torch.manual_seed(0)
    AXK1ForCausalLM(config).save_pretrained(tmp_path / "m")
    return tmp_path / "m"


def test_generate_from_token_ids(tmp_path, tiny_config, capsys):
    folder = _folder(tmp_path, tiny_config)
    assert main(["generate", str(folder), "--prompt", "1 5 9", "--max-new-tokens", "6"]) == 0
    captured = capsys.readouterr()
    tokens = captured.out.split()
    assert len(tokens) <= 6 and all(0 <= int(t) < tiny_config.vocab_size for t in tokens)
    assert "tok/s" in captured.err


def test_generate_text_needs_a_tokenizer(tmp_path, tiny_config, capsys):
    folder = _folder(tmp_path, tiny_config)
    assert main(["generate", str(folder), "--prompt", "안녕하세요"]) == 2
    assert "no tokenizer.json" in capsys.readouterr().err

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<bos>", "<eos>", "<unk>"])
    tokenizer.train_from_iterator(["안녕하세요 반갑습니다", "hello world"] * 50, trainer)
    tokenizer.save(str(folder / "tokenizer.json"))
    assert main(["generate", str(folder), "--prompt", "안녕하세요", "--max-new-tokens", "4"]) == 0


def test_generate_rejects_missing_folder(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "nowhere"), "--prompt", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_demo_runs_the_spine_end_to_end(tmp_path, capsys):
    summary = run_demo(tmp_path, steps=2, progress=False)
    assert summary["reload_max_abs_diff"] == 0
    model_dir = tmp_path / "model"
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (model_dir / name).exists()
    assert (tmp_path / "data" / "tokens" / "manifest.json").exists()
    assert all(len(tokens) > 0 for tokens in summary["completions"])
    assert 0 < summary["unigram_entropy"] < 10 and summary["losses"]
    report = (tmp_path / "report.md").read_text()
    assert "unigram entropy" in report and "train/loss.png" in report and "train/loss_by_domain.png" in report
    assert "times: much of the fall" in report  # how often the corpus was seen
    assert any((tmp_path / "train" / "tensorboard").iterdir())
    out = capsys.readouterr().out
    assert "518,983,059,456" in out and "in " in out and "kept" in out


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "axk1.cli", "--help"], capture_output=True, text=True, check=True)
    for verb in ("params", "generate", "demo"):
        assert verb in out.stdout
