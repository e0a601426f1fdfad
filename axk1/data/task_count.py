"""How many tasks a local data run's stages take: run.tasks, or the number of files the run reads where that is
fewer. A task reads whole files (task r takes files r, r + tasks, ...: axk1/data/sources.py, and datatrove's readers
of the stages after it), so a task past the number of files reads nothing and only writes its logs, stats and
completion marker: `run.tasks = 2000` over one 40-line file ran > 150 s and wrote 40,000 files of logs. With fewer
tasks each file is still read by the task of its own index, so the outputs are the same files with the same
contents; settings.json keeps run.tasks as written, and a relaunch over the same inputs takes the same count.
"""

from __future__ import annotations

from pathlib import Path

from axk1.data.config import PipelineConfig
from axk1.data.source_files import list_files


def count_input_files(cfg: PipelineConfig, first_input: Path | None) -> int | None:
    """Files the run's first stage reads: the sources' (extract), else those in `first_input` (the folder an
    earlier run's stage wrote); None where they are not counted here (a cluster's nodes may see other paths)."""
    if cfg.run.executor != "local":
        return None
    if "extract" in cfg.run.stages:
        return sum(len(list_files(spec, skip=str(cfg.out))) for spec in cfg.sources)
    if first_input is not None and first_input.is_dir():
        return len(list(first_input.glob("*.jsonl.gz")))
    return None


def stage_tasks(cfg: PipelineConfig, first_input: Path | None) -> int:
    """run.tasks, lowered to the run's input files (at least 1) with a note saying so."""
    files = count_input_files(cfg, first_input)
    tasks = cfg.run.tasks
    if files is None or files >= tasks:
        return tasks
    used = max(files, 1)
    print(f"note: run.tasks = {tasks:,} but the run reads {files:,} input file{'s' if files != 1 else ''}: a task "
          f"reads whole files, so each stage runs {used:,} task{'s' if used != 1 else ''} (the other {tasks - used:,} "
          "would read nothing and write only their logs); the outputs are the same", flush=True)
    return used
