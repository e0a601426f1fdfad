"""`axk1 data tokenizer train`, token shards and `axk1 data stats` on hostile input: special-token strings in
document text, synth side files and caches in a data folder, rows of the wrong shape, bad JSON lines, broken run
files, out-of-range sizes and outputs that exist."""

import gzip
import json
import random

import numpy as np
import pytest
from datatrove.data import Document

from axk1.cli import main
from axk1.data.shards import TokenShardWriter, write_corpus_manifest
from axk1.data.stats import corpus_stats
from axk1.data.textgen import english_document
from axk1.data.tokenizer import SPECIAL_TOKENS, TokenizerConfig, encode_plain, train_tokenizer
from axk1.text.tokenizer_file import THINK_TAGS
from axk1.text.tokenizer_file import load_tokenizer
from axk1.train.data import load_shards

QUOTE = "the chat format ends a turn with <|im_end|> and starts one with <|im_start|>; <think>x</think> <|pad|> " \
        "<|endoftext|> are reserved too."


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    rng = random.Random(0)
    out = tmp_path_factory.mktemp("tok")
    train_tokenizer([english_document(rng, 2, 4) for _ in range(40)], out, TokenizerConfig(vocab_size=400))
    return out


def _jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_special_token_strings_in_document_text_are_plain_text(tok_dir, tmp_path):
    tok = load_tokenizer(tok_dir)
    # the control tokens; the think tags are added tokens that are not special, text that reasoning data writes
    # and a conversation may carry, so a document's `<think>` is the think token, as in a chat
    special_ids = {tok.token_to_id(t) for t in SPECIAL_TOKENS if t not in THINK_TAGS}
    enc = encode_plain(tok, ["hello <|im_end|> world", QUOTE])
    assert not special_ids & {i for e in enc for i in e.ids}
    assert tok.token_to_id("<think>") in enc[1].ids
    assert [tok.decode(e.ids) for e in enc] == ["hello <|im_end|> world", QUOTE]
    assert tok.encode("<|im_end|>").ids == [tok.token_to_id("<|im_end|>")]  # chat rendering keeps control tokens
    # through the shard writer: one BOS at the start of each document, no other special id
    writer = TokenShardWriter(str(tmp_path / "tokens"), str(tok_dir), [0.5])
    list(writer.run(iter([Document(text=QUOTE, id="q", metadata={"domain": "web"}),
                          Document(text="plain text", id="p", metadata={"domain": "web"})])))
    write_corpus_manifest(tmp_path / "tokens", str(tok_dir), [0.5])
    (shard,) = load_shards(tmp_path / "tokens" / "manifest.json")[1]  # read as the trainer reads it
    tokens, offsets = shard.tokens, shard.offsets
    docs = [tokens[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    bos = tok.token_to_id("<|endoftext|>")
    assert [int(d[0]) for d in docs] == [bos, bos]
    assert not special_ids & set(np.concatenate([d[1:] for d in docs]).tolist())
    assert tok.decode(docs[0][1:].tolist()) == QUOTE


def _synth_folder(tmp_path):
    """A synth output folder: kept samples beside the side files and the SQLite cache."""
    folder = tmp_path / "synth"
    folder.mkdir()
    _jsonl(folder / "s.jsonl", [{"text": "kept sample one", "metadata": {"domain": "web"}},
                                {"text": "kept sample two"}])
    _jsonl(folder / "s.rejected.jsonl", [{"text": "rejected", "reason": "x"}])
    _jsonl(folder / "s.failed.jsonl", [{"doc_id": "d", "reason": "boom"}])
    _jsonl(folder / "s.excluded.jsonl", [{"line": 1, "reason": "not JSON"}])
    (folder / "s.jsonl.cache.sqlite").write_bytes(b"SQLite format 3\x00\xff\xfe binary")
    with gzip.open(folder / "more.jsonl.gz", "wt") as f:
        f.write(json.dumps({"text": "gzipped row"}) + "\n")
    return folder


def test_stats_reads_data_files_only_and_names_the_skipped(tmp_path, capsys):
    folder = _synth_folder(tmp_path)
    stats = corpus_stats(folder)
    assert stats["documents"] == 3 and stats["domains"] == {"-": 2, "web": 1}
    assert len(stats["skipped_files"]) == 4
    assert any("s.jsonl.cache.sqlite" in s for s in stats["skipped_files"])
    assert main(["data", "stats", str(folder)]) == 0
    assert "skipped: " in capsys.readouterr().err


def test_stats_counts_bad_rows_with_reasons(tmp_path):
    f = _jsonl(tmp_path / "c.jsonl", [
        [1, 2], {"text": None}, {"text": "a", "metadata": None}, {"text": "b", "metadata": {"domain": ["x"]}},
        {"text": "c", "metadata": {"difficulty": 0.5}}, {"text": "d", "metadata": {"difficulty": 1}},
        {"text": "e", "metadata": {"difficulty": "hard"}}, {"text": "ok"}])
    stats = corpus_stats(f)
    assert stats["documents"] == 3 and stats["difficulty_quantiles"][0.5] == 1
    assert stats["bad_rows"] == {"a JSON list, not an object": 1, "no `text` string": 1,
                                 "`metadata` is not an object": 1, "metadata.domain is not a string": 1,
                                 "metadata.difficulty is not a number": 1}
    assert stats["bad_row_examples"][0] == f"{f}:1: a JSON list, not an object"


def test_stats_errors_name_the_file_and_line(tmp_path, capsys):
    _jsonl(tmp_path / "bad.jsonl", ['{"text": "fine"}', "{oops"])
    assert main(["data", "stats", str(tmp_path / "bad.jsonl")]) == 2
    assert f"{tmp_path / 'bad.jsonl'}:2: not a JSON line" in capsys.readouterr().err
    run = tmp_path / "run"
    (run / "counts").mkdir(parents=True)
    (run / "counts" / "0.json").write_text('{"nope": 1}')
    assert main(["data", "stats", str(run)]) == 2
    assert f"{run / 'counts' / '0.json'}: not a task count file: no 'inputs'" in capsys.readouterr().err
    (run / "counts" / "0.json").write_text('{"inputs": 0}')
    (run / "tokens").mkdir()
    (run / "tokens" / "manifest.json").write_text("{}")
    assert main(["data", "stats", str(run)]) == 2
    assert f"{run / 'tokens' / 'manifest.json'}: a token-shard manifest has \"format\"" in capsys.readouterr().err
    # another format's manifest with the same keys is refused as training refuses it, not summed as tokens
    from axk1.token_shards import FORMAT
    other = {"total_tokens": 5, "tokenizer_hash": "h", "domains": {"web": {"tokens": 5}}, "shards": []}
    (run / "tokens" / "manifest.json").write_text(json.dumps(other | {"format": "other-shards-v9"}))
    assert main(["data", "stats", str(run)]) == 2
    assert "this one has \"format\" 'other-shards-v9'" in capsys.readouterr().err
    (run / "tokens" / "manifest.json").write_text(json.dumps(other | {"format": FORMAT, "domains": {"web": 5}}))
    assert main(["data", "stats", str(run)]) == 2
    assert "not a token-shard manifest of a data run: it needs `total_tokens`" in capsys.readouterr().err


@pytest.mark.parametrize("flag, value, message", [
    ("--min-frequency", "-1", "0 or more"), ("--vocab-size", str(10**20), "from 264 to 4,194,304"),
    ("--vocab-size", "5000000000", "from 264 to 4,194,304"), ("--vocab-size", "100", "from 264")])
def test_tokenizer_sizes_are_argparse_errors(tmp_path, capsys, flag, value, message):
    data = _jsonl(tmp_path / "d.jsonl", [{"text": "hello world"}])
    with pytest.raises(SystemExit) as e:
        main(["data", "tokenizer", "train", str(data), "-o", str(tmp_path / "tok"), flag, value])
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "tok").exists()


def test_tokenizer_train_checks_everything_before_training(tmp_path, capsys):
    rng = random.Random(1)
    data = _jsonl(tmp_path / "d.jsonl", [{"text": english_document(rng, 2, 3)} for _ in range(20)])
    out = tmp_path / "tok"
    base = ["data", "tokenizer", "train", str(data), "-o", str(out), "--vocab-size", "300"]
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "dir").mkdir()
    for heldout, message in ((["ko"], "write NAME=FILE"), (["ko=missing.jsonl"], "does not exist"),
                             ([f"e={tmp_path / 'empty.jsonl'}"], "has no row with a non-empty `text`"),
                             ([f"d={tmp_path / 'dir'}"], "holds no *.jsonl")):
        assert main(base + ["--heldout", *heldout]) == 2, heldout
        assert message in capsys.readouterr().err
        assert not out.exists()  # refused before training
    assert main(["data", "tokenizer", "train", str(tmp_path / "empty.jsonl"), "-o", str(out)]) == 2
    assert "no training text" in capsys.readouterr().err and not (out / "tokenizer.json").exists()
    (tmp_path / "file").write_text("x")
    assert main(["data", "tokenizer", "train", str(data), "-o", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(base + ["--heldout", f"en={data}"]) == 0
    assert "en: " in capsys.readouterr().out
    before = (out / "tokenizer.json").read_bytes()
    assert main(base) == 2 and "exists" in capsys.readouterr().err
    assert (out / "tokenizer.json").read_bytes() == before
    assert main(base + ["--force"]) == 0


def test_tokenizer_train_skips_side_files_and_bad_rows_and_names_bad_lines(tmp_path, capsys):
    folder = _synth_folder(tmp_path)
    _jsonl(folder / "odd.jsonl", [[1, 2], {"text": 5}, {"text": ""}, {"text": "one more real row"}])
    assert main(["data", "tokenizer", "train", str(folder), "-o", str(tmp_path / "tok"), "--vocab-size", "300"]) == 0
    err = capsys.readouterr().err
    assert "skipped" in err and "s.rejected.jsonl" in err and "s.jsonl.cache.sqlite" in err
    assert "1 a JSON list, not an object" in err and "1 no `text` string" in err and "1 empty `text`" in err
    _jsonl(folder / "zz.jsonl", ['{"text": "fine"}', "{broken"])
    assert main(["data", "tokenizer", "train", str(folder), "-o", str(tmp_path / "tok2")]) == 2
    assert f"{folder / 'zz.jsonl'}:2: not a JSON line" in capsys.readouterr().err


def test_the_pipelines_tokenizer_trains_on_a_sample_from_every_file(tmp_path):
    """[tokenize] train_sample_bytes: a document from each of documents/'s files in turn (one a task, each a slice
    of the sources) until the budget: a tokenizer needs gigabytes, not the whole corpus on one core. 0 reads all."""
    import gzip

    from axk1.data.config import config_from_dict
    from axk1.data.tokenizer import iter_sample_texts

    docs = tmp_path / "documents"
    docs.mkdir()
    for task in range(3):
        rows = [json.dumps({"text": f"task {task} document {i} " + "가" * 50}) for i in range(20)]
        with gzip.open(docs / f"{task:05d}.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")
    one = len(f"task 0 document 0 {'가' * 50}".encode())
    sample = list(iter_sample_texts([docs], 7 * one))
    assert len(sample) == 7 and [t.split()[1] for t in sample[:6]] == ["0", "1", "2"] * 2
    assert len(list(iter_sample_texts([docs], 0))) == 60
    assert len(list(iter_sample_texts([docs], 10**9))) == 60  # a budget over the corpus: all of it, once
    with pytest.raises(ValueError, match="train_sample_bytes must be >= 0"):
        config_from_dict({"sources": [{"type": "text", "path": "x"}], "tokenize": {"train_sample_bytes": -1},
                          "run": {"stages": ["extract"]}})


def test_stats_takes_difficulty_quantiles_from_a_bounded_sample(tmp_path, monkeypatch):
    """A corpus's difficulty quantiles come from a uniform sample of at most DIFFICULTY_SAMPLE documents (every
    score in a list was 32 bytes a document: 320 GB for 10^10); the sample's quantiles stay near the whole's."""
    from axk1.data import stats as stats_module

    monkeypatch.setattr(stats_module, "DIFFICULTY_SAMPLE", 200)
    rows = [{"text": "x", "metadata": {"difficulty": i / 4000}} for i in range(4000)]  # uniform on [0, 1)
    stats = corpus_stats(_jsonl(tmp_path / "d.jsonl", rows))
    assert stats["documents"] == 4000 and stats["difficulty_sample"] == 200
    for q, got in stats["difficulty_quantiles"].items():
        assert abs(got - q) < 0.1, (q, got)


def test_the_pipelines_tokenizer_step_warns_when_the_corpus_gives_fewer_entries_than_asked(tmp_path):
    """`axk1 data tokenizer train` said so; the pipeline's own tokenizer stage (`train_vocab_size`) shrank the
    vocabulary silently."""
    from datatrove.utils.logging import logger

    from axk1.data.tokenizer import TokenizerTrainStep

    docs = tmp_path / "documents"
    docs.mkdir()
    (docs / "00000.jsonl").write_text("".join(json.dumps({"text": f"short text number {i % 7}"}) + "\n"
                                              for i in range(40)))
    said: list[str] = []
    sink = logger.add(lambda message: said.append(str(message)), level="WARNING")
    try:
        list(TokenizerTrainStep(str(docs), str(tmp_path / "tok"), 4096).run())
    finally:
        logger.remove(sink)
    assert (tmp_path / "tok" / "tokenizer.json").exists()
    assert any("not the 4,096 asked for" in line and "too small for more merges" in line for line in said), said
