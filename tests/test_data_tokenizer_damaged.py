"""`axk1 data tokenizer train` and `axk1 data stats` on damaged or odd input: rows holding a lone surrogate, an output
folder that cannot be written, cut or false gzip files, FIFOs and upper-case names in a data folder, and documents
longer than the trainer's cut."""

import json
import os

import pytest

from axk1.cli import main

LONE = '{"text": "hello \\ud800 world"}'  # valid JSON; no UTF-8 writer or tokenizer can encode the text


def _jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _no_training(monkeypatch):
    """Training fails the test: what is checked must be refused before it."""
    import axk1.data.tokenizer as tokenizer

    def trained(*args, **kwargs):
        raise AssertionError("trained before refusing")
    monkeypatch.setattr(tokenizer, "train_tokenizer", trained)


def test_a_row_with_a_lone_surrogate_is_skipped_counted_and_placed(tmp_path, capsys):
    """It stopped training half-way (inside the trainer, every earlier row read) with a UTF-8 codec error naming no
    file or line. Now it is skipped like any row without usable text, and the first one's file:line is named."""
    data = _jsonl(tmp_path / "a.jsonl", ['{"text": "fine text, fine text"}', LONE, '{"text": "more fine text"}'])
    assert main(["data", "tokenizer", "train", str(data), "-o", str(tmp_path / "tok"), "--vocab-size", "300"]) == 0
    err = capsys.readouterr().err
    assert "1 lone surrogate in `text`" in err and f"(first: {data}:2)" in err
    assert (tmp_path / "tok" / "tokenizer.json").exists()


def test_held_out_rows_are_checked_whole_before_training(tmp_path, capsys, monkeypatch):
    """A held-out row with a lone surrogate passed the check and, after the training, was a TypeError traceback."""
    data = _jsonl(tmp_path / "d.jsonl", ["{\"text\": \"hello world hello world\"}"])
    bad = _jsonl(tmp_path / "bad.jsonl", ['{"text": "x \\udc80 y"}'])
    mixed = _jsonl(tmp_path / "mixed.jsonl", ['{"text": "x \\udc80 y"}', '{"text": "a row to measure"}'])
    out = tmp_path / "tok"
    base = ["data", "tokenizer", "train", str(data), "-o", str(out), "--vocab-size", "300"]
    with monkeypatch.context() as m:
        _no_training(m)
        assert main(base + ["--heldout", f"bad={bad}"]) == 2
    err = capsys.readouterr().err
    assert "has no row to measure" in err and f"{bad}:1" in err and "lone surrogate" in err
    assert not out.exists()
    assert main(base + ["--heldout", f"mixed={mixed}"]) == 0
    captured = capsys.readouterr()
    assert "--heldout mixed: rows skipped (not measured): 1 lone surrogate" in captured.err
    assert "mixed: " in captured.out and "characters/token" in captured.out


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_an_output_folder_that_cannot_be_written_is_refused_before_training(tmp_path, capsys, monkeypatch, where):
    """`-o afile/sub` and `-o /proc/x` were refused only after the whole training, with a bare OS error."""
    data = _jsonl(tmp_path / "d.jsonl", ["{\"text\": \"hello world hello world\"}"])
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "sub" if where == "under_a_file" else "/proc/axk1-tokenizer-test"
    _no_training(monkeypatch)
    assert main(["data", "tokenizer", "train", str(data), "-o", str(out), "--vocab-size", "300"]) == 2
    err = capsys.readouterr().err
    assert f"-o {out}: cannot write there" in err and "Traceback" not in err


def test_a_refused_training_leaves_no_folder_it_made(tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_text("\n")
    out = tmp_path / "new" / "tok"
    assert main(["data", "tokenizer", "train", str(tmp_path / "empty.jsonl"), "-o", str(out)]) == 2
    assert "no training text" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_a_cut_or_false_gzip_file_is_one_line_naming_it(tmp_path, capsys):
    """A cut .jsonl.gz was an EOFError traceback, a file that is no gzip `Not a gzipped file (b'no')`, naming no file
    (tokenizer train and stats alike)."""
    import gzip

    rows = "".join(json.dumps({"text": " ".join(str(i * j * 7919) for j in range(40))}) + "\n" for i in range(3000))
    whole = gzip.compress(rows.encode())
    for name, data in (("cut", whole[:20000]), ("false", b"not gzip\n")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "A.jsonl.gz").write_bytes(data)
        for argv in (["data", "tokenizer", "train", str(folder), "-o", str(tmp_path / f"tok_{name}")],
                     ["data", "stats", str(folder)]):
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert f"{folder / 'A.jsonl.gz'} is a gzip stream that is cut short or damaged" in err, err
            assert "Traceback" not in err, err


def test_odd_files_in_a_data_folder_are_named_and_upper_case_suffixes_read(tmp_path, capsys):
    """A FIFO named b.jsonl was passed over without a word, EN.JSONL was not read at all."""
    folder = tmp_path / "in"
    folder.mkdir()
    _jsonl(folder / "a.jsonl", ["{\"text\": \"hello world\"}"])
    _jsonl(folder / "EN.JSONL", ["{\"text\": \"upper case name\"}", "{\"text\": \"and another row\"}"])
    os.mkfifo(folder / "b.jsonl")
    (folder / "c.jsonl").symlink_to(tmp_path / "gone.jsonl")
    assert main(["data", "stats", str(folder)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["documents"] == 3
    for name in ("b.jsonl", "c.jsonl"):
        assert f"skipped: {folder / name} (not a regular file" in captured.err
    fifo = tmp_path / "f.jsonl"
    os.mkfifo(fifo)  # given by name: refused, never waited on
    assert main(["data", "stats", str(fifo)]) == 2 and "not a regular file" in capsys.readouterr().err


def test_the_sample_budget_counts_what_is_trained(tmp_path):
    """train_tokenizer keeps a document's first max_chars_per_doc characters; the sample counted every document
    whole, so a budget over long documents trained on a fraction of it."""
    from axk1.data.tokenizer import TokenizerConfig, iter_sample_texts

    cap = TokenizerConfig().max_chars_per_doc  # 100,000
    _jsonl(tmp_path / "a.jsonl", [{"text": f"w{i} " * cap} for i in range(5)])  # 3 x cap characters each
    texts = list(iter_sample_texts([tmp_path], 3 * cap))
    assert [len(t) for t in texts] == [cap] * 3  # three documents' trained parts, not one whole document
