"""datatrove's local executor, stopping with a clear error when one of its pool's worker processes dies.

datatrove runs a stage's tasks with `pool.imap_unordered` on a `multiprocess` Pool. When a worker is killed (the
out-of-memory killer, a `kill -9`), the Pool starts a new worker in its place but the task it held never returns a
result, so the run waited for ever: the log stopped at "3/4 tasks completed", the main process idle, and the folder's
lock held, so a relaunch was refused. Here the results are waited for a second at a time, and between waits every
worker the pool has had is looked at: one that ended with a non-zero exit code (a signal's, -9 for SIGKILL) stops the
stage with WorkerDied, naming the worker and what to do. The completion markers are datatrove's own, so a relaunch
skips the tasks that finished and runs the rest, as after any other failure.
"""

from __future__ import annotations

import os
import signal
from functools import partial

from datatrove.executor import LocalPipelineExecutor
from datatrove.utils.logging import logger
from datatrove.utils.stats import PipelineStats

from axk1.data.die_with_parent import die_with_launcher

POLL_S = 1.0  # how often the pool's workers are looked at while a stage runs


class WorkerDied(ChildProcessError):
    """A worker process of a stage's pool ended while the stage ran. An OSError (ChildProcessError), so the command
    line prints it as an error line, not a traceback."""


def death_cause(exitcode: int) -> str:
    """`was killed by SIGKILL (perhaps the out-of-memory killer...)` or `exited with code 3`, for an exit code."""
    if exitcode >= 0:
        return f"exited with code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    oom = " (perhaps the out-of-memory killer: see `dmesg`, or run with fewer --workers)" if name == "SIGKILL" else ""
    return f"was killed by {name}{oom}"


class WatchedLocalExecutor(LocalPipelineExecutor):
    """LocalPipelineExecutor whose pool's workers are watched (module docstring); everything else is datatrove's.
    `stage` names the stage in the error. A `depends` chain is not offered: the local run runs stages in order."""

    def __init__(self, *args, stage: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.stage = stage

    def run(self):
        if self.workers == 1:  # the tasks run in this process: nothing to watch
            return super().run()
        self._launched = True
        ranks = range(self.local_rank_offset, self.local_rank_offset + self.local_tasks)
        if all(map(self.is_rank_completed, ranks)):
            return None
        import multiprocess

        self.save_executor_as_json()
        mg = multiprocess.Manager()
        try:
            ranks_q = mg.Queue()
            for i in range(self.workers):
                ranks_q.put(i)
            ranks_to_run = self.get_incomplete_ranks(ranks)
            completed = mg.Value("i", self.local_tasks - len(ranks_to_run))
            task = partial(self._launch_run_for_rank, ranks_q=ranks_q, completed=completed,
                           completed_lock=mg.Lock())
            # the workers end with this process (die_with_parent.py): under forkserver they are not its children
            with multiprocess.get_context(self.start_method).Pool(self.workers, initializer=die_with_launcher,
                                                                  initargs=(os.getpid(),)) as pool:
                stats = self._watched(pool, task, ranks_to_run)
            stats = sum(stats, start=PipelineStats())
            with self.logging_dir.open("stats.json", "wt") as statsfile:
                stats.save_to_disk(statsfile)
            logger.success(stats.get_repr(f"All {self.local_tasks} tasks"))
            return stats
        finally:
            mg.shutdown()

    def _watched(self, pool, task, ranks: list[int]) -> list:
        import multiprocess

        workers = {p.pid: p for p in pool._pool}  # every worker the pool has had: a replaced one leaves its list
        results = pool.imap_unordered(task, ranks)
        stats = []
        while len(stats) < len(ranks):
            try:
                stats.append(results.next(timeout=POLL_S))
            except multiprocess.TimeoutError:
                pass
            workers.update((p.pid, p) for p in pool._pool)
            dead = [p for p in workers.values() if p.exitcode not in (None, 0)]
            if dead:
                raise self._died(dead[0])
        return stats

    def _died(self, worker) -> WorkerDied:
        done = sum(map(self.is_rank_completed, range(self.world_size)))
        return WorkerDied(f"a worker process (pid {worker.pid}) of the pipeline's stage '{self.stage}' "
                          f"{death_cause(worker.exitcode)}; the stage was stopped with {done} of {self.world_size} "
                          "tasks done. Run the same command again: it skips the finished tasks and runs the rest")
