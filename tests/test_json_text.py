"""axk1/json_text.py: every way json.loads fails becomes one JsonError with a short reason; the readers built on it
(eval task files here) turn each into a one-line error naming the file and line."""

import json
import re

import pytest

from axk1.eval.tasks.aime import _read_jsonl
from axk1.json_text import JsonError, parse_json, read_json_file


@pytest.mark.parametrize("text, reason", [
    ("{\"a\": }", "Expecting value at column 7"),
    ("{\n\"a\": 1,\n}", "line 3, column 1"),
    ("[" * 100_000 + "]" * 100_000, "nested too deep"),  # past the interpreter's stack
    (b"{\"a\": \"\xff\"}", "not UTF-8 text (byte 7)"),
    ("[" + "9" * 5000 + "]", "integer string conversion"),  # past Python's digit limit: a plain ValueError
])
def test_parse_json_reasons(text, reason):
    with pytest.raises(JsonError, match=re.escape(reason)):
        parse_json(text)


def test_parse_json_values_and_files(tmp_path):
    assert parse_json("{\"a\": [1, 2.5, \"한국어\"]}") == {"a": [1, 2.5, "한국어"]}
    file = tmp_path / "x.json"
    file.write_bytes(b"\xef\xbb\xbf" + json.dumps({"k": 1}).encode())  # a byte-order mark, as some editors write
    assert read_json_file(file) == {"k": 1}
    with pytest.raises(FileNotFoundError):
        read_json_file(tmp_path / "missing.json")
    assert issubclass(JsonError, ValueError)  # callers that catch ValueError keep working


def test_task_file_errors_name_the_line(tmp_path):
    """A 5,000-digit number reached the user as Python's bare message, without the file or line (the AIME reader
    caught JSONDecodeError and RecursionError only); now it is named like any other broken line."""
    file = tmp_path / "aime.jsonl"
    file.write_text(json.dumps({"problem": "p", "answer": 1}) + "\n" + "{\"problem\": \"q\", \"answer\": "
                    + "9" * 5000 + "}\n")
    with pytest.raises(ValueError, match=r"aime\.jsonl:2: not a JSON line \(Exceeds the limit"):
        _read_jsonl(file)


def test_json_lines_skips_blank_lines_and_names_a_bad_one():
    from axk1.json_text import json_lines

    assert list(json_lines(['{"a": 1}\n', "\n", b'[2]\n'], "f.jsonl", "fix it")) == [(1, {"a": 1}), (3, [2])]
    with pytest.raises(ValueError, match=r"^f\.jsonl:2: not a JSON line \(nested too deep\); fix it$"):
        list(json_lines(["1", "[" * 100_000], "f.jsonl", "fix it"))
