"""The metrics log read back: a resume after a kill mid-row, a damaged file named with its line, a skipped step's
non-finite values written as strict JSON, and an older file with bare NaN still read."""

import json
import math
import os

import pytest

from axk1.json_text import read_metrics_rows
from axk1.train.metrics import JsonlLog, plot_run
from tests.train_helpers import strict_json_rows


def _rows(n):
    return "".join(json.dumps({"step": s, "loss": 5.0 - s / 10}) + "\n" for s in range(1, n + 1))


def test_a_resume_after_a_kill_mid_row_keeps_the_rows_to_the_checkpoint(tmp_path):
    """A run killed while appending its row leaves the last line in part (no newline): the resume drops it (its
    step is redone) and keeps every row up to the checkpoint, instead of stopping on a JSON error."""
    path = tmp_path / "metrics.jsonl"
    path.write_text(_rows(6) + '{"step": 7, "lo')
    log = JsonlLog(path, resume_step=4)
    assert [r["step"] for r in read_metrics_rows(path)] == [1, 2, 3, 4]
    log.write({"step": 5, "loss": 1.0})
    assert [r["step"] for r in read_metrics_rows(path)] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("text, line", [
    (_rows(2) + "not json\n" + _rows(1), 3),      # damage inside the file is not a torn last row
    (_rows(3) + "[1, 2]", 4),                     # a line that parses, but not as a row
])
def test_a_damaged_metrics_file_is_named_with_its_line(tmp_path, text, line):
    path = tmp_path / "metrics.jsonl"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"metrics.jsonl, line {line}: not a metrics row"):
        JsonlLog(path, resume_step=1)


def _skipped_row(step):  # as the Trainer logs a bad step: NaN loss, infinite gradient, NaN in a nested field
    return {"step": step, "stage": "s1", "loss": math.nan, "grad_norm": math.inf, "lr": 1e-3, "mtp_loss": -math.inf,
            "domains": {"web": 3}, "per_layer": [0.5, math.nan], "skipped": "non-finite loss or gradient"}


def test_a_skipped_steps_row_is_strict_json_and_reads_back_as_logged(tmp_path):
    """Python's json wrote a skipped step's row with bare NaN and Infinity: orjson, jq and JSON.parse refused the
    whole file. Now those values are null, the row says why (skipped) and what they were (non_finite), and
    read_metrics_rows gives the floats back."""
    path = tmp_path / "metrics.jsonl"
    log = JsonlLog(path)
    log.write({"step": 1, "stage": "s1", "loss": 5.0, "grad_norm": 1.5})
    log.write(_skipped_row(2))
    first, skipped = strict_json_rows(path)
    assert first == {"step": 1, "stage": "s1", "loss": 5.0, "grad_norm": 1.5}
    assert skipped["loss"] is skipped["grad_norm"] is skipped["mtp_loss"] is skipped["per_layer"][1] is None
    assert skipped["skipped"] == "non-finite loss or gradient"
    assert skipped["non_finite"] == {"loss": "nan", "grad_norm": "inf", "mtp_loss": "-inf", "per_layer": {"1": "nan"}}
    row = read_metrics_rows(path)[1]
    assert math.isnan(row["loss"]) and row["grad_norm"] == math.inf and row["mtp_loss"] == -math.inf
    assert row["per_layer"][0] == 0.5 and math.isnan(row["per_layer"][1]) and "non_finite" not in row


def test_an_older_file_with_bare_nan_still_reads_plots_and_resumes_to_strict_json(tmp_path):
    """A metrics file written before this change holds bare NaN: it is still read, plotted, and a resume rewrites
    the rows it keeps as strict JSON."""
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [{"step": 1, "stage": "s1", "loss": 5.0}, _skipped_row(2),
                                                           {"step": 3, "stage": "s1", "loss": 4.0}]))
    assert "NaN" in path.read_text()  # as the old writer left it
    rows = read_metrics_rows(path)
    assert math.isnan(rows[1]["loss"]) and rows[2]["loss"] == 4.0
    assert [p.name for p in plot_run(rows, tmp_path)] == ["loss.png"]
    JsonlLog(path, resume_step=2)
    assert [r["step"] for r in strict_json_rows(path)] == [1, 2]
    assert math.isnan(read_metrics_rows(path)[1]["loss"])


