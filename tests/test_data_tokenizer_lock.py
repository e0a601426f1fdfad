"""Two `axk1 data tokenizer train` into one -o: the second is refused while the first trains (the folder's run lock),
and one that starts after the first looked but before it wrote its tokenizer.json does not replace it unasked."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import axk1
from axk1.checkpoint.run_lock import LOCK_FILE
from axk1.cli import main

REPO = str(Path(axk1.__file__).resolve().parents[1])  # the axk1 under test, for the other process

# A tokenizer training that says "training" once it has begun, then waits for a line on stdin before it trains.
_PAUSED_TRAINING = textwrap.dedent("""
    import sys
    from axk1.data import tokenizer
    from axk1.cli import main

    real = tokenizer.train_tokenizer

    def paused(*args, **kwargs):
        print("training", flush=True)
        sys.stdin.readline()
        return real(*args, **kwargs)

    tokenizer.train_tokenizer = paused
    sys.exit(main(["data", "tokenizer", "train", *sys.argv[1:]]))
""")


def _texts(path: Path) -> Path:
    path.write_text("".join(json.dumps({"text": f"hello world number {i} and some more words"}) + "\n"
                            for i in range(50)))
    return path


def test_a_second_training_into_a_folder_in_training_is_refused(tmp_path, capsys):
    """Both used to report "trained", the first's tokenizer.json silently replaced by the second's (their check for
    an existing tokenizer.json ran at the start, before either had written one)."""
    data, out = _texts(tmp_path / "d.jsonl"), tmp_path / "tok"
    args = [str(data), "-o", str(out), "--vocab-size", "300"]
    first = subprocess.Popen([sys.executable, "-c", _PAUSED_TRAINING, *args], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=REPO))
    try:
        assert first.stdout.readline().strip() == "training", first.stderr.read()
        capsys.readouterr()
        assert main(["data", "tokenizer", "train", *args]) == 2
        said = capsys.readouterr()
        error = said.err.strip()
        assert "trained" not in said.out and "\n" not in error
        assert f"{out} is in use by another tokenizer training (process {first.pid} " in error
        assert not (out / "tokenizer.json").exists()  # the refused one wrote nothing
        first.stdin.write("go on\n")
        first.stdin.flush()
        stdout, stderr = first.communicate(timeout=300)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 0, stderr
    assert stdout.startswith(f"trained {out / 'tokenizer.json'}")


def test_a_tokenizer_written_after_the_first_look_is_not_replaced_without_force(tmp_path, capsys, monkeypatch):
    """The run that held the folder may end between this one's first look (no tokenizer.json yet) and its taking
    the lock: the look is made again under the lock. A refused training keeps no lock file of its own."""
    import axk1.output_folder as output_folder

    data, out = _texts(tmp_path / "d.jsonl"), tmp_path / "tok"
    made_folder = output_folder.writable_folder

    def another_run_ends_meanwhile(folder, flag):
        made = made_folder(folder, flag)
        (Path(folder) / "tokenizer.json").write_text("{}")  # what the run that ended wrote
        return made

    monkeypatch.setattr(output_folder, "writable_folder", another_run_ends_meanwhile)
    assert main(["data", "tokenizer", "train", str(data), "-o", str(out), "--vocab-size", "300"]) == 2
    assert "tokenizer.json exists" in capsys.readouterr().err
    assert (out / "tokenizer.json").read_text() == "{}" and not (out / LOCK_FILE).exists()
