"""Where a failed record is: every failure of a jsonl or parquet source is named by its file and its place, 1-based
in both (a probe found `empty_text` named only by the record's own `id`, `p101`, which cannot be found when ids
repeat across files, and parquet rows counted from 0 where JSONL lines count from 1). And a UTF-8 byte-order mark
is dropped at the start of any line, not only the first: files that each start with one, joined with `cat`, failed
their later first lines as invalid JSON."""

import json

from axk1.data.failure import Failure
from axk1.data.sources import SourceConfig, SourceReader, read_source_file
from tests.data_helpers import FailureSink


def _failed(specs):
    sink = FailureSink()
    kept = list(SourceReader(specs, failed_writer=sink).run())
    return kept, [(d.id, d.metadata["failure_reason"]) for d in sink.docs]


def test_an_empty_record_is_named_by_its_file_and_line_and_keeps_its_own_id(tmp_path):
    for name in ("a", "b"):  # the same record ids in both files
        (tmp_path / f"{name}.jsonl").write_text(json.dumps({"id": "p1", "text": "좋은 문장입니다."}) + "\n"
                                                + json.dumps({"id": "p2", "text": " \u200b"}) + "\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({"text": ""}) + "\n")  # no id of its own
    kept, failed = _failed([SourceConfig(type="jsonl", path=str(tmp_path), name="web")])
    assert [d.id for d in kept] == ["p1", "p1"]  # a kept document keeps the record's id
    assert failed == [("web/a.jsonl:2 (id p2)", "empty_text"), ("web/b.jsonl:2 (id p2)", "empty_text"),
                      ("web/c.jsonl:1", "empty_text")]


def test_every_failure_of_a_record_keeps_its_own_id_after_its_place(tmp_path):
    """Only empty_text did: a missing or non-string text, a lone surrogate or an over-long line showed `file:line`
    although the record had an id."""
    rows = [{"id": "m1", "body": "본문"}, {"id": "s1", "text": 5}, {"id": "u1", "text": "a\ud800b"},
            {"id": "l1", "text": "a" * 30}, {"text": 5}]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    kept, failed = _failed([SourceConfig(type="jsonl", path=str(tmp_path), name="web", max_line_chars=20)])
    assert kept == []
    assert [(where, reason.split(" ")[0]) for where, reason in failed] == [
        ("web/a.jsonl:1 (id m1)", "missing_text_field"), ("web/a.jsonl:2 (id s1)", "text_not_a_string"),
        ("web/a.jsonl:3 (id u1)", "lone_surrogate"), ("web/a.jsonl:4 (id l1)", "line_too_long"),
        ("web/a.jsonl:5", "text_not_a_string")]


def test_parquet_rows_are_numbered_from_one_like_jsonl_lines(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["첫째 줄입니다.", None, "셋째 줄입니다.", ""],
                             "id": ["r1", "r2", "r3", "r4"]}), tmp_path / "a.parquet")
    kept, failed = _failed([SourceConfig(type="parquet", path=str(tmp_path / "a.parquet"), name="pq")])
    assert [d.id for d in kept] == ["r1", "r3"]
    assert failed == [("pq/a.parquet:2 (id r2)", "text_not_a_string ('text' is NoneType)"),
                      ("pq/a.parquet:4 (id r4)", "empty_text")]


def test_a_byte_order_mark_at_the_start_of_any_line_is_dropped(tmp_path):
    bom = "\ufeff"
    one = json.dumps({"text": "첫 파일의 문장입니다."}) + "\n"
    two = json.dumps({"text": "둘째 파일의 문장입니다."}) + "\n"
    # `cat a.jsonl b.jsonl c.jsonl`, each saved with a mark; c.jsonl held a mark alone (an empty file saved so)
    (tmp_path / "all.jsonl").write_text(bom + one + bom + two + bom + bom + one)
    items = list(read_source_file(SourceConfig(type="jsonl", path=str(tmp_path / "all.jsonl")),
                                  tmp_path / "all.jsonl"))
    assert [x.reason for x in items if isinstance(x, Failure)] == []
    assert [x.text for x in items] == ["첫 파일의 문장입니다.", "둘째 파일의 문장입니다.",
                                       "첫 파일의 문장입니다."]
