"""compressed_file.read_lines, the one reader of a compressed JSON Lines file, and the readers that use it: a stream
cut short is one line naming the file and what to do (the synth documents reader let gzip's EOFError out as a
35-line traceback), and .zst, .bz2 and .xz are read where only .gz was."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

import pytest
import zstandard

from axk1.cli import main
from axk1.compressed_file import read_lines
from axk1.data.classify import train_domain_classifier
from axk1.data.stats import read_jsonl_rows
from axk1.eval.tasks.humaneval import read_problems
from axk1.synth.documents import read_documents
from axk1.text.contamination import read_benchmark

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
COMPRESS = {"gz": gzip.compress, "zst": zstandard.ZstdCompressor().compress, "bz2": bz2.compress,
            "xz": lzma.compress}
CODEC = {"gz": "gzip", "zst": "zstd", "bz2": "bzip2", "xz": "xz"}


def _rows(n: int) -> bytes:
    return "".join(json.dumps({"id": f"d{i}", "text": f"문서 {i} " + "가나다라 " * 40}, ensure_ascii=False) + "\n"
                   for i in range(n)).encode()


def _cut(path: Path, suffix: str, n: int = 400) -> Path:
    whole = COMPRESS[suffix](_rows(n))
    path.write_bytes(whole[:len(whole) // 2])
    return path


@pytest.mark.parametrize("suffix", sorted(COMPRESS))
def test_each_codec_is_read_whole_and_a_cut_one_is_one_error_naming_the_file(tmp_path, suffix):
    whole = tmp_path / f"d.jsonl.{suffix}"
    whole.write_bytes(COMPRESS[suffix](_rows(30)))
    assert b"".join(read_lines(whole, "x")) == _rows(30)
    cut = _cut(tmp_path / f"cut.jsonl.{suffix}", suffix)
    with pytest.raises(ValueError, match=rf"^the data {cut} is a {CODEC[suffix]} stream that is cut short or "
                                         r"damaged( after line \d+)? \(.+\): do this$"):
        list(read_lines(cut, "do this", what="the data"))


def test_a_file_that_cannot_be_opened_raises_as_it_is(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(read_lines(tmp_path / "none.jsonl.gz", "x"))


def test_synth_names_a_cut_gzip_documents_file_in_one_line(tmp_path, capsys):
    """The reviewer's repro: `axk1 data synth` of a .jsonl.gz cut in half ended in EOFError's traceback."""
    cut = _cut(tmp_path / "cut.jsonl.gz", "gz")
    with pytest.raises(ValueError, match=rf"documents file {cut} is a gzip stream that is cut short or damaged "
                                         r"after line \d+ \(.+\): compress the documents again"):
        list(read_documents(cut))
    code = main(["data", "synth", "--teacher", "openai:http://127.0.0.1:9/v1", "--teacher-model", "x",
                 "--recipe", str(RECIPES / "synth" / "default.toml"), "-o", str(tmp_path / "out" / "o.jsonl"),
                 str(cut)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"documents file {cut} is a gzip stream that is cut short or damaged" in err
    assert "Traceback" not in err and "EOFError" not in err, err


def test_synth_documents_read_zstd_and_xz(tmp_path):
    for suffix in ("zst", "xz"):
        path = tmp_path / f"docs.jsonl.{suffix}"
        path.write_bytes(COMPRESS[suffix](_rows(5)))
        assert [d.id for _, d, _ in read_documents(path)] == [f"d{i}" for i in range(5)]


def test_stats_benchmarks_humaneval_and_the_classifier_read_zstd_xz_and_bzip2(tmp_path):
    data = tmp_path / "corpus.jsonl.zst"
    data.write_bytes(COMPRESS["zst"](_rows(7)))
    assert [row["id"] for _, row in read_jsonl_rows([data])] == [f"d{i}" for i in range(7)]
    assert read_benchmark(data.name, tmp_path).rows == 7

    problem = {"task_id": "t/0", "prompt": "def f():\n", "test": "def check(c): pass\n", "entry_point": "f"}
    humaneval = tmp_path / "he.jsonl.xz"
    humaneval.write_bytes(lzma.compress((json.dumps(problem) + "\n").encode()))
    assert read_problems(humaneval) == [problem]

    labelled = tmp_path / "labelled.jsonl.bz2"
    labelled.write_bytes(bz2.compress(b'{"text": "\xea\xb0\x80\xeb\x82\x98 books", "domain": "books"}\n'))
    assert train_domain_classifier([labelled], tmp_path / "m.npz")["labels"] == {"books": 1}


def test_stats_and_benchmarks_name_a_cut_xz_file(tmp_path):
    cut = _cut(tmp_path / "cut.jsonl.xz", "xz")
    with pytest.raises(ValueError, match=rf"{cut} is a xz stream that is cut short or damaged .*move it out"):
        list(read_jsonl_rows([cut]))
    with pytest.raises(ValueError, match=rf"benchmark file {cut} is a xz stream .*drop it from the benchmark list"):
        read_benchmark(cut.name, tmp_path)
