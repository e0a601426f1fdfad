"""`axk1 serve --config FILE` (axk1/cli_flag_file.py): a TOML file of flag settings, each read as its flag's text
would be; a typed flag wins over the file (one typed with its default value too), the file over the defaults; a key that
is no flag, or a value the flag would refuse, is one error line naming the file and the key, before a model loads."""

from __future__ import annotations

import argparse
import json
import os
import urllib.request

import pytest

from axk1.cli import build_parser, main
from axk1.cli_flag_file import DEFAULTS_KEY, add_flag_file, with_flag_file
from axk1.infer.cli import serve_config
from axk1.infer.engine_config import EngineConfig, ServeConfig
from tests.serve_helpers import ServerProcess, make_model_folder


def _args(tmp_path, text: str, *flags: str):
    path = tmp_path / "serve.toml"
    path.write_text(text, encoding="utf-8")
    return build_parser().parse_args(["serve", "folder", "--config", str(path), *flags])


def test_the_files_settings_are_used_and_a_typed_flag_wins(tmp_path):
    text = 'max_batch = 8\nhost = "0.0.0.0"\nno_prefix_caching = true\nread_timeout = 12\ndtype = "bfloat16"\n'
    cfg = serve_config(with_flag_file(_args(tmp_path, text)))
    assert cfg.engine == EngineConfig(max_batch=8, prefix_caching=False) and cfg.read_timeout == 12.0
    assert str(cfg.dtype) == "torch.bfloat16"
    assert with_flag_file(_args(tmp_path, text)).host == "0.0.0.0"
    # typed with its default value: still typed, so it wins over the file
    typed = serve_config(with_flag_file(_args(tmp_path, text, "--max-batch", "32")))
    assert typed.engine.max_batch == 32 and typed.engine.prefix_caching is False


def test_without_a_file_the_flags_defaults_stand():
    assert serve_config(with_flag_file(build_parser().parse_args(["serve", "folder"]))) == ServeConfig("folder")
    assert with_flag_file(build_parser().parse_args(["serve", "folder"])).port == 8000


@pytest.mark.parametrize("text,said", [
    ("max_batchh = 8\n", "'max_batchh' is not a setting of this command"),
    ("api_key = \"secret\"\n", "'api_key' is not a setting"),  # a key stays off files and command lines alike
    ("max_batch = 0\n", "max_batch = 0: 0 must be at least 1"),
    ("max_batch = true\n", "a string or a number"),
    ("port = 70000\n", "port = 70000"),
    ("log_level = \"loud\"\n", "choose from critical"),
    ("no_prefix_caching = \"yes\"\n", "a switch takes true or false"),
    ("max_batch = [8]\n", "a string or a number"),
    ("max_batch = \n", "is not valid TOML"),
])
def test_a_bad_file_is_one_error_line_before_a_model_loads(tmp_path, capsys, text, said):
    path = tmp_path / "serve.toml"
    path.write_text(text, encoding="utf-8")
    missing = tmp_path / "no-model-here"  # never read: the file is refused first
    assert main(["serve", str(missing), "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert said in err and str(path) in err and "Traceback" not in err and "config.json" not in err


def test_a_missing_file_is_named(tmp_path, capsys):
    assert main(["serve", str(tmp_path), "--config", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml does not exist" in capsys.readouterr().err


def test_a_server_started_from_a_file_serves_under_its_settings(tmp_path):
    folder = make_model_folder(tmp_path / "axk1-tiny")
    path = tmp_path / "serve.toml"
    path.write_text('served_model_name = "from-the-file"\nmax_model_len = 64\n', encoding="utf-8")
    with ServerProcess(folder, "--config", str(path)) as server:
        with urllib.request.urlopen(server.base + "/v1/models", timeout=10) as r:
            models = json.loads(r.read())["data"]
    assert [(m["id"], m["max_model_len"]) for m in models] == [("from-the-file", 64)]


def test_a_relative_path_in_the_file_is_relative_to_the_files_folder(tmp_path, monkeypatch):
    """As in every kind of file (docs/configuration.md): `port_file = "port.txt"` in /a/b/serve.toml run from /tmp
    was /tmp/port.txt. Typed on the command line, a path stays relative to the current folder."""
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    path = folder / "serve.toml"
    for written, meant in [("port.txt", folder / "port.txt"), ("../run/port.txt", tmp_path / "a" / "run" / "port.txt"),
                           (str(tmp_path / "abs.txt"), tmp_path / "abs.txt"),
                           ("~/port.txt", os.path.expanduser("~/port.txt"))]:
        path.write_text(f"port_file = {json.dumps(written)}\n", encoding="utf-8")
        args = build_parser().parse_args(["serve", "folder", "--config", str(path)])
        assert with_flag_file(args).port_file == str(meant)
    typed = build_parser().parse_args(["serve", "folder", "--config", str(path), "--port-file", "here.txt"])
    assert with_flag_file(typed).port_file == "here.txt"


def test_the_files_port_file_is_checked_where_the_file_says(tmp_path, monkeypatch, capsys):
    """`axk1 serve` itself: the port file's folder exists beside the settings file and not in the current folder,
    which refused the start ("the folder run does not exist"); now the start goes on to the model folder."""
    (tmp_path / "conf" / "run").mkdir(parents=True)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    path = tmp_path / "conf" / "serve.toml"
    path.write_text('port = 0\nport_file = "run/port.txt"\n', encoding="utf-8")
    assert main(["serve", str(tmp_path / "no-model-here"), "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "--port-file" not in err and "no-model-here" in err and "Traceback" not in err


def test_every_path_flag_of_serve_is_resolved_from_the_file():
    """A flag whose value is a file or folder (its metavar says so) is declared a path, so that a file's relative
    value is read against the file's folder: a new one left out would be read from the current folder."""
    args = build_parser().parse_args(["serve", "folder"])
    _, actions, path_flags = getattr(args, DEFAULTS_KEY)
    paths = {dest for dest, action in actions.items() if action.metavar in ("PATH", "FILE", "DIR", "FOLDER")}
    assert paths == set(path_flags) == {"port_file"}


def test_a_path_flag_that_is_no_flag_is_refused():
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--out-file")
    with pytest.raises(ValueError, match="path_flags names no flag of x: output_file"):
        add_flag_file(parser, "out_file = \"a\"", path_flags=("output_file",))


def test_a_switch_with_a_no_form_is_read_from_the_file_as_written(tmp_path):
    """--x / --no-x (argparse.BooleanOptionalAction) has no const: `true` in a file gave None, `false` True."""
    from axk1.cli_flag_file import read_flag_file

    parser = argparse.ArgumentParser()
    switch = parser.add_argument("--kiwi", action=argparse.BooleanOptionalAction, default=False)
    for text, want in (("kiwi = true", True), ("kiwi = false", False)):
        (tmp_path / "c.toml").write_text(text + "\n")
        assert read_flag_file(tmp_path / "c.toml", {"kiwi": switch}) == {"kiwi": want}
