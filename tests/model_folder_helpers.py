"""Shared by the hostile model folder tests (tests/test_model_folder_hostile.py) and the checkpoint export ones
(tests/test_checkpoint_export_hostile.py): the tiny config, a saved tiny model with its MTP layers (the `folder`
fixture), and a CLI call that must fail with one line naming the problem."""

import pytest

import axk1
from axk1 import AXK1ForCausalLM
from axk1.config import ModelConfig
from axk1.cli import main


def tiny_model_config(**changes):
    """axk1-tiny's config with `changes`."""
    return ModelConfig.from_preset("axk1-tiny").replace(**changes)


def cli_error(argv, capsys):
    """The one-line error `axk1 argv` exits 2 with (no traceback)."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


@pytest.fixture
def folder(tmp_path):
    model = AXK1ForCausalLM(tiny_model_config(), with_mtp=True)
    return axk1.save_pretrained(model, tmp_path / "m")
