"""The pretraining sampler's rows over documents longer than a row (axk1/train/data.py::window_start): every token
of a long document is reachable, a row that starts inside a document separates documents as one that starts at a
document's start does (ids, labels, the attention mask, context-parallel chunks), and rows stay a pure function of
(seed, step, row). Each token is written as 10 + 1000·document + position, so a row says what it read."""

import textwrap

import numpy as np
import pytest
import torch

from axk1.model.attention_mask import DocumentMask
from axk1.parallel.context_parallel import shard_sequence
from axk1.train.data import StageSampler, load_shards, split_validation
from axk1.train.data_budget import data_budget
from axk1.train.loss import IGNORE_INDEX, mtp_labels
from axk1.train.recipe import load_recipe
from axk1.token_shards import write_token_shards

SEQ = 64


def _recipe(tmp_path, lengths, steps, held_out=0.0):
    docs = [[10 + 1000 * d + p for p in range(n)] for d, n in enumerate(lengths)]
    write_token_shards(tmp_path / "tokens", {("books", "d0"): docs}, 1000 * len(lengths) + 10,
                       document_prefix="token id 10")
    (tmp_path / "recipe.toml").write_text(textwrap.dedent(f"""
        [model]
        preset = "axk1-tiny"
        mtp_depth = 0
        [data]
        manifest = "tokens/manifest.json"
        seed = 3
        [validation]
        held_out = {held_out}
        [batch]
        global_sequences = 8
        micro_batch = 8
        [run]
        out_dir = "run"
        device = "cpu"
        [[stages]]
        name = "s1"
        tokens = {SEQ * 8 * steps}
        seq_len = {SEQ}
        mixture = {{ books = 1.0 }}
    """))
    return load_recipe(tmp_path / "recipe.toml")


def _doc_pos(ids):
    return (ids - 10) // 1000, (ids - 10) % 1000


def test_every_token_of_documents_longer_than_a_row_is_read(tmp_path):
    """50 documents of 300 tokens at rows of 64: rows drawn from document starts only read positions 0-63 of each
    and never the other 236 (the probe's measure: 21% of the tokens), while the data budget counted all 15,000 as
    read. Drawn by windows, nearly every (document, position) is read in 3.4 passes, and the tail about as often as
    the head."""
    recipe = _recipe(tmp_path, [300] * 50, steps=100)
    _, shards = load_shards(recipe.data.manifest)
    sampler = StageSampler(recipe, shards)
    reads = np.zeros((50, 300), dtype=np.int64)
    for step in range(sampler.total_steps):
        doc, pos = _doc_pos(sampler.batch(step).ids_BT.numpy().ravel())
        np.add.at(reads, (doc, pos), 1)
    assert (reads > 0).mean() >= 0.9, (reads > 0).mean()
    assert reads[:, SEQ:].mean() >= 0.6 * reads[:, :SEQ].mean(), (reads[:, SEQ:].mean(), reads[:, :SEQ].mean())
    # the budget's passes are what the rows read: the tokens drawn over the tokens they can reach (all held)
    (row,) = data_budget(recipe, shards).rows
    assert row.available == reads.size and row.passes == reads.sum() / reads.size


def _segments(ids_BT):
    """True where a position starts a new stretch of one document (not the next token of the one before it)."""
    doc, pos = _doc_pos(ids_BT)
    new = np.ones_like(ids_BT, dtype=bool)
    new[:, 1:] = (doc[:, 1:] != doc[:, :-1]) | (pos[:, 1:] != pos[:, :-1] + 1)
    return new


