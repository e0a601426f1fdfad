"""The `[[sources]]` keys are documented (docs/data.md, "Sources": the table is checked against SourceConfig here),
and a JSON-lines file the reader cannot take says why and what to change: a record without the text field names
the keys it has and `text_field`, a `.json` array says JSON lines are expected, a CP949 line is decoded as a
CP949 text file is."""

import dataclasses
import json
import re
from pathlib import Path

from axk1.data.sources import SOURCE_TYPES, SourceConfig, read_source_file

DOC = Path(__file__).resolve().parents[1] / "docs" / "data.md"


def _sources_section() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split("\n## Sources\n", 1)[1].split("\n## ", 1)[0]


def _documented_default(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def test_every_source_key_and_type_is_documented_with_its_default():
    section = _sources_section()
    rows = {m.group(1): m.group(2).strip() for m in re.finditer(r"^\| `(\w+)` \| ([^|]*) \|", section, re.M)}
    for f in dataclasses.fields(SourceConfig):
        assert f.name in rows, f"docs/data.md, \"Sources\" has no row for `{f.name}`"
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            assert rows[f.name] == "(required)"
        elif f.name != "name":  # its default is computed from the path
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            assert rows[f.name].startswith(f"`{_documented_default(default)}`"), (f.name, rows[f.name])
    for kind in SOURCE_TYPES:
        assert f"| `{kind}` |" in section, f"source type {kind} is not in the table"


def _read(tmp_path, name: str, data: bytes, **spec):
    (tmp_path / name).write_bytes(data)
    source = SourceConfig(type="jsonl", path=str(tmp_path), **spec)
    return list(read_source_file(source, tmp_path / name))


def test_a_record_without_the_text_field_names_its_keys_and_the_setting(tmp_path):
    (item,) = _read(tmp_path, "a.jsonl", b'{"content": "hello", "id": 1}\n')
    assert "missing_text_field 'text'" in item.reason
    assert "'content', 'id'" in item.reason and "text_field" in item.reason
    (doc,) = _read(tmp_path, "a.jsonl", b'{"content": "hello", "id": 1}\n', text_field="content")
    assert doc.text == "hello" and doc.id == "1"


def test_a_json_array_file_says_json_lines_are_expected(tmp_path):
    rows = [{"text": "a"}, {"text": "b"}]
    for name, data in (("one_line.json", json.dumps(rows)), ("indented.json", json.dumps(rows, indent=1))):
        (item,) = _read(tmp_path, name, data.encode())  # one failure for the file, not one per line
        assert item.reason.startswith("not_json_lines") and "one object per line" in item.reason
        assert "jq -c '.[]'" in item.reason


def test_a_cp949_line_is_decoded_as_a_cp949_text_file_is(tmp_path):
    korean = "안녕하세요, 한국어 문서입니다."
    data = json.dumps({"text": korean}, ensure_ascii=False).encode("cp949") + b'\n{"text": "\xff\xfe"}\n'
    doc, bad = _read(tmp_path, "k.jsonl", data)
    assert doc.text == korean and doc.metadata["charset"] == "cp949"
    assert bad.reason.startswith("invalid_utf8 at byte") and "nor CP949" in bad.reason