def test_a_row_with_a_non_finite_field_of_its_own_is_not_misread(tmp_path):
    """A "non_finite" field that does not fit its row (not written by strict_json) is left as it is."""
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 1, "loss": 2.0, "non_finite": {"loss": "nan", "x": "inf"}}) + "\n")
    assert read_metrics_rows(path) == [{"step": 1, "loss": 2.0, "non_finite": {"loss": "nan", "x": "inf"}}]


def _tensorboard_threads_done() -> None:
    """Waits for tensorboard's writer threads to end (one whose write failed ends after its hook has run)."""
    import threading

    for thread in threading.enumerate():
        if type(thread).__module__.startswith("tensorboard."):
            thread.join(timeout=60)


@pytest.mark.parametrize("fails_from, said", [
    # the folder's first write (a folder the run may not write): the line names it and what to do
    (0, "axk1 train: error: the TensorBoard folder {tb} cannot be written (Permission denied): make it writable "
        "(free space there if the disk is full), or set [logging] tensorboard to another folder, or to \"\" for no "
        "TensorBoard log\n"),
    # a disk filling mid-run: the line was good, but tensorboard's thread printed its traceback first
    (4, "axk1 train: error: No space left on device: writing metrics to {tb} failed at step "),
])
def test_a_tensorboard_folder_that_cannot_be_written_is_one_line_without_a_traceback(tmp_path, monkeypatch, capfd,
                                                                                     fails_from, said):
    """An unwritable TensorBoard folder printed ~25 lines of traceback from tensorboard's writer thread, then an
    error with the file as bytes (b'...') and no advice."""
    import errno
    import threading

    from tensorboard.summary.writer.record_writer import RecordWriter

    from axk1.cli import main
    from tests.train_helpers import write_recipe

    tb = tmp_path / "run" / "tb"
    calls = []

    def write(self, data):  # as the writer thread's file fails: its path as bytes, as tensorboard's gfile has it
        calls.append(1)
        if len(calls) > fails_from:
            code = errno.EACCES if fails_from == 0 else errno.ENOSPC
            raise OSError(code, os.strerror(code), os.fsencode(tb / "events.out.tfevents.1"))

    monkeypatch.setattr(RecordWriter, "write", write)
    # a thread's error printed as the interpreter prints it (pytest's own hook would take it as a warning)
    monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)
    recipe = write_recipe(tmp_path, sections={"logging": 'tensorboard = "tb"'})
    code = main(["train", str(recipe), "--max-steps", "6", "--out", str(tmp_path / "run")])
    _tensorboard_threads_done()
    err = capfd.readouterr().err
    assert code == 2 and err.startswith(said.format(tb=tb)), err
    assert "Traceback" not in err and "Exception in thread" not in err and "b'" not in err, err


def test_a_tensorboard_folder_under_a_file_is_refused_before_the_run_starts(tmp_path, capsys):
    """Writability is checked by writing, before the run builds anything."""
    from axk1.cli import main
    from tests.train_helpers import write_recipe

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "blocker").write_text("a file")
    recipe = write_recipe(tmp_path, sections={"logging": 'tensorboard = "blocker/tb"'})
    assert main(["train", str(recipe), "--max-steps", "2", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"axk1 train: error: the TensorBoard folder {tmp_path}/run/blocker/tb cannot be written ("), err
    assert "Traceback" not in err and "b'" not in err, err
    # and the run leaves --out as it found it: it had written metrics.jsonl first, which kept its checkpoints
    # folder and lock files there too
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["blocker"]
    outside = write_recipe(tmp_path, sections={"logging": f'tensorboard = "{tmp_path}/run/blocker/tb"'})
    assert main(["train", str(outside), "--max-steps", "2", "--out", str(tmp_path / "new" / "run")]) == 2
    assert "cannot be written" in capsys.readouterr().err and not (tmp_path / "new").exists()
