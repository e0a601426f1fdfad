"""The serving configuration (axk1/infer/engine_config.py): each range checked where the field is, named by the
field; `axk1 serve` names the flag instead (cli.flag_names)."""

import math

import pytest

from axk1.cli import main
from axk1.infer.cli import flag_names
from axk1.infer.engine_config import BLOCK_SIZE, PREFILL_CHUNK, EngineConfig, ServeConfig


def test_defaults_are_the_engines_constants():
    cfg = EngineConfig()
    assert (cfg.max_batch, cfg.block_size, cfg.prefill_chunk, cfg.max_model_len, cfg.cache_tokens) == (
        32, BLOCK_SIZE, PREFILL_CHUNK, None, None)
    assert ServeConfig("m").engine == cfg and str(ServeConfig("m").model_dir) == "m"


@pytest.mark.parametrize("fields", [{"max_batch": 0}, {"block_size": -1}, {"prefill_chunk": True},
                                    {"max_model_len": 0}, {"cache_tokens": 2.5}, {"max_batch": None}])
def test_an_engine_field_out_of_range_is_refused_by_name(fields):
    (name, value), = fields.items()
    with pytest.raises(ValueError, match=f"^{name} must be a whole number >= 1"):
        EngineConfig(**fields)


@pytest.mark.parametrize("fields", [{"read_timeout": 0}, {"read_timeout": math.nan}, {"read_timeout": "30"},
                                    {"shutdown_timeout": -1}])
def test_a_server_field_out_of_range_is_refused_by_name(fields):
    (name, _), = fields.items()
    with pytest.raises(ValueError, match=f"^{name} must be"):
        ServeConfig("m", **fields)


def test_the_command_line_names_the_flags():
    assert flag_names("raise cache_tokens or lower max_model_len (max_model_len_x stays)") == (
        "raise --cache-tokens or lower --max-model-len (max_model_len_x stays)")


def test_serve_refuses_a_bad_flag_naming_it(tmp_path, capsys):
    assert main(["serve", str(tmp_path), "--port", "0", "--read-timeout", "0"]) == 2
    err = capsys.readouterr().err
    assert "--read-timeout must be a positive number of seconds, got 0.0" in err and "Traceback" not in err, err
