"""`axk1 data run` with more tasks than input files (axk1/data/task_count.py): `run.tasks = 2000` over one 40-line
file ran > 150 s and wrote 40,000 files of logs, silently; the stages now run one task a file, with the same outputs
and a note saying so."""

import gzip
import json
import random

from axk1.cli import main
from axk1.data.textgen import english_document


def _pipeline(tmp_path, out: str, tasks: int):
    src = tmp_path / "src"
    if not src.exists():
        src.mkdir()
        rng = random.Random(3)
        for name in ("a", "b"):
            with open(src / f"{name}.jsonl", "w", encoding="utf-8") as f:
                for i in range(12):
                    f.write(json.dumps({"id": f"{name}{i}", "text": english_document(rng, 2, 5)}) + "\n")
    path = tmp_path / f"{out}.toml"
    path.write_text(f'[run]\noutput_dir = "{out}"\ntasks = {tasks}\nworkers = 1\nstages = ["extract", "dedup"]\n'
                    '[[sources]]\ntype = "jsonl"\npath = "src"\nname = "web"\n'
                    '[filters.quality]\nword_tokenizer = "regex"\nmin_words = 10\nmin_stop_words = 0\n')
    return path


def _contents(folder):
    return {p.name: gzip.decompress(p.read_bytes()) for p in sorted(folder.glob("*.jsonl.gz"))}


def test_tasks_past_the_input_files_are_not_run_and_the_outputs_are_the_same(tmp_path, capsys):
    assert main(["data", "run", str(_pipeline(tmp_path, "many", 300))]) == 0
    printed = capsys.readouterr().out
    assert ("note: run.tasks = 300 but the run reads 2 input files: a task reads whole files, so each stage runs 2 "
            "tasks (the other 298 would read nothing and write only their logs)") in printed, printed
    assert "in 24 = kept " in printed and "in 24 = kept 0 " not in printed
    many = tmp_path / "many"
    assert sorted(p.name for p in (many / "logs" / "extract" / "completions").iterdir()) == ["00000", "00001"]
    assert json.loads((many / "settings.json").read_text())["run.tasks"] == 300  # as written
    assert main(["data", "run", str(_pipeline(tmp_path, "two", 2))]) == 0
    assert "note:" not in capsys.readouterr().out
    assert _contents(many / "clean") == _contents(tmp_path / "two" / "clean") != {}
