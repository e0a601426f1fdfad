"""Hostile files against post-training's readers (a probe in session 38): a zstd chat or task file cut short read
without error and its missing rows gone; a tar (or tar.gz) of JSON Lines read as JSON Lines less some rows; a
UTF-16 task file half parsed; an AIME file's BOM refused, its bad line unnamed and its rows without a problem
skipped; task ids 0 and [1] turned into a hash and a repr; messages naming a temporary file or "NoneType"."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from axk1.posttrain.chat_formats import read_chat_rows
from axk1.posttrain.chat_report import ChatReport
from axk1.posttrain.decontam import evaluation_texts
from axk1.posttrain.tasks import parse_task, read_tasks

ROWS = [{"messages": [{"role": "user", "content": f"What is {i} + 1?"},
                      {"role": "assistant", "content": str(i + 1)}]} for i in range(3000)]
TASKS = [{"id": f"t{i}", "prompt": f"What is {i} + 1?", "answer": str(i + 1), "response": str(i + 1)}
         for i in range(3000)]


def _lines(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _chat_rows(path: Path) -> list:
    return list(read_chat_rows([path], ChatReport()))


def test_a_zstd_file_cut_short_is_refused_naming_it_and_a_whole_one_reads_every_row(tmp_path):
    """zstandard's stream reader ends quietly inside a cut frame: SFT read 1,379 of 3,000 rows and said nothing."""
    chat, tasks = _lines(ROWS), _lines(TASKS)
    for name, data in (("chat.jsonl.zst", chat), ("tasks.jsonl.zst", tasks)):
        packed = zstandard.ZstdCompressor().compress(data)
        (tmp_path / name).write_bytes(packed[: len(packed) * 3 // 4])
    with pytest.raises(ValueError, match=r"chat data .*chat\.jsonl\.zst is a zstd stream that is cut short"):
        _chat_rows(tmp_path / "chat.jsonl.zst")
    with pytest.raises(ValueError, match=r"task file .*tasks\.jsonl\.zst is a zstd stream that is cut short"):
        read_tasks(tmp_path / "tasks.jsonl.zst")
    # a damaged frame is refused as a damaged gzip stream is, not a ZstdError traceback
    packed = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(chat))  # as the zstd tool writes
    packed[len(packed) // 2: len(packed) // 2 + 64] = bytes(64)
    (tmp_path / "damaged.jsonl.zst").write_bytes(bytes(packed))
    with pytest.raises(ValueError, match=r"damaged\.jsonl\.zst is a zstd stream that is cut short or damaged"):
        _chat_rows(tmp_path / "damaged.jsonl.zst")
    # two frames (files compressed apart and joined) read whole
    half = len(ROWS) // 2
    (tmp_path / "two.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(_lines(ROWS[:half]))
                                             + zstandard.ZstdCompressor().compress(_lines(ROWS[half:])))
    assert [row for _, row in _chat_rows(tmp_path / "two.jsonl.zst")] == ROWS
    (tmp_path / "tasks.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(tasks))
    assert [t.id for t in read_tasks(tmp_path / "tasks.jsonl.zst")] == [t["id"] for t in TASKS]


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize("name, pack", [("rows.tar", lambda b: b), ("rows.tar.gz", gzip.compress),
                                        ("rows.jsonl", lambda b: b)])  # whatever its name
def test_a_tar_of_json_lines_is_refused_saying_to_extract_it(tmp_path, name, pack):
    """The NUL check looked at 8 bytes of the raw file (a tar's member name, no NUL) or at none (compressed): the
    rows between the tar's headers were read, the lines holding a header were "invalid json", the rest lost."""
    path = tmp_path / name
    path.write_bytes(pack(_tar({"rows_part_a.jsonl": _lines(ROWS[:50]), "rows_part_b.jsonl": _lines(ROWS[50:100])})))
    with pytest.raises(ValueError, match=rf"chat data {path} is a tar archive: extract it \(`tar -xf {path}`\)"):
        _chat_rows(path)
    path.write_bytes(pack(_tar({"train_tasks.jsonl": _lines(TASKS[:50])})))
    with pytest.raises(ValueError, match=rf"the task file {path} is a tar archive: extract it"):
        read_tasks(path)


def test_a_row_with_ustar_at_byte_257_is_no_tar(tmp_path):
    """Five bytes of the magic were compared: a Spanish row with "gustaría" at byte 257 refused the whole file."""
    path = tmp_path / "es.jsonl"
    first = {"messages": [{"role": "user", "content": "x" * 209 + " me gustaría"},
                          {"role": "assistant", "content": "sí"}]}
    text = _lines([first, *ROWS[:1]])
    assert text[257:262] == b"ustar"
    path.write_bytes(text)
    assert len(_chat_rows(path)) == 2


@pytest.mark.parametrize("encoding, wide", [("utf-16", "UTF-16"), ("utf-16-le", "UTF-16LE")])  # mark, and none
def test_a_utf16_task_file_is_refused_whole_with_the_iconv_command(tmp_path, encoding, wide):
    """json.loads guessed UTF-16 from a line's bytes: some lines parsed, the others were each an error that did not
    say the file's encoding was the matter. Without a mark the byte order is named (tests/test_json_wide_text.py)."""
    path = tmp_path / "tasks.jsonl"
    korean = {"prompt": "3 더하기 4는 얼마인가요?", "answer": "7", "lang": "ko"}  # not every other byte a NUL
    path.write_bytes(_lines([korean] + TASKS[:20]).decode().encode(encoding))
    with pytest.raises(ValueError, match=rf"the task file {path} is {wide} text.*`iconv -f {wide} -t UTF-8 {path}"):
        read_tasks(path)
    with pytest.raises(ValueError, match=rf"chat data {path} is {wide} text"):  # the chat reader's words, shared
        _chat_rows(path)


def test_an_aime_file_drops_its_bom_names_a_bad_line_and_refuses_rows_without_a_problem(tmp_path):
    """The --aime-en/--aime-ko file: a UTF-8 BOM made it unreadable, a bad line had no line number, and a row with
    "Problem" (not "problem") escaped decontamination without a word."""
    rows = [{"problem": f"Find the number of ordered pairs, case {i}.", "answer": "70"} for i in range(3)]
    good = tmp_path / "bom.jsonl"
    good.write_bytes(b"\xef\xbb\xbf" + _lines(rows))
    assert evaluation_texts(aime_en=good)["aime25"].texts == [r["problem"] for r in rows]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(_lines(rows[:1]) + b"{not json\n" + _lines(rows[1:]))
    assert evaluation_texts(aime_en=bad)["aime25"].source.startswith(f"not available: {bad}:2: not a JSON line")
    spelled = tmp_path / "spelled.jsonl"
    spelled.write_bytes(_lines(rows[:2]) + _lines([{"Problem": "A problem with another key.", "answer": "1"}]))
    ref = evaluation_texts(aime_en=spelled)["aime25"]
    assert ref.texts is None
    assert ref.source == (f"not available: {spelled}: 1 of 3 rows have no problem or question text, which "
                          "decontamination compares (first: line 3)")


def test_the_eval_task_and_decontamination_read_an_aime_file_with_byte_order_marks_alike(tmp_path):
    """Two readers of one AIME file disagreed: decontamination dropped a BOM, `axk1 eval` refused the line as "not a
    JSON line". Both read it with eval's aime.read_jsonl now: a mark at the start of the file, and one `cat` carried
    to a later line, are dropped, and the problems compared are the problems scored."""
    from axk1.eval.tasks.aime import read_jsonl

    rows = [{"problem": f"Find the number of ordered pairs, case {i}.", "answer": str(i)} for i in range(4)]
    joined = tmp_path / "joined.jsonl"  # `cat a.jsonl b.jsonl`, each saved by an editor that writes a mark
    joined.write_bytes(b"\xef\xbb\xbf" + _lines(rows[:2]) + b"\xef\xbb\xbf" + _lines(rows[2:]))
    assert [(n, row) for n, row in read_jsonl(joined)] == list(enumerate(rows, 1))
    assert evaluation_texts(aime_en=joined)["aime25"].texts == [r["problem"] for r in rows]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(_lines(rows[:1]) + b"[1, 2]\n")  # the eval's reader's word for a row that is no object
    assert evaluation_texts(aime_en=bad)["aime25"].source == (f"not available: {bad}:2: a JSON list, not an object "
                                                              "with problem/answer fields")


def test_a_task_id_of_0_is_kept_and_one_that_is_not_a_scalar_is_refused():
    row = {"prompt": "What is 1 + 1?", "answer": "2"}
    task, problems = parse_task({**row, "id": 0})
    assert problems == [] and task.id == "0"  # was a content hash: 0 is falsy
    for given, kind in (([1, 2], "array"), ({"a": 1}, "object")):
        task, problems = parse_task({**row, "id": given})
        assert task is None and problems[0] == (f"id is a JSON {kind}: give a string or a number, or leave it out "
                                                "(a content hash is given)")
    assert parse_task(None)[1] == ["a JSON null, not an object: give one task object per line"]  # not "NoneType"
    # an export's empty id column: distinct tasks shared the id "" (a third review); a boolean is no id either
    assert parse_task({**row, "id": ""})[0].id == parse_task(row)[0].id != ""
    assert parse_task({**row, "id": False})[1][0].startswith("id is a JSON boolean")


def test_task_and_output_paths_that_are_folders_are_named_as_such(tmp_path, capsys):
    from axk1.cli import main

    folder = tmp_path / "adir"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=rf"the task file {folder} is a folder: give a JSONL of tasks in it"):
        read_tasks(folder)
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_bytes(_lines(TASKS[:3] + TASKS[:1]))
    assert main(["posttrain", "chat", str(tasks), "--mode", "non-think", "-o", str(folder)]) != 0
    err = capsys.readouterr().err
    assert f"{folder} is a folder: give the path of the file to write" in err and ".tmp" not in err, err
    think = tmp_path / "think.jsonl"
    think.write_bytes(_lines(ROWS[:2]))
    assert main(["posttrain", "overlap", str(think), "-o", str(folder)]) != 0
    err = capsys.readouterr().err
    assert f"{folder} is a folder: give the path of the file to write" in err and ".tmp" not in err, err
    # one repeat, said in the singular
    assert main(["posttrain", "chat", str(tasks), "--mode", "non-think", "-o", str(tmp_path / "c.jsonl")]) == 0
    err = capsys.readouterr().err
    assert "note: 1 task repeats an earlier task's id (e.g. 't0', 2 times) and is written again" in err, err