def test_a_row_starting_inside_a_document_separates_documents_as_at_a_start(tmp_path):
    """Documents shorter than a row, one row long, one token longer, and several rows long (the last window short),
    one shard that rows wrap around: each row starts at a window of its document (position a multiple of 64), its
    document ids change exactly where the text does, the labels (next-token and MTP) never cross, the mask lets a
    token see the earlier tokens of its own stretch only, and the context-parallel chunks get the whole rows'
    positions and mask."""
    lengths = [150, 10, 40, 300, 7, 64, 65, 3]
    recipe = _recipe(tmp_path, lengths, steps=40)
    _, shards = load_shards(recipe.data.manifest)
    sampler = StageSampler(recipe, shards)
    mid = 0
    for step in range(sampler.total_steps):
        ids, docs, labels, _, _ = sampler.batch(step)
        n = ids.numpy()
        doc, pos = _doc_pos(n)
        assert (pos[:, 0] % SEQ == 0).all(), pos[:, 0]
        mid += int((pos[:, 0] > 0).sum())
        new = _segments(n)
        assert np.array_equal(new[:, 1:], (docs[:, 1:] != docs[:, :-1]).numpy())
        expect = np.where(new[:, 1:], IGNORE_INDEX, n[:, 1:])
        assert np.array_equal(labels[:, :-1].numpy(), expect) and (labels[:, -1] == IGNORE_INDEX).all()
        crosses = new[:, 1:-1] | new[:, 2:]
        assert np.array_equal(mtp_labels(ids, docs, 1)[:, :-1].numpy(), np.where(crosses, IGNORE_INDEX, n[:, 2:]))
        seg = np.cumsum(new, axis=1)  # which stretch each position is in
        causal = np.tril(np.ones((SEQ, SEQ), dtype=bool))
        mask = (seg[:, :, None] == seg[:, None, :]) & causal
        assert torch.equal(DocumentMask(docs).dense()[:, 0], torch.from_numpy(mask))
        first = np.maximum.accumulate(np.where(new, np.arange(SEQ), 0), axis=1)
        positions = np.arange(SEQ) - first  # RoPE's positions restart with each stretch (relative: a window's
        for rank in range(2):              # offset in its document changes no attention score)
            shard = shard_sequence(ids, docs, labels, rank, 2)
            chunk = slice(rank * SEQ // 2, (rank + 1) * SEQ // 2)
            assert np.array_equal(shard.position_ids_Bt.numpy(), positions[:, chunk])
            assert torch.equal(shard.mask.dense()[:, 0], torch.from_numpy(mask[:, chunk]))
    assert mid > 0  # rows did start inside documents (150, 300 and 65 tokens long)


def test_windows_keep_held_out_documents_apart_and_rows_a_function_of_the_step(tmp_path):
    """With documents held out, the training side is two views of the shard (the second starting inside its
    files): rows from both start at windows of their documents and never read a held-out one. A new sampler (a
    resume) and a data-parallel rank's subset draw the same rows."""
    lengths = [150, 10, 40, 300, 7, 64, 65, 3] * 5
    recipe = _recipe(tmp_path, lengths, steps=40, held_out=0.2)
    train, held = split_validation(load_shards(recipe.data.manifest)[1], 0.2, recipe.data.seed)
    assert len(train) == 2 and int(train[1].offsets[0]) > 0
    held_docs = set(_doc_pos(np.concatenate([s.tokens for s in held]).astype(np.int64))[0].tolist())
    sampler, again = StageSampler(recipe, train), StageSampler(recipe, train)
    read = set()
    for step in range(sampler.total_steps):
        ids = sampler.batch(step).ids_BT
        doc, pos = _doc_pos(ids.numpy())
        assert (pos[:, 0] % SEQ == 0).all(), pos[:, 0]
        read |= set(doc.ravel().tolist())
        assert torch.equal(again.batch(step).ids_BT, ids)
        assert torch.equal(again.batch(step, range(1, 8, 2)).ids_BT, ids[1::2])
    first_view = set(_doc_pos(np.asarray(train[0].tokens).astype(np.int64))[0].tolist())
    assert not read & held_docs and read & first_view and read - first_view  # both views read, nothing held out
    val = StageSampler(recipe, held, missing_ok=True).draw(0, SEQ, range(8), (recipe.data.seed, 1, 0))
    assert set(_doc_pos(val.ids_BT.numpy())[0].ravel().tolist()) <= held_docs


def test_a_checkpoint_from_before_windows_resumes_with_a_warning(tmp_path):
    """A sampler state saved before rows started at windows has no "rows": its resume goes on with the new draw, so
    its batches differ from what the code that wrote it would have drawn. That was silent ("resume is exact");
    now it is said. Today's state resumes without a word."""
    import warnings

    recipe = _recipe(tmp_path, [150, 10], steps=4)
    _, shards = load_shards(recipe.data.manifest)
    sampler = StageSampler(recipe, shards)
    state = sampler.state_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sampler.load_state_dict(state)
    old = {k: v for k, v in state.items() if k != "rows"}
    with pytest.warns(UserWarning, match="before rows started at windows of long documents"):
        sampler.load_state_dict(old)
