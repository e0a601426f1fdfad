"""The README's 519B dry runs (`axk1 train|sft|rl RECIPE --dry-run --world-size 1024 --model.init_from
/path/to/A.X-K1`) where the release, or the demo's data, is not on disk: --dry-run's help and the refusal say what a
dry run reads of an init_from folder (config.json and the safetensors headers, not the weights) and how to dry-run
without it, and a missing data file names the flag that gives another. Each piece of advice is followed here."""

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from axk1.cli import build_parser, main
from axk1.config import ModelConfig

ROOT = Path(__file__).resolve().parents[1]
TRAIN_519B, SFT_519B, RL_519B = ("recipes/axk1-519b.toml", "recipes/posttrain/axk1-519b-sft.toml",
                                 "recipes/posttrain/axk1-519b-rl.toml")


def _config_only(path: Path) -> Path:
    """A folder holding the release's config.json and nothing else (a partial download)."""
    path.mkdir()
    (path / "config.json").write_text(json.dumps(ModelConfig.from_preset("axk1-519b").to_dict()))
    return path


def _chat_rows(path: Path) -> Path:
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "1+1?"},
                                             {"role": "assistant", "content": "<think>1+1=2</think>2"}]}) + "\n")
    return path


def _readme_command(prefix: str, release: Path, recipe: Path) -> list[str]:
    """The README's command line that starts with `prefix`, as written, the release's path and the recipe put in."""
    line = next(x for x in (ROOT / "README.md").read_text().splitlines() if x.startswith(prefix))
    argv = shlex.split(line.split("#")[0])[1:]  # without `axk1` and the comment
    return [str(release) if a == "/path/to/A.X-K1" else str(recipe) if a.endswith(".toml") else a for a in argv]


@pytest.mark.parametrize("verb", ["train", "sft", "rl"])
def test_dry_run_help_says_what_an_init_from_folder_gives_it(verb):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    text = " ".join(sub.choices[verb].format_help().split())
    assert ("With [model] init_from it reads that folder's config.json and the headers of its safetensors (tensor "
            "names, shapes and dtypes; not the weights), so the folder must be there; without it, drop "
            "--model.init_from where the recipe names its model by preset or config") in text


