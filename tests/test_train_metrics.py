"""The metrics log read back: a resume after a kill mid-row, and a damaged file named with its line."""

import json

import pytest

from axk1.train.metrics import JsonlLog, read_jsonl


def _rows(n):
    return "".join(json.dumps({"step": s, "loss": 5.0 - s / 10}) + "\n" for s in range(1, n + 1))


def test_a_resume_after_a_kill_mid_row_keeps_the_rows_to_the_checkpoint(tmp_path):
    """A run killed while appending its row leaves the last line in part (no newline): the resume drops it (its
    step is redone) and keeps every row up to the checkpoint, instead of stopping on a JSON error."""
    path = tmp_path / "metrics.jsonl"
    path.write_text(_rows(6) + '{"step": 7, "lo')
    log = JsonlLog(path, resume_step=4)
    assert [r["step"] for r in read_jsonl(path)] == [1, 2, 3, 4]
    log.write({"step": 5, "loss": 1.0})
    assert [r["step"] for r in read_jsonl(path)] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("text, line", [
    (_rows(2) + "not json\n" + _rows(1), 3),      # damage inside the file is not a torn last row
    (_rows(3) + "[1, 2]", 4),                     # a line that parses, but not as a row
])
def test_a_damaged_metrics_file_is_named_with_its_line(tmp_path, text, line):
    path = tmp_path / "metrics.jsonl"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"metrics.jsonl, line {line}: not a metrics row"):
        JsonlLog(path, resume_step=1)
