"""The run lock's folders and advice (axk1/checkpoint/run_lock.py): a run folder another run's failure removes
between this run making it and opening its lock file in it is made again, and each caller's refusal advice names
what to change in words that read right."""

import errno
import os
from pathlib import Path

import pytest

from axk1.checkpoint.run_lock import LOCK_FILE, RunLock, model_folder_lock, run_locks
from axk1.data.cli import data_run_lock
from axk1.synth.pipeline import synth_locks


def _removed_after_mkdir(monkeypatch, folder: Path, times: int = 1) -> None:
    """Each of the first `times` makings of `folder` is followed by another run's failure taking back the folders it
    had made (`folder` and its parent, empty), before this run opens its lock file there."""
    real = Path.mkdir
    left = [times]

    def mkdir(self, *args, **kwargs):
        real(self, *args, **kwargs)
        if self == folder and left[0]:
            left[0] -= 1
            folder.rmdir()
            folder.parent.rmdir()

    monkeypatch.setattr(Path, "mkdir", mkdir)


def test_a_run_folder_removed_between_its_mkdir_and_the_lock_file_is_made_again(tmp_path, monkeypatch):
    """Run A made new/out and failed while run B, which found the folder there, was between its mkdir and its open:
    A removed its lock file and the emptied folders, and B said "cannot write to ... (No such file or directory):
    give this run another --out folder" of a folder it could write to."""
    folder = tmp_path / "new" / "out"
    folder.mkdir(parents=True)  # run A's
    _removed_after_mkdir(monkeypatch, folder)
    with RunLock(folder) as lock:
        assert (folder / LOCK_FILE).read_text().split()[0] == str(os.getpid())
        assert lock._linked()
    # the folders this run made again are its own: its failure takes them back
    folder = tmp_path / "new2" / "out"
    folder.mkdir(parents=True)
    _removed_after_mkdir(monkeypatch, folder)
    with pytest.raises(RuntimeError):
        with RunLock(folder):
            raise RuntimeError("the run failed")
    assert not (tmp_path / "new2").exists()


def test_a_run_folder_removed_each_time_is_said_after_a_few_tries(tmp_path, monkeypatch):
    folder = tmp_path / "new" / "out"
    _removed_after_mkdir(monkeypatch, folder, times=100)
    with pytest.raises(PermissionError, match=r"No such file or directory\): give this run another --out folder"):
        RunLock(folder)
    assert list(tmp_path.iterdir()) == []


def _locks(tmp_path: Path, under: Path) -> dict:
    """Each caller's run lock on a place under `under`, by the words its advice must use (its other place, where it
    has one, named to be locked after that one)."""
    return {
        "another --out folder, one you can write to": lambda: run_locks(under / "out", tmp_path / "zz-ck", 0),
        "another checkpoints folder ([checkpointing] dir), one you can write to":
            lambda: run_locks(tmp_path / "zz-out", under / "ck", 0),
        "another OUT folder, one you can write to": lambda: model_folder_lock(under / "m", "OUT"),
        "another --run.output_dir folder, one you can write to": lambda: data_run_lock(under / "run"),
        "another -o file in a folder you can write to": lambda: synth_locks(under / "o.jsonl", tmp_path / "zz-c.sqlite"),
        "another --cache file in a folder you can write to":
            lambda: synth_locks(tmp_path / "zz-o.jsonl", under / "c.sqlite"),
    }


@pytest.mark.parametrize("advice", list(_locks(Path("t"), Path("u"))))
def test_each_callers_advice_for_a_place_it_cannot_write_reads_right(tmp_path, advice):
    """It said "give this run another [checkpointing] dir folder" and, for `axk1 data synth`'s file, "another -o
    file, one you can write to", of a file that did not exist yet in a folder that could not be written."""
    (tmp_path / "afile").write_text("")
    with pytest.raises(PermissionError) as refused:
        _locks(tmp_path, tmp_path / "afile")[advice]()
    assert refused.value.strerror.endswith(f"): give this run {advice}, or move away the file "
                                           f"{tmp_path / 'afile'} that stands in its path"), refused.value


@pytest.mark.parametrize("advice", list(_locks(Path("t"), Path("u"))))
def test_each_callers_advice_for_a_full_disk_reads_right(tmp_path, monkeypatch, advice):
    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    on_another_disk = "a " + advice.split(" ", 1)[1].split(",")[0].replace(" in a folder you can write to", "")
    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(OSError) as refused:
        _locks(tmp_path, tmp_path / "new")[advice]()
    assert str(refused.value).endswith(f"free space on it, or give this run {on_another_disk} on another disk"), \
        refused.value
    assert not (tmp_path / "new").exists()