def test_the_519b_recipe_with_a_config_only_folder_says_to_drop_init_from_and_passes_without_it(tmp_path, capsys):
    folder = _config_only(tmp_path / "A.X-K1")
    argv = ["train", TRAIN_519B, "--dry-run", "--world-size", "1024"]
    assert main([*argv, "--model.init_from", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"no model.safetensors or model.safetensors.index.json in {folder}" in err  # the refusal, as before
    assert ("A dry run reads that folder's config.json and the headers of its safetensors "
            "(tensor names, shapes and dtypes; not the weights)") in err
    assert ('to dry-run without the folder, drop --model.init_from (the recipe\'s [model] preset = "axk1-519b" sizes '
            "the same model)") in err and "Traceback" not in err
    assert main(argv) == 0  # the advice followed
    assert "ok: the recipe passes for this launch" in capsys.readouterr().out


def test_an_sft_recipe_whose_model_is_the_folder_is_told_how_and_passes_that_way(tmp_path, capsys):
    """axk1-519b-sft.toml's model is init_from's config.json: dropping the flag leaves the recipe's own folder. The
    advice: a copy naming the config.json in its place, and the template's folder; followed, the dry run passes."""
    from tests.serve_helpers import make_model_folder

    folder = _config_only(tmp_path / "A.X-K1")
    data = ["--sft.data", json.dumps([str(_chat_rows(tmp_path / "chat.jsonl"))])]
    assert main(["sft", SFT_519B, "--dry-run", "--world-size", "1024", *data, "--model.init_from", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "config.json and the headers of its safetensors (tensor names, shapes and dtypes; not the weights)" in err
    # the folder's own config.json, and the preset it is (that config's shapes: the release's)
    assert (f'in place of init_from, [model] config = "{folder / "config.json"}" (that file alone will do) or preset = '
            '"axk1-519b"') in err and "--sft.template_from a folder with the tokenizer.json and chat" in err
    copy = tmp_path / "sft.toml"
    copy.write_text(re.sub(r"^init_from = .*$", f'config = "{folder / "config.json"}"', (ROOT / SFT_519B).read_text(),
                           count=1, flags=re.M))
    template = make_model_folder(tmp_path / "template")
    assert main(["sft", str(copy), "--dry-run", "--world-size", "1024", *data, "--sft.template_from",
                 str(template)]) == 0
    assert "ok: the recipe passes for this launch" in capsys.readouterr().out


def test_rl_says_its_dry_run_needs_the_folder(tmp_path, capsys):
    argv = ["rl", RL_519B, "--dry-run", "--world-size", "1024", "--rl.server_url", "http://HOST:8000",
            "--model.init_from", str(_config_only(tmp_path / "A.X-K1"))]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "not the weights" in err
    assert "`axk1 rl` starts from init_from's weights, so its dry run needs the folder as the launch does" in err


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A folder laid out as the released A.X K1 (config.json, safetensors headers over holes, tokenizer files)."""
    from tests.serve_helpers import make_model_folder
    from tests.posttrain_helpers import release_folder

    folder = release_folder(tmp_path_factory.mktemp("release"))
    tokenizer = make_model_folder(folder.parent / "tok")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(tokenizer / name, folder / name)
    return folder


def test_the_readmes_519b_post_training_dry_runs_name_the_data_flag_and_pass_once_the_demos_files_exist(
        release, tmp_path, capsys):
    """The README's rl line gives no --rl.tasks: its recipe reads the demo's tasks (the README's `posttrain tasks`
    step writes them), and without them the error named the recipe key only. Now it names --rl.tasks and the
    command that writes the file (SFT's --sft.data likewise); with the demo's files the commands pass as written."""
    from axk1.posttrain.tasks import generate_tasks, write_jsonl

    recipes = tmp_path / "recipes" / "posttrain"  # copies, so that the recipes' ../../out is tmp_path/out
    recipes.mkdir(parents=True)
    rl = _readme_command("axk1 rl recipes/posttrain/axk1-519b-rl.toml", release, shutil.copy(ROOT / RL_519B, recipes))
    sft = _readme_command("axk1 sft recipes/posttrain/axk1-519b-sft.toml", release,
                          shutil.copy(ROOT / SFT_519B, recipes))
    assert main(rl) == 2
    err = capsys.readouterr().err
    assert f"[rl] tasks file {tmp_path}/out/posttrain/tasks/train.jsonl not found" in err
    assert "`axk1 posttrain tasks -o DIR` writes the demo's DIR/train.jsonl" in err
    assert "name your own verified tasks with --rl.tasks '[\"FILE.jsonl\"]'" in err
    assert main(sft) == 2
    err = capsys.readouterr().err
    assert f"[sft] data file {tmp_path}/out/posttrain/sft-think.jsonl not found" in err
    assert "--sft.data '[\"FILE.jsonl\"]'" in err and "axk1 posttrain chat" in err
    (tmp_path / "out" / "posttrain" / "tasks").mkdir(parents=True)
    write_jsonl(tmp_path / "out" / "posttrain" / "tasks" / "train.jsonl",
                generate_tasks(40, seed=0, kinds=("math",), levels=(1,)))
    _chat_rows(tmp_path / "out" / "posttrain" / "sft-think.jsonl")
    for argv in (rl, sft):
        assert main(argv) == 0
        assert "ok: the recipe passes for this launch" in capsys.readouterr().out


def test_a_demo_recipe_without_its_folder_is_not_told_to_use_the_519b_preset(tmp_path, capsys):
    """sft-think.toml post-trains the demo's 46.5M model (out/model): with the folder absent nothing says which
    preset sizes it, so the advice names the user's own model's config.json or preset, never A.X K1's; short."""
    assert main(["sft", "recipes/posttrain/sft-think.toml", "--dry-run", "--model.init_from",
                 str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'model'} does not exist" in err and "Traceback" not in err
    assert "axk1-519b\"" not in err and "A.X K1's shapes" not in err
    assert 'config = "FOLDER/config.json" (your model\'s config.json; that file alone will do) or preset = "NAME"' in err
    assert "give --model.init_from an existing model folder" in err and "--sft.template_from" in err
    assert len(err) < 1000, len(err)


def test_a_folder_whose_config_is_no_preset_is_named_by_its_config_alone(tmp_path, capsys):
    """A config-only folder of the demo's shapes (axk1-mini with a cut vocabulary): its config.json is advised, and
    no preset, as none of them is that model."""
    folder = tmp_path / "model"
    folder.mkdir()
    cfg = ModelConfig.from_preset("axk1-mini")
    cfg.vocab_size = 8192
    (folder / "config.json").write_text(json.dumps(cfg.to_dict()))
    assert main(["sft", "recipes/posttrain/sft-think.toml", "--dry-run", "--model.init_from", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f'[model] config = "{folder / "config.json"}" (that file alone will do), and --sft.template_from' in err
    assert "preset =" not in err
