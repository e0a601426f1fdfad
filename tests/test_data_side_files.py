"""A synth output folder given to the data pipeline as a corpus: `axk1 data run` with a `jsonl` source on it read
synth's side files as documents (`s.rejected.jsonl`: samples synth had rejected as copies of AIME 2025 problems
reached clean/; `s.summary.json` failed line by line), where `stats` and `contamination` skipped them. One
definition (axk1/text/side_files.py) now serves the writer and every reader, and the run names each file passed
over, with why."""

import json

import pytest

from axk1.data.sources import SourceConfig, SourceReader
from axk1.data.stats import account, data_files, summary_text
from axk1.synth.pipeline import output_paths

KEPT = [{"id": "k1", "text": "A kept sample: the passage explains how rain forms from cooled water vapour."},
        {"id": "k2", "text": "채택된 표본입니다. 비는 수증기가 식어서 생깁니다."}]
# a sample synth rejected: a copy of a contest problem (the decontamination check's reason)
REJECTED = {"id": "r1", "text": "Find the remainder when $7^{2025}$ is divided by $1000$. The answer is 807.",
            "reason": "contaminated: aime25 row t-5"}


def _synth_folder(tmp_path):
    """A folder as `axk1 data synth -o folder/s.jsonl` leaves it, every file named by synth's own writer."""
    folder = tmp_path / "synth"
    folder.mkdir()
    paths = output_paths(folder / "s.jsonl")
    paths["kept"].write_text("".join(json.dumps(r) + "\n" for r in KEPT))
    paths["rejected"].write_text(json.dumps(REJECTED) + "\n")
    paths["failed"].write_text(json.dumps({"doc_id": "d9", "reason": "InternalServerError: 500"}) + "\n")
    paths["excluded"].write_text("")
    paths["summary"].write_text(json.dumps({"documents": 4, "kept": 2, "rejected": 1, "failed": 1}, indent=2))
    paths["cache"].write_bytes(b"SQLite format 3\x00\xff\xfe")
    for path in paths.values():  # any side file synth names besides these (s.latest.failed.jsonl)
        if not path.exists():
            path.write_text(json.dumps({"text": "a row synth wrote beside its samples", "reason": "x"}) + "\n")
    return folder, paths


@pytest.mark.parametrize("kind", ["jsonl", "text"])
def test_a_synth_folder_as_a_source_is_read_as_its_kept_samples_and_the_rest_is_named(tmp_path, kind):
    folder, paths = _synth_folder(tmp_path)
    out = tmp_path / "out"
    reader = SourceReader([SourceConfig(type=kind, path=str(folder), name="synth")], counts_folder=str(out / "counts"))
    docs = [d for rank in (0, 1) for d in reader.run(rank=rank, world_size=2)]
    assert {d.metadata["path"] for d in docs} == {"s.jsonl"}
    assert not any("7^{2025}" in d.text for d in docs)  # the rejected copy of a contest problem stays out
    acc = account(out)
    assert acc.inputs == (2 if kind == "jsonl" else 1)  # a text source reads s.jsonl as one document
    side = {p.name for name, p in paths.items() if name != "kept"}
    assert acc.side_files == len(side) >= 5  # named once, not once a task
    assert {line.split(":")[0] for line in acc.side_examples} == {f"synth/{name}" for name in side}
    text = summary_text(acc)
    assert f"not read: {len(side)} side file(s)" in text
    assert "synth/s.rejected.jsonl: a synth side file: samples synth rejected" in text
    assert "synth/s.summary.json: a synth side file: synth's run summary" in text


def test_stats_and_the_run_skip_the_same_files_and_say_why(tmp_path):
    """`stats`, `tokenizer train` and `contamination` (stats.data_files) pass over what a run's source does, each
    file named with its reason: the summary was passed over in silence."""
    folder, paths = _synth_folder(tmp_path)
    files, skipped = data_files(folder)
    assert files == [paths["kept"]]
    reasons = {s.split(" (")[0]: s for s in skipped}
    assert set(reasons) == {str(p) for name, p in paths.items() if name != "kept"}
    assert "synth's run summary" in reasons[str(paths["summary"])]
    assert "samples synth rejected" in reasons[str(paths["rejected"])]


def test_a_side_file_given_by_its_own_path_is_read(tmp_path):
    """Only a folder's side files are passed over: a file named as the source is what was asked for."""
    folder, paths = _synth_folder(tmp_path)
    reader = SourceReader([SourceConfig(type="jsonl", path=str(paths["rejected"]), name="rejected")])
    assert [d.id for d in reader.run()] == ["r1"]
