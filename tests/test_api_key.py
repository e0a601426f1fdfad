"""One API-key convention (axk1/api_key.py): `axk1 serve`, `axk1 eval` and `axk1 data synth` read the key from the
environment variable --api-key-env names; a key on the command line, where `ps` shows it, is refused."""

import logging
import re

import pytest

from axk1.api_key import CLIENT_KEY_ENV, SERVER_KEY_ENV, read_api_key
from axk1.cli import main
from axk1.eval.backend_target import load_backend

SECRET = "sk-do-not-print-me"
COMMANDS = {  # a command line that reaches each command's flags, and the variable it reads by default
    "serve": (["serve", "model"], SERVER_KEY_ENV),
    "eval": (["eval", "--model", "openai:http://127.0.0.1:9/v1"], CLIENT_KEY_ENV),
    "data synth": (["data", "synth", "docs.jsonl", "--teacher", "openai:http://127.0.0.1:9/v1", "--recipe", "r.toml",
                    "-o", "out.jsonl"], CLIENT_KEY_ENV),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_key_on_the_command_line_is_refused_with_the_reason_and_the_fix(command, capsys):
    argv, default_env = COMMANDS[command]
    for flag in (["--api-key", SECRET], [f"--api-key={SECRET}"]):
        with pytest.raises(SystemExit) as e:
            main([*argv, *flag])
        err = capsys.readouterr().err
        assert e.value.code == 2 and SECRET not in err
        assert "--api-key would put the key on the command line, where `ps` shows it to every user" in err
        assert f"export {default_env}=...; --api-key-env names another variable" in err


@pytest.mark.parametrize("command", COMMANDS)
def test_api_key_env_takes_a_variable_name_not_a_key(command, capsys):
    argv, _ = COMMANDS[command]
    with pytest.raises(SystemExit) as e:
        main([*argv, "--api-key-env", SECRET])
    err = capsys.readouterr().err
    assert e.value.code == 2 and SECRET not in err
    assert "--api-key-env takes the NAME of an environment variable" in err


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_documents_its_variable(command, capsys):
    argv, default_env = COMMANDS[command]
    with pytest.raises(SystemExit):
        main([*argv[:2 if command == "data synth" else 1], "--help"])
    assert f"(default {default_env}; unset or empty: no key)" in " ".join(capsys.readouterr().out.split())


def test_the_key_is_read_from_the_named_variable(monkeypatch, caplog):
    monkeypatch.setenv("MY_TEACHER_KEY", SECRET)
    monkeypatch.delenv(CLIENT_KEY_ENV, raising=False)
    assert read_api_key("MY_TEACHER_KEY", CLIENT_KEY_ENV) == SECRET
    backend = load_backend("openai:http://127.0.0.1:9/v1", served_model="m", api_key_env="MY_TEACHER_KEY")
    assert backend.api_key == SECRET
    with caplog.at_level(logging.WARNING):
        assert read_api_key(CLIENT_KEY_ENV, CLIENT_KEY_ENV) is None  # the default unset: no key, no fuss
        assert not caplog.records
        monkeypatch.setenv("MY_TEACHER_KEY", "")
        assert read_api_key("MY_TEACHER_KEY", CLIENT_KEY_ENV) is None  # a variable named on purpose, but empty
    assert "the variable MY_TEACHER_KEY is unset or empty, so no API key is used" in caplog.text
    with pytest.raises(ValueError, match="takes the NAME of an environment variable"):
        load_backend("openai:http://127.0.0.1:9/v1", served_model="m", api_key_env="sk-1")


@pytest.mark.parametrize("key, problem", [("kéy", "not printable ASCII (at position 2)"),
                                          ("sekret ", "starts or ends with whitespace"),
                                          (" sekret", "starts or ends with whitespace"),
                                          ("sekret\n", "starts or ends with whitespace"),
                                          ("sek\tret", "not printable ASCII (at position 4)")])
def test_a_key_no_client_can_send_is_refused_at_the_start(key, problem, monkeypatch, capsys):
    """`AXK1_API_KEY='kéy'` or `'sekret '` (a quoted env-file value) started a server that answered every request
    401: a header carries ASCII only (the openai client raised UnicodeEncodeError) and HTTP parsers cut or refuse
    surrounding whitespace. The command now fails at its start, naming the problem, never the key."""
    monkeypatch.setenv(SERVER_KEY_ENV, key)
    with pytest.raises(ValueError, match=re.escape(problem)):
        read_api_key(SERVER_KEY_ENV, SERVER_KEY_ENV)
    assert main(["serve", "no-such-model-folder"]) == 2  # refused before the model is looked at
    err = capsys.readouterr().err
    assert f"${SERVER_KEY_ENV}" in err and problem in err and "no client could send this key" in err
    assert key.strip() not in err
    monkeypatch.setenv(SERVER_KEY_ENV, "sk-a b~!")  # printable ASCII, inner space included: a header carries it
    assert read_api_key(SERVER_KEY_ENV, SERVER_KEY_ENV) == "sk-a b~!"
