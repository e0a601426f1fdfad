"""One check that a folder is a model folder (axk1.config.model_config_file), made by every command and loader
that takes one: each says the same thing about the same mistake, naming the folder, what is missing and what to
give instead."""

import os

import pytest

import axk1
from axk1.checkpoint.merge import merge_folders
from axk1.config import ModelConfig, model_config_file
from axk1.eval.backend_target import load_backend
from axk1.infer.cli import build_server
from axk1.infer.engine_config import ServeConfig
from tests.vllm_folder import check_vllm_folder

GIVE = "give a model folder (config.json next to its safetensors weights"


def _problem(call, folder) -> str:
    """The error text of one site for `folder` (a list of problems for check_vllm_folder)."""
    try:
        result = call(folder)
    except (OSError, ValueError) as e:
        return str(e)
    return "; ".join(result)


SITES = {
    "ModelConfig.from_pretrained": ModelConfig.from_pretrained,
    "load_model": axk1.load_model,
    "axk1 serve": lambda f: build_server(ServeConfig(f)),
    "axk1 eval": lambda f: load_backend(str(f), device="cpu"),
    "axk1 merge": lambda f: merge_folders(f, f, f.parent / "merged", alpha=0.5, progress=False),
    "check_vllm_folder": check_vllm_folder,
}


@pytest.mark.parametrize("site", SITES)
def test_every_site_names_the_folder_what_is_missing_and_what_to_do(site, tmp_path):
    call = SITES[site]
    assert f"{tmp_path / 'missing'} does not exist: {GIVE}" in _problem(call, tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert f"{tmp_path / 'empty'} has no config.json, so it is not a model folder: {GIVE}" in _problem(
        call, tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    if site != "ModelConfig.from_pretrained":  # which also reads a config.json given as a file
        assert f"{tmp_path / 'file'} is a file, not a model folder: {GIVE}" in _problem(call, tmp_path / "file")


def test_what_the_check_refuses(tmp_path):
    (tmp_path / "config.json").mkdir()
    with pytest.raises(ValueError, match=r"config\.json is not a regular file: replace it"):
        model_config_file(tmp_path)
    (tmp_path / "config.json").rmdir()
    (tmp_path / "config.json").write_text("{}")
    assert model_config_file(tmp_path) == tmp_path / "config.json"
    if os.geteuid() != 0:  # root reads any file
        (tmp_path / "config.json").chmod(0)
        with pytest.raises(PermissionError, match=r"cannot be read \(permission denied\): make it readable"):
            model_config_file(tmp_path)


def test_role_and_alternatives_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^\[model\] init_from: .*missing does not exist: give a model folder "
                                                r"\(.*\), hf:<path-or-id> or openai:<base-url>$"):
        model_config_file(tmp_path / "missing", role="[model] init_from", also=", hf:<path-or-id> or openai:<base-url>")
    with pytest.raises(FileNotFoundError, match=r"hf:<path-or-id> or openai:<base-url>"):
        load_backend(str(tmp_path / "missing"), device="cpu")


def test_a_config_json_that_is_not_json_is_a_problem_not_a_traceback(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    assert check_vllm_folder(tmp_path) == [f"{tmp_path / 'config.json'} is not valid JSON (Expecting property name "
                                           "enclosed in double quotes at column 2): fix it or re-export the folder"]
    (tmp_path / "config.json").write_text("[]")
    assert check_vllm_folder(tmp_path) == [f"{tmp_path / 'config.json'} must be a JSON object, got list: fix it or "
                                           "re-export the folder"]
