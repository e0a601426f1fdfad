"""The token-shard format has one writer and one checked reader (axk1/token_shards.py): every corpus the project
writes (the data pipeline's, the sweep's byte corpus, the synthetic shards) carries the same manifest fields, and a
manifest of another format, byte order or dtype is refused with the file and the field named, not read as other
tokens than were written."""

import json

import numpy as np
import pytest

from axk1.plan.sweep_corpus import write_byte_corpus
from axk1.token_shards import FORMAT, read_manifest, write_token_shards
from axk1.train.data import load_shards
from tests.synthetic_shards import write_synthetic_shards

FIELDS = {"format", "dtype", "byte_order", "offsets_dtype", "document_prefix", "vocab_size", "total_tokens",
          "total_docs", "domains", "shards"}


def test_every_writer_writes_the_same_manifest_fields(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("print('hello')\n" * 500)
    sweep = json.loads(write_byte_corpus(tmp_path / "sweep", source=src).read_text())
    synthetic = json.loads(write_synthetic_shards(tmp_path / "synthetic", docs=5).read_text())
    for manifest in (sweep, synthetic):
        assert FIELDS <= set(manifest), FIELDS - set(manifest)
        assert manifest["format"] == FORMAT
        assert manifest["total_docs"] == sum(s["docs"] for s in manifest["shards"])
        assert manifest["total_tokens"] == sum(d["tokens"] for d in manifest["domains"].values())
    assert synthetic["domains"]["web"]["buckets"]["d0"] == {"docs": 5, "tokens": synthetic["shards"][0]["tokens"]}
    # the bytes are the documents: 7,500 bytes in documents of 4,000, each after its bos
    (shard,) = load_shards(tmp_path / "sweep" / "manifest.json")[1]
    assert list(shard.offsets) == [0, 4001, 7502]
    assert bytes((np.asarray(shard.tokens[1:4001]) - 3).astype(np.uint8)) == (src / "a.py").read_bytes()[:4000]


@pytest.mark.parametrize("field, value", [
    ("byte_order", "big"),
    ("dtype", "uint16"),
    ("offsets_dtype", "uint32"),
    ("format", "axk1-token-shards-v2"),
])
def test_a_manifest_of_another_layout_is_refused_naming_the_field(tmp_path, field, value):
    path = write_token_shards(tmp_path, {("web", "d0"): [[1, 5, 6, 7], [1, 8]]}, 16, document_prefix="token id 1")
    load_shards(path)  # as written: read
    manifest = json.loads(path.read_text())
    manifest[field] = value
    path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=f"{path}: .*\"{field}\" .*{value}") as e:
        load_shards(path)
    assert "re-run the data pipeline" in str(e.value)


def test_a_manifest_without_a_format_is_refused(tmp_path):
    path = write_token_shards(tmp_path, {("web", "d0"): [[1, 5]]}, 16, document_prefix="token id 1")
    manifest = json.loads(path.read_text())
    del manifest["format"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=f"{path}: a token-shard manifest has \"format\" '{FORMAT}', this one has "
                                         "no \"format\""):
        read_manifest(path)
