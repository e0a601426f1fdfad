"""axk1/json_text.py: every way json.loads fails becomes one JsonError with a short reason; the readers built on it
(eval task files here) turn each into a one-line error naming the file and line."""

import gzip
import json
import re

import pytest

from axk1.eval.tasks.aime import read_jsonl
from axk1.json_text import JsonError, parse_json, read_json_file


@pytest.mark.parametrize("text, reason", [
    ("{\"a\": }", "Expecting value at column 7"),
    ("[\"cut", "Unterminated string starting at column 2"),  # not "starting at at"
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
    assert read_json_file(file, "fix it") == {"k": 1}
    with pytest.raises(FileNotFoundError):
        read_json_file(tmp_path / "missing.json", "fix it")
    assert issubclass(JsonError, ValueError)  # callers that catch ValueError keep working


@pytest.mark.parametrize("content, message", [
    (b'{"run": ', "{file} is not valid JSON (Expecting value at column 9): delete it"),  # a write cut short
    (b"[" * 100_000, "{file} is not valid JSON (nested too deep): delete it"),
    (b'{"a": "\xff"}', "{file} is not valid JSON (not UTF-8 text (byte 7)): delete it"),
    (b"[1, 2]", "{file} must be a JSON object, got list: delete it"),
])
def test_a_broken_json_file_is_one_line_naming_it_and_what_to_do(tmp_path, content, message):
    """The one reader of JSON files: every way a file can be broken is a ValueError of one line with the file's
    name (and what it is, when the caller says), the reason and the caller's advice."""
    file = tmp_path / "settings.json"
    file.write_bytes(content)
    with pytest.raises(ValueError) as e:
        read_json_file(file, "delete it", need_object=True)
    assert str(e.value) == message.format(file=file)
    with pytest.raises(ValueError, match=f"^run settings {re.escape(str(file))} "):
        read_json_file(file, "delete it", what="run settings", need_object=True)


def test_a_gzip_json_file_is_read_and_a_cut_one_is_named(tmp_path):
    file = tmp_path / "counts.json.gz"
    file.write_bytes(gzip.compress(b'{"site": [1, 2]}'))
    assert read_json_file(file, "rerun") == {"site": [1, 2]}
    file.write_bytes(gzip.compress(b'{"site": [1, 2]}')[:-12])  # a kill mid-write
    with pytest.raises(ValueError, match=rf"^{re.escape(str(file))} is not a whole gzip file \(.+\): rerun$"):
        read_json_file(file, "rerun")


def test_task_file_errors_name_the_line(tmp_path):
    """A 5,000-digit number reached the user as Python's bare message, without the file or line (the AIME reader
    caught JSONDecodeError and RecursionError only); now it is named like any other broken line."""
    file = tmp_path / "aime.jsonl"
    file.write_text(json.dumps({"problem": "p", "answer": 1}) + "\n" + "{\"problem\": \"q\", \"answer\": "
                    + "9" * 5000 + "}\n")
    with pytest.raises(ValueError, match=r"aime\.jsonl:2: not a JSON line \(Exceeds the limit"):
        read_jsonl(file)


def test_json_lines_skips_blank_lines_and_names_a_bad_one():
    from axk1.json_text import json_lines

    assert list(json_lines(['{"a": 1}\n', "\n", b'[2]\n'], "f.jsonl", "fix it")) == [(1, {"a": 1}), (3, [2])]
    with pytest.raises(ValueError, match=r"^f\.jsonl:2: not a JSON line \(nested too deep\); fix it$"):
        list(json_lines(["1", "[" * 100_000], "f.jsonl", "fix it"))


def test_only_a_last_line_without_its_newline_is_torn():
    """One rule for every JSON Lines log (metrics rows, eval's completions): a line is whole once its newline is
    written; a last line without it that is not JSON is torn, any other bad line is an error of its own."""
    from axk1.json_text import JsonError, TornLine, jsonl_values

    got = list(jsonl_values(b'{"a": 1}\n{"a\n\n[1]\n{"b": '))
    assert [(n, at) for n, at, _ in got] == [(1, 0), (2, 9), (4, 14), (5, 18)]
    assert got[0][2] == {"a": 1} and got[2][2] == [1]
    assert isinstance(got[1][2], JsonError) and not isinstance(got[1][2], TornLine)
    assert isinstance(got[3][2], TornLine)
    assert not any(isinstance(v, TornLine) for _, _, v in jsonl_values(b'{"a\n'))  # its newline came: whole


DIGEST_VALUES = [{"b": [1, 2.5, None], "a": "한국어 text", "c": {"z": True, "y": "é"}}, ["zeta", {"k": 1, "a": 2}], "", 0]


@pytest.mark.parametrize("value", DIGEST_VALUES)
def test_json_digest_keeps_the_bytes_of_the_digests_already_on_disk(value):
    """The six digests json_digest replaced are stored and compared later (eval completion cache, synth teacher
    cache, provenance hashes in reports, post-training task ids, RL resume): each keeps its old encoding's bytes."""
    import hashlib

    from axk1.json_text import json_digest

    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    assert json_digest(value) == sha(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str))  # synth, eval
    assert json_digest(value, ensure_ascii=True) == sha(json.dumps(value, sort_keys=True, default=str))  # cache, RL
    assert json_digest(value, sort_keys=False) == sha(json.dumps(value, ensure_ascii=False, default=str))  # task ids


def test_json_digest_takes_a_lone_surrogate_and_anything_json_cannot_hold():
    """A value holding "\\ud800" (valid JSON) ended the synth cache key with a codec error."""
    from pathlib import PurePosixPath

    from axk1.json_text import json_digest

    assert json_digest({"t": "a\ud800"}) != json_digest({"t": "a\udfff"})
    assert json_digest({"p": PurePosixPath("/x")}) == json_digest({"p": "/x"})
    pinned = "af04ff4d532ff01b771ee8989db3d9c9d49794e7bb980ba64dcc15ced13785a7"  # a cache written today is read later
    assert json_digest({"t": "a", "n": "한"}) == pinned


def test_bytes_are_read_as_utf8_never_guessed_as_utf16():
    """json.loads takes bytes in UTF-16 or UTF-32 too: a line of a UTF-16 task file parsed, though the docstring
    says bytes are UTF-8. A UTF-8 byte-order mark at the start is still dropped, as before."""
    for encoding in ("utf-16-le", "utf-16-be", "utf-32-le"):  # ASCII in them is UTF-8 with NULs: not JSON
        with pytest.raises(JsonError):
            parse_json('{"id": 1}'.encode(encoding))
    for encoding in ("utf-16", "utf-32"):  # with a byte-order mark, which is not UTF-8
        with pytest.raises(JsonError, match=r"not UTF-8"):
            parse_json('{"id": 1}'.encode(encoding))
    # a UTF-16 file with its mark (a settings.json PowerShell wrote, which loaded before) says how to convert it
    with pytest.raises(JsonError, match=r"UTF-16 text, not UTF-8: convert it with `iconv -f UTF-16 -t UTF-8`"):
        parse_json('{"id": 1}'.encode("utf-16"))
    assert parse_json(b'\xef\xbb\xbf{"id": 1}') == {"id": 1}
    assert parse_json('{"가": "나"}'.encode()) == {"가": "나"}
