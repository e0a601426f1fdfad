"""JSON in UTF-16 or UTF-32 without a byte-order mark (`iconv -t UTF-16LE`, a tool that writes no mark): its ASCII
decodes as UTF-8 beside NUL bytes, so every reader said "Expecting property name enclosed in double quotes at column
2" (a config.json, an eval file), the chat and task readers named UTF-16 with an `iconv -f UTF-16` that reads a
big-endian file as garbage (without a mark it takes the machine's byte order) and called UTF-32 "not text", and a
data run's jsonl source failed every line apart. Now each names the encoding, byte order included, and the iconv
command that converts it (json_text.wide_encoding, from the NULs of a JSON text's first ASCII characters)."""

from __future__ import annotations

import json
import subprocess

import pytest

from axk1.cli import main
from axk1.data.sources import SourceConfig, read_source_file
from axk1.json_text import JsonError, json_lines, parse_json, read_json_file
from axk1.posttrain.chat_formats import read_chat_rows
from axk1.posttrain.chat_report import ChatReport
from axk1.posttrain.tasks import read_tasks

# Python's codec -> the name iconv takes, which the message must give (`iconv -f UTF-16` alone guesses the order)
WIDE = {"utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE", "utf-32-le": "UTF-32LE", "utf-32-be": "UTF-32BE"}
ROWS = [{"id": f"t{i}", "prompt": f"{i} 더하기 1은?", "answer": str(i + 1),
         "messages": [{"role": "user", "content": f"{i} + 1?"}, {"role": "assistant", "content": str(i + 1)}]}
        for i in range(40)]


def _jsonl(codec: str) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS).encode(codec)


def _says(wide: str, path=None) -> str:
    """The reason every reader gives (a regex)."""
    command = f"iconv -f {wide} -t UTF-8" + (f" {path} > {path.with_suffix('.utf8' + path.suffix)}" if path else "")
    return f"{wide} text without a byte-order mark, not UTF-8: convert it with `{command}`"


@pytest.mark.parametrize("codec", WIDE)
def test_parse_json_names_the_encoding_and_its_byte_order(codec):
    wide = WIDE[codec]
    for text in ('{"가": [1, 2]}', ' [1]', '"나"', "7"):  # whitespace first, a non-ASCII second character, one digit
        with pytest.raises(JsonError) as e:
            parse_json(text.encode(codec))
        assert str(e.value) == _says(wide)
    # a line already decoded (as UTF-8 it decodes: NULs beside ASCII), as the line readers pass it
    with pytest.raises(JsonError, match=rf"^{_says(wide)}$".replace("`", ".")):
        parse_json('{"id": 1}'.encode(codec).decode("utf-8"))
    assert parse_json('{"가": [1, 2]}'.encode()) == {"가": [1, 2]}  # UTF-8 holds no NUL: never taken for one


@pytest.mark.parametrize("codec", WIDE)
def test_the_command_given_converts_the_file(codec, tmp_path):
    """The command in the message, run, gives back the UTF-8 rows (`-f UTF-16` would not, for big-endian)."""
    path = tmp_path / "rows.jsonl"
    path.write_bytes(_jsonl(codec))
    with pytest.raises(ValueError) as e:
        read_tasks(path)
    command = str(e.value).split("`")[1]
    subprocess.run(command, shell=True, check=True)
    assert path.with_suffix(".utf8.jsonl").read_bytes() == _jsonl("utf-8")


@pytest.mark.parametrize("codec", WIDE)
def test_chat_data_and_task_files_are_refused_naming_the_encoding(codec, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(_jsonl(codec))
    with pytest.raises(ValueError) as chat:
        list(read_chat_rows([path], ChatReport()))
    assert str(chat.value) == f"chat data {path} is {_says(WIDE[codec], path)}"
    with pytest.raises(ValueError) as tasks:
        read_tasks(path)
    assert str(tasks.value) == f"the task file {path} is {_says(WIDE[codec], path)}"


@pytest.mark.parametrize("codec", WIDE)
def test_json_files_and_json_lines_name_the_encoding(codec, tmp_path, capsys):
    wide = WIDE[codec]
    config = tmp_path / "config.json"
    config.write_bytes(json.dumps({"hidden_size": 64}).encode(codec))
    with pytest.raises(ValueError) as e:
        read_json_file(config, "fix the file")
    assert str(e.value) == f"{config} is not valid JSON ({_says(wide)}): fix the file"
    assert main(["params", str(config)]) == 2  # the CLI's one line, not a syntax error at column 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and f"{config} is not valid JSON ({_says(wide)})" in error
    lines = _jsonl(codec).split(b"\n")  # the first line fails first, where the order is exact
    with pytest.raises(ValueError) as e:
        list(json_lines(lines, "rows.jsonl", "fix it"))
    assert str(e.value) == f"rows.jsonl:1: not a JSON line ({_says(wide)}); fix it"


@pytest.mark.parametrize("codec", WIDE)
def test_a_data_runs_jsonl_source_fails_the_file_once_naming_the_encoding(codec, tmp_path):
    """Each line failed apart, and a later line of a little-endian file (its newline's NUL first) looked big-endian."""
    path = tmp_path / "docs.jsonl"
    path.write_bytes("".join(json.dumps({"text": r["prompt"]}, ensure_ascii=False) + "\n" for r in ROWS).encode(codec))
    (failure,) = read_source_file(SourceConfig(type="jsonl", path=str(tmp_path)), path)
    assert failure.reason == f"not_utf8: the file is {_says(WIDE[codec], path)}"


def test_a_byte_order_mark_still_gives_the_plain_name(tmp_path):
    """With its mark iconv reads the order itself: `-f UTF-16` (or UTF-32), as before."""
    path = tmp_path / "rows.jsonl"
    for codec, wide in (("utf-16", "UTF-16"), ("utf-32", "UTF-32")):
        path.write_bytes(_jsonl(codec))
        with pytest.raises(ValueError) as e:
            read_tasks(path)
        assert str(e.value).endswith(f"is {wide} text, not UTF-8: convert it with `iconv -f {wide} -t UTF-8 {path} > "
                                     f"{path.with_suffix('.utf8.jsonl')}`")
        with pytest.raises(JsonError, match=rf"^{wide} text, not UTF-8"):
            parse_json(_jsonl(codec))
